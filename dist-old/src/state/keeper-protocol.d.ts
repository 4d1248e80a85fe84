import type { StateVersion, VersionMeta } from './version-format.js';
/** Program (main thread) <-> keeper thread messages. Payloads are SharedArrayBuffer views: shared, not copied. */
export interface KeeperInit {
    type: 'init';
    job: string;
    secret: string;
    node: number;
    store: string;
    stateDir: string;
    keep: number;
    /** Write every Nth version to disk. */
    persistEvery: number;
    /** Push every Nth version to the buddy's memory (the same versions on every node). */
    replicateEvery: number;
}
export type ToKeeper = KeeperInit
/** Which slot this node holds now, and whose keeper receives its replicas. */
 | {
    type: 'topology';
    slot: number;
    buddy: number | undefined;
}
/** A new version; the keeper fills in the checksums. */
 | {
    type: 'commit';
    meta: VersionMeta;
    data: Uint8Array[];
} | {
    type: 'list';
    id: number;
    slot: number;
} | {
    type: 'fetch';
    id: number;
    slot: number;
    version: number;
}
/** Forget versions newer than `after` (they belong to a future that was rolled back). */
 | {
    type: 'truncate';
    id: number;
    slot: number;
    after: number;
};
export type FromKeeper = {
    type: 'ready';
    address: string;
} | {
    type: 'reply';
    id: number;
    versions?: {
        version: number;
        step: number;
    }[];
    version?: StateVersion;
    error?: string;
} | {
    type: 'event';
    event: string;
    fields: Record<string, unknown>;
}
/**
 * Snapshot buffers nothing here holds any more, with the version each was committed as: the
 * program may reuse them for later commits, unless it still reads one as its current value.
 */
 | {
    type: 'release';
    items: {
        version: number;
        buffer: Uint8Array;
    }[];
};

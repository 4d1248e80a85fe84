import type { KeyValue, Lease, PutOptions, Store, Watcher, WatchEvent, WatchOptions } from './store.js';
export interface Clock {
    now(): number;
}
/** A clock tests move by hand, so leases expire exactly when the test says. */
export declare class ManualClock implements Clock {
    private t;
    constructor(t?: number);
    now(): number;
    advance(ms: number): void;
}
export interface MemoryStoreOptions {
    clock?: Clock;
    /** Events kept for `watch({ fromRevision })` replay. */
    historyLimit?: number;
    /** Expire leases from a timer (default true). With a ManualClock, turn it off and call tick(). */
    autoExpire?: boolean;
}
/**
 * The whole store in one process. Every write or delete takes the next store-wide revision and
 * appends exactly one event to the history, so history[i] has revision `compacted + 1 + i`.
 */
export declare class MemoryStore implements Store {
    private readonly clock;
    private readonly historyLimit;
    private readonly autoExpire;
    private readonly kvs;
    private readonly leases;
    private readonly watchers;
    private history;
    private revision;
    /** Newest revision dropped from the history. */
    private compacted;
    private nextLeaseId;
    /** No lease expires before this; lets most calls skip the scan. */
    private nextExpiry;
    private timer;
    private timerAt;
    private closed;
    constructor(opts?: MemoryStoreOptions);
    get(key: string): Promise<KeyValue | undefined>;
    list(prefix: string): Promise<{
        kvs: KeyValue[];
        revision: number;
    }>;
    put(key: string, value: string, opts?: PutOptions): Promise<number>;
    compareAndSet(key: string, expectedRevision: number, value: string, opts?: PutOptions): Promise<{
        ok: boolean;
        current: KeyValue | undefined;
    }>;
    delete(key: string): Promise<boolean>;
    grantLease(ttlMs: number): Promise<Lease>;
    /** By id, for the TCP server, whose clients hold only the number. */
    keepAliveLease(id: number): Promise<void>;
    revokeLease(id: number): Promise<void>;
    watch(prefix: string, onEvent: (ev: WatchEvent) => void, opts?: WatchOptions): Promise<Watcher>;
    /** Expires every lease whose time has come; tests with a ManualClock call it after advancing. */
    tick(): void;
    close(): Promise<void>;
    /** Every call starts here, so an expired lease is never visible even between timer runs. */
    private begin;
    private write;
    private remove;
    private dropLease;
    private emit;
    /**
     * Deferred, so a callback that writes to the store cannot make other watchers see events out
     * of revision order; microtasks run FIFO, so per-watcher order is kept.
     */
    private deliver;
    private breakWatch;
    private armTimer;
}

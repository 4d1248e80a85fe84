import type { FromKeeper, KeeperInit, ToKeeper } from '../state/keeper-protocol.js';
import { SnapshotPool } from './snapshot-pool.js';
export type JsonValue = null | boolean | number | string | JsonValue[] | {
    [k: string]: JsonValue;
};
export type StateEntry = Float32Array | Float64Array | Int32Array | JsonValue;
/** What the state needs from the job: kept narrow so the selection logic is easy to follow. */
export interface StateHost {
    readonly node: number;
    readonly generation: number;
    readonly rank: number;
    readonly slot: number;
    readonly buddy: number | undefined;
    allreduce<T extends Float64Array | Int32Array>(buf: T, op: 'max' | 'min'): Promise<T>;
    report(event: string, fields: Record<string, unknown>): void;
    resumed(generation: number, stepsRedone: number): void;
}
export type KeeperOptions = Omit<KeeperInit, 'type'>;
type CommitMessage = Extract<ToKeeper, {
    type: 'commit';
}>;
/** The program's side of the keeper thread. */
export declare class Keeper {
    private readonly opts;
    private readonly worker;
    private nextId;
    private readonly pending;
    readonly ready: Promise<void>;
    constructor(opts: KeeperOptions, onEvent: (event: string, fields: Record<string, unknown>) => void);
    /** Where commits take their snapshot buffers, and released ones go back to. */
    readonly buffers: SnapshotPool;
    /**
     * Requests see every version committed so far: a recovery lists and fetches them, and a
     * truncate must not miss one.
     */
    post(m: ToKeeper): void;
    /**
     * A new version. Only every Nth (the ones replicated or persisted) goes to the keeper thread
     * now. The others stay here, the newest K of them, and go to the keeper only if a recovery
     * needs them (every request hands them over first); older ones are reused at once. Handing
     * every commit to the thread woke it once per step, and a woken thread on a busy core cost
     * the program more than half the copy (170 µs per commit, median, 4 MiB steps on 2 cores).
     */
    commit(m: CommitMessage): void;
    /** Versions not handed to the keeper yet, newest last: at most K. */
    private held;
    private readonly soon;
    /** On the next turn of the event loop: by then the program is usually waiting for the network. */
    private postSoon;
    private flushSoon;
    private handOver;
    request(m: {
        type: 'list' | 'fetch' | 'truncate';
        slot: number;
        version?: number;
        after?: number;
    }): Promise<Extract<FromKeeper, {
        type: 'reply';
    }>>;
    terminate(): Promise<number>;
}
/**
 * The program's registered state: typed arrays (restored in place, so references stay valid)
 * and JSON values (replaced in `values`), plus the step. `commit()` copies it into a new version
 * and returns at once; checksums, the state directory and the replica are the keeper's work.
 *
 * A program that writes the next value of an array out of place (`next[i] = f(cur[i])`) can
 * skip that copy: it writes into `draft(name)`, and the commit takes the draft as the version's
 * bytes and makes it the new `values[name]`. That array then belongs to a committed version:
 * the program reads it but never writes it, and writes the next value into the next draft.
 */
export declare class State<T extends Record<string, StateEntry>> {
    readonly values: T;
    private readonly host;
    private readonly keeper;
    step: number;
    /** The last version committed or restored; -1 before the first. */
    version: number;
    /** The furthest step this program has reached, across rollbacks: what a fault costs is measured from it. */
    private furthest;
    private readonly names;
    private readonly drafts;
    /** Entries whose current value is an adopted draft, and the version that owns it. */
    private readonly adopted;
    constructor(values: T, host: StateHost, keeper: Keeper);
    /**
     * An array of the same type and length as `values[name]`, to write this entry's next value
     * into. Until the next `commit()` it is the program's alone (the same one is returned until
     * then); its contents at first are undefined, so write every element. After a rollback,
     * drafts not committed are dropped.
     */
    draft<K extends TypedKeys<T>>(name: K): T[K];
    /**
     * Makes a new version of the state as it is now. Costs one copy of each entry, except those
     * written into a draft: the version takes a draft as it is.
     */
    commit(): number;
    private fresh;
    /**
     * After a membership change (and at the start): agree with every member on the newest version
     * all of them hold or can fetch intact, and restore it. Every member must call it at the same
     * point; `Job.run()` does.
     */
    sync(): Promise<void>;
    private finish;
    private restore;
}
type TypedState = Float32Array | Float64Array | Int32Array;
/** The names of a state's typed-array entries: the ones that can have a draft. */
type TypedKeys<T> = {
    [K in keyof T]: T[K] extends TypedState ? K : never;
}[keyof T] & string;
export {};

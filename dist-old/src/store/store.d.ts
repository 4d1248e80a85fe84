import type { Deadline } from '../util/deadline.js';
/**
 * The job's runtime environment lives in a key-value store. The interface is shaped after what
 * etcd offers (revisions, compare-and-set, leases, prefix watches) so the embedded TCP store and
 * the etcd backend are interchangeable. Values are strings (JSON by convention).
 */
export interface KeyValue {
    key: string;
    value: string;
    /** Store-wide revision of the last write to this key (etcd's mod_revision). */
    modRevision: number;
    /** Lease the key is attached to, 0 if none. */
    lease: number;
}
export type WatchEvent = {
    type: 'put';
    kv: KeyValue;
} | {
    type: 'delete';
    key: string;
    modRevision: number;
};
export interface PutOptions {
    /** Attach the key to a lease: it is deleted when the lease expires or is revoked. */
    lease?: number;
}
export interface Lease {
    readonly id: number;
    readonly ttlMs: number;
    /** Refresh the lease once. Rejects with LeaseExpiredError if it is already gone. */
    keepAlive(): Promise<void>;
    /** Revoke the lease, deleting its keys. Idempotent. */
    revoke(): Promise<void>;
}
export interface Watcher {
    close(): void;
}
export interface WatchOptions {
    /** Deliver events with modRevision >= this (replaying history the store still holds). */
    fromRevision?: number;
    /** Called once if the watch breaks (store gone); no events follow. */
    onError?: (err: Error) => void;
}
export interface Store {
    get(key: string): Promise<KeyValue | undefined>;
    /** All keys starting with `prefix`, in key order, and the store revision they were read at. */
    list(prefix: string): Promise<{
        kvs: KeyValue[];
        revision: number;
    }>;
    /** Unconditional write. Returns the new revision. */
    put(key: string, value: string, opts?: PutOptions): Promise<number>;
    /**
     * Write only if the key's modRevision equals `expectedRevision` (0 means "the key must not
     * exist"). Returns whether it was written and the key's current state after the call.
     */
    compareAndSet(key: string, expectedRevision: number, value: string, opts?: PutOptions): Promise<{
        ok: boolean;
        current: KeyValue | undefined;
    }>;
    /** Returns whether a key was deleted. */
    delete(key: string): Promise<boolean>;
    grantLease(ttlMs: number): Promise<Lease>;
    /** Events for keys under `prefix`, in revision order. */
    watch(prefix: string, onEvent: (ev: WatchEvent) => void, opts?: WatchOptions): Promise<Watcher>;
    close(): Promise<void>;
}
/**
 * Waits until the keys under `prefix` satisfy `ready`, using one list and then a watch, so it
 * sees every change without polling. Rejects with `onTimeout()` at the deadline.
 */
export declare function waitForPrefix<T>(store: Store, prefix: string, ready: (kvs: ReadonlyMap<string, KeyValue>) => T | undefined, deadline: Deadline, onTimeout: (kvs: ReadonlyMap<string, KeyValue>) => Error, signal?: AbortSignal): Promise<T>;

import { AbortedError } from '../errors.js';
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

export type WatchEvent =
  | { type: 'put'; kv: KeyValue }
  | { type: 'delete'; key: string; modRevision: number };

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
  list(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }>;
  /** Unconditional write. Returns the new revision. */
  put(key: string, value: string, opts?: PutOptions): Promise<number>;
  /**
   * Write only if the key's modRevision equals `expectedRevision` (0 means "the key must not
   * exist"). Returns whether it was written and the key's current state after the call.
   */
  compareAndSet(
    key: string,
    expectedRevision: number,
    value: string,
    opts?: PutOptions,
  ): Promise<{ ok: boolean; current: KeyValue | undefined }>;
  /** Returns whether a key was deleted. */
  delete(key: string): Promise<boolean>;
  grantLease(ttlMs: number): Promise<Lease>;
  /** Events for keys under `prefix`, in revision order. */
  watch(prefix: string, onEvent: (ev: WatchEvent) => void, opts?: WatchOptions): Promise<Watcher>;
  close(): Promise<void>;
}

/** A watch event's store revision. */
export const revisionOf = (ev: WatchEvent): number => (ev.type === 'put' ? ev.kv.modRevision : ev.modRevision);

/**
 * Watches `prefix`, then lists it, and delivers the listed state followed by every change after
 * it. Watching first, from now, rather than listing and then watching from the list's revision:
 * etcd serves a watch that starts in the past from a catch-up loop that runs every 100 ms, so
 * when keys change between the list and the watch (every rank of a rendezvous writing its
 * address at once) the changes would arrive up to 100 ms late. A watch from now is served
 * as writes happen; events the list already reflects (revision <= the list's) are dropped.
 */
export async function listAndWatch(
  store: Store,
  prefix: string,
  onList: (kvs: KeyValue[], revision: number) => void,
  onEvent: (ev: WatchEvent) => void,
  onError: (err: Error) => void,
): Promise<Watcher> {
  let listedAt: number | undefined;
  const early: WatchEvent[] = [];
  const watcher = await store.watch(
    prefix,
    (ev) => {
      if (listedAt === undefined) early.push(ev);
      else if (revisionOf(ev) > listedAt) onEvent(ev);
    },
    { onError },
  );
  try {
    const { kvs, revision } = await store.list(prefix);
    listedAt = revision;
    onList(kvs, revision);
    for (const ev of early) if (revisionOf(ev) > revision) onEvent(ev);
    early.length = 0;
    return watcher;
  } catch (e) {
    watcher.close();
    throw e;
  }
}

/**
 * Waits until the keys under `prefix` satisfy `ready`, with one watch and one list (see
 * listAndWatch), so it sees every change without polling. Rejects with `onTimeout()` at the deadline.
 */
export async function waitForPrefix<T>(
  store: Store,
  prefix: string,
  ready: (kvs: ReadonlyMap<string, KeyValue>) => T | undefined,
  deadline: Deadline,
  onTimeout: (kvs: ReadonlyMap<string, KeyValue>) => Error,
  signal?: AbortSignal,
): Promise<T> {
  const state = new Map<string, KeyValue>();
  return new Promise<T>((resolve, reject) => {
    let watcher: Watcher | undefined;
    let done = false;
    const finish = (err: Error | undefined, value?: T): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      watcher?.close();
      if (err) reject(err);
      else resolve(value as T);
    };
    const timer = setTimeout(() => finish(onTimeout(state)), Math.max(0, deadline - Date.now()));
    timer.unref();
    // The one cancellation class (errors.ts), with the signal's reason kept as the cause.
    const onAbort = (): void => finish(new AbortedError(`waiting for ${prefix} was aborted`, { cause: signal?.reason }));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const check = (): void => {
      const v = ready(state);
      if (v !== undefined) finish(undefined, v);
    };
    listAndWatch(
      store,
      prefix,
      (kvs) => {
        for (const kv of kvs) state.set(kv.key, kv);
        check();
      },
      (ev) => {
        if (ev.type === 'put') state.set(ev.kv.key, ev.kv);
        else state.delete(ev.key);
        check();
      },
      (e) => finish(e),
    ).then(
      (w) => {
        watcher = w;
        if (done) w.close();
      },
      (e: unknown) => finish(e instanceof Error ? e : new Error(String(e))),
    );
  });
}

import type { KeyValue, Lease, PutOptions, Store, Watcher, WatchEvent, WatchOptions } from '../store/store.js';
import type { MemoryStore } from '../store/memory-store.js';

/** Store traffic of the whole cluster; the cluster resets it after the warm-up. */
export interface StoreCounts {
  /** put, compare-and-set (won or lost), delete, lease grant/keep-alive/revoke: requests that write. */
  writes: number;
  /** Compare-and-sets that lost (someone else wrote first). */
  casLost: number;
  reads: number;
  lists: number;
  /** Events delivered to a node's watch callbacks. */
  watchEvents: number;
  watches: number;
}

export const zeroStoreCounts = (): StoreCounts => ({ writes: 0, casLost: 0, reads: 0, lists: 0, watchEvents: 0, watches: 0 });

/**
 * One node's connection to the cluster's one MemoryStore: what its FMS gets from openStore. It
 * counts the node's requests and the watch events delivered to it, reports each delivery to the
 * cluster (who holds which membership record), closes only this node's watches, and goes dark
 * when the node crashes: a dead process's requests never complete and its watches deliver nothing.
 */
export class NodeStore implements Store {
  private readonly watchers = new Set<Watcher>();
  private dead = false;

  constructor(
    private readonly shared: MemoryStore,
    private readonly counts: () => StoreCounts,
    private readonly onDelivered: (ev: WatchEvent) => void,
  ) {}

  /** The node crashed: nothing of its own reaches the store or comes back any more. */
  kill(): void {
    this.dead = true;
    for (const w of this.watchers) w.close();
    this.watchers.clear();
  }

  private run<T>(work: () => Promise<T>): Promise<T> {
    if (this.dead) return new Promise<T>(() => undefined);
    return work().then((v) => (this.dead ? new Promise<T>(() => undefined) : v));
  }

  get(key: string): Promise<KeyValue | undefined> {
    this.counts().reads++;
    return this.run(() => this.shared.get(key));
  }

  list(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    this.counts().lists++;
    return this.run(() => this.shared.list(prefix));
  }

  put(key: string, value: string, opts?: PutOptions): Promise<number> {
    if (!this.dead) this.counts().writes++;
    return this.run(() => this.shared.put(key, value, opts));
  }

  compareAndSet(key: string, expectedRevision: number, value: string, opts?: PutOptions): Promise<{ ok: boolean; current: KeyValue | undefined }> {
    if (!this.dead) this.counts().writes++;
    return this.run(async () => {
      const r = await this.shared.compareAndSet(key, expectedRevision, value, opts);
      if (!r.ok) this.counts().casLost++;
      return r;
    });
  }

  delete(key: string): Promise<boolean> {
    if (!this.dead) this.counts().writes++;
    return this.run(() => this.shared.delete(key));
  }

  grantLease(ttlMs: number): Promise<Lease> {
    if (!this.dead) this.counts().writes++;
    return this.run(async () => {
      const l = await this.shared.grantLease(ttlMs);
      return {
        id: l.id,
        ttlMs: l.ttlMs,
        keepAlive: () => {
          if (!this.dead) this.counts().writes++;
          return this.run(() => l.keepAlive());
        },
        revoke: () => {
          if (!this.dead) this.counts().writes++;
          return this.run(() => l.revoke());
        },
      };
    });
  }

  watch(prefix: string, onEvent: (ev: WatchEvent) => void, opts?: WatchOptions): Promise<Watcher> {
    this.counts().watches++;
    return this.run(async () => {
      const inner = await this.shared.watch(
        prefix,
        (ev) => {
          if (this.dead) return;
          this.counts().watchEvents++;
          onEvent(ev);
          this.onDelivered(ev);
        },
        opts,
      );
      const w: Watcher = {
        close: () => {
          this.watchers.delete(w);
          inner.close();
        },
      };
      this.watchers.add(w);
      return w;
    });
  }

  /** The FMS closing its connection: only this node's watches end; the store is the cluster's. */
  close(): Promise<void> {
    for (const w of this.watchers) w.close();
    this.watchers.clear();
    return Promise.resolve();
  }
}

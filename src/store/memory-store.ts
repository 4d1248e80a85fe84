import { performance } from 'node:perf_hooks';
import { ClosedError, InvalidArgumentError, LeaseExpiredError } from '../errors.js';
import type { KeyValue, Lease, PutOptions, Store, Watcher, WatchEvent, WatchOptions } from './store.js';
import { checkCount, checkKey, checkPrefix, checkTtl, checkValue } from './wire.js';

export interface Clock {
  now(): number;
}

/** A clock tests move by hand, so leases expire exactly when the test says. */
export class ManualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

// Monotonic, so a wall-clock step (NTP) neither expires every lease nor keeps them all alive.
const monotonic: Clock = { now: () => performance.now() };

export interface MemoryStoreOptions {
  clock?: Clock;
  /** Events kept for `watch({ fromRevision })` replay. */
  historyLimit?: number;
  /** Expire leases from a timer (default true). With a ManualClock, turn it off and call tick(). */
  autoExpire?: boolean;
}

interface LeaseState {
  readonly id: number;
  readonly ttlMs: number;
  expiresAt: number;
  readonly keys: Set<string>;
}

interface WatchState {
  readonly prefix: string;
  readonly onEvent: (ev: WatchEvent) => void;
  readonly onError: ((err: Error) => void) | undefined;
  closed: boolean;
}

const keyOf = (ev: WatchEvent): string => (ev.type === 'put' ? ev.kv.key : ev.key);

/**
 * The whole store in one process. Every write or delete takes the next store-wide revision and
 * appends exactly one event to the history, so history[i] has revision `compacted + 1 + i`.
 */
export class MemoryStore implements Store {
  private readonly clock: Clock;
  private readonly historyLimit: number;
  private readonly autoExpire: boolean;
  private readonly kvs = new Map<string, KeyValue>();
  private readonly leases = new Map<number, LeaseState>();
  private readonly watchers = new Set<WatchState>();
  private history: WatchEvent[] = [];
  private revision = 0;
  /** Newest revision dropped from the history. */
  private compacted = 0;
  private nextLeaseId = 1;
  /** No lease expires before this; lets most calls skip the scan. */
  private nextExpiry = Infinity;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private closed = false;

  constructor(opts: MemoryStoreOptions = {}) {
    this.clock = opts.clock ?? monotonic;
    this.historyLimit = opts.historyLimit ?? 10_000;
    checkCount(this.historyLimit, 'historyLimit');
    this.autoExpire = opts.autoExpire ?? true;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.begin();
    checkKey(key);
    return this.kvs.get(key);
  }

  async list(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    this.begin();
    checkPrefix(prefix);
    const kvs = [...this.kvs.values()].filter((kv) => kv.key.startsWith(prefix));
    kvs.sort((a, b) => (a.key < b.key ? -1 : 1));
    return { kvs, revision: this.revision };
  }

  async put(key: string, value: string, opts: PutOptions = {}): Promise<number> {
    this.begin();
    checkKey(key);
    checkValue(value);
    return this.write(key, value, opts.lease ?? 0).modRevision;
  }

  async compareAndSet(key: string, expectedRevision: number, value: string, opts: PutOptions = {}): Promise<{ ok: boolean; current: KeyValue | undefined }> {
    this.begin();
    checkKey(key);
    checkCount(expectedRevision, 'expectedRevision');
    checkValue(value);
    const current = this.kvs.get(key);
    if ((current?.modRevision ?? 0) !== expectedRevision) return { ok: false, current };
    return { ok: true, current: this.write(key, value, opts.lease ?? 0) };
  }

  async delete(key: string): Promise<boolean> {
    this.begin();
    checkKey(key);
    return this.remove(key);
  }

  async grantLease(ttlMs: number): Promise<Lease> {
    this.begin();
    checkTtl(ttlMs);
    const state: LeaseState = { id: this.nextLeaseId++, ttlMs, expiresAt: this.clock.now() + ttlMs, keys: new Set() };
    this.leases.set(state.id, state);
    this.nextExpiry = Math.min(this.nextExpiry, state.expiresAt);
    this.armTimer();
    return { id: state.id, ttlMs, keepAlive: () => this.keepAliveLease(state.id), revoke: () => this.revokeLease(state.id) };
  }

  /** By id, for the TCP server, whose clients hold only the number. */
  async keepAliveLease(id: number): Promise<void> {
    this.begin();
    checkCount(id, 'lease id');
    const state = this.leases.get(id);
    if (!state) throw new LeaseExpiredError(`lease ${id} has expired or was revoked`);
    // nextExpiry stays a valid lower bound; the scan it triggers recomputes it.
    state.expiresAt = this.clock.now() + state.ttlMs;
  }

  async revokeLease(id: number): Promise<void> {
    this.begin();
    checkCount(id, 'lease id');
    const state = this.leases.get(id);
    if (state) this.dropLease(state);
  }

  async watch(prefix: string, onEvent: (ev: WatchEvent) => void, opts: WatchOptions = {}): Promise<Watcher> {
    this.begin();
    checkPrefix(prefix);
    const from = opts.fromRevision;
    if (from !== undefined) checkCount(from, 'fromRevision');
    const w: WatchState = { prefix, onEvent, onError: opts.onError, closed: false };
    this.watchers.add(w);
    if (from !== undefined && from <= this.revision) {
      if (from <= this.compacted) {
        const err = new InvalidArgumentError(
          `cannot watch from revision ${from}: the store keeps history only from revision ${this.compacted + 1}; list again and watch from the list's revision + 1`,
        );
        queueMicrotask(() => this.breakWatch(w, err));
      } else {
        for (const ev of this.history.slice(from - this.compacted - 1)) if (keyOf(ev).startsWith(prefix)) this.deliver(w, ev);
      }
    }
    return {
      close: () => {
        w.closed = true;
        this.watchers.delete(w);
      },
    };
  }

  /** Expires every lease whose time has come; tests with a ManualClock call it after advancing. */
  tick(): void {
    if (this.closed) return;
    const now = this.clock.now();
    if (now < this.nextExpiry) return;
    let next = Infinity;
    for (const state of this.leases.values()) {
      if (state.expiresAt <= now) this.dropLease(state);
      else next = Math.min(next, state.expiresAt);
    }
    this.nextExpiry = next;
    this.armTimer();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.watchers) this.breakWatch(w, new ClosedError('store closed'));
  }

  /** Every call starts here, so an expired lease is never visible even between timer runs. */
  private begin(): void {
    if (this.closed) throw new ClosedError('store closed');
    this.tick();
  }

  private write(key: string, value: string, leaseId: number): KeyValue {
    checkCount(leaseId, 'lease');
    const lease = leaseId === 0 ? undefined : this.leases.get(leaseId);
    if (leaseId !== 0 && !lease) throw new LeaseExpiredError(`cannot put ${key}: lease ${leaseId} has expired or was revoked`);
    const old = this.kvs.get(key);
    if (old && old.lease !== leaseId) this.leases.get(old.lease)?.keys.delete(key);
    lease?.keys.add(key);
    // Frozen, so the same object can go to callers and into the history without copies.
    const kv: KeyValue = Object.freeze({ key, value, modRevision: ++this.revision, lease: leaseId });
    this.kvs.set(key, kv);
    this.emit({ type: 'put', kv });
    return kv;
  }

  private remove(key: string): boolean {
    const old = this.kvs.get(key);
    if (!old) return false;
    this.kvs.delete(key);
    this.leases.get(old.lease)?.keys.delete(key);
    this.emit(Object.freeze({ type: 'delete', key, modRevision: ++this.revision }));
    return true;
  }

  private dropLease(state: LeaseState): void {
    this.leases.delete(state.id);
    for (const key of [...state.keys]) this.remove(key);
  }

  private emit(ev: WatchEvent): void {
    this.history.push(ev);
    if (this.history.length > this.historyLimit) {
      this.history.shift();
      this.compacted++;
    }
    for (const w of this.watchers) if (keyOf(ev).startsWith(w.prefix)) this.deliver(w, ev);
  }

  /**
   * Deferred, so a callback that writes to the store cannot make other watchers see events out
   * of revision order; microtasks run FIFO, so per-watcher order is kept.
   */
  private deliver(w: WatchState, ev: WatchEvent): void {
    queueMicrotask(() => {
      if (w.closed) return;
      try {
        w.onEvent(ev);
      } catch (e) {
        // A throwing callback must not take the writer down; the watch breaks instead.
        this.breakWatch(w, e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  private breakWatch(w: WatchState, err: Error): void {
    if (w.closed) return;
    w.closed = true;
    this.watchers.delete(w);
    w.onError?.(err);
  }

  private armTimer(): void {
    if (!this.autoExpire || this.closed) return;
    if (this.leases.size === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      return;
    }
    if (this.timer && this.timerAt <= this.nextExpiry) return;
    clearTimeout(this.timer);
    this.timerAt = this.nextExpiry;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.tick();
      // tick() re-arms only when something was due; a timer that fired early must re-arm too.
      this.armTimer();
    }, Math.max(0, this.nextExpiry - this.clock.now()));
    this.timer.unref();
  }
}

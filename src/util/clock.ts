import { performance } from 'node:perf_hooks';

/** Opaque: whatever the clock's setTimeout returned, handed back to its clearTimeout. */
export type TimerHandle = unknown;

/** Time and timers, injected so the FMS and the communicator can be tested without waiting in real time. */
export interface Clock {
  /** Milliseconds, monotonic; only differences mean anything. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /**
   * Runs `fn` once the I/O already waiting has been read (setImmediate): a verdict reached in a
   * timer can be checked against the heartbeats queued behind it.
   */
  defer(fn: () => void): void;
}

/**
 * Monotonic, so an NTP step neither makes every node look silent nor hides a dead one. Timers are
 * unref()'d: a supervisor's bookkeeping must never be the thing that keeps a process alive.
 */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
  defer(fn) {
    setImmediate(fn).unref();
  },
};

interface FakeTimer {
  due: number;
  seq: number;
  /** Undefined once it has fired or been cleared. */
  fn: (() => void) | undefined;
}

/** (due, seq) order: what fires first, ties in the order they were set. */
const before = (a: FakeTimer, b: FakeTimer): boolean => a.due < b.due || (a.due === b.due && a.seq < b.seq);
const order = (a: FakeTimer, b: FakeTimer): number => a.due - b.due || a.seq - b.seq;

/** The timers due within one millisecond [key, key + 1): unsorted until it is the earliest. */
interface Bucket {
  readonly key: number;
  items: FakeTimer[];
  /** items[0..head) have fired. */
  head: number;
  sorted: boolean;
}

/**
 * A clock tests move by hand. Timers fire in due order, ties in the order they were set. What
 * is deferred runs once nothing more is due at the current instant and time is about to move on:
 * the test's own calls between two advance()s stand for the I/O read before it.
 *
 * The cluster simulator (src/sim/) keeps some 50,000 timers pending at 10,000 nodes and sets and
 * clears hundreds of thousands a simulated second (every heartbeat moves a monitor's timer), so
 * the queue is a calendar of one-millisecond buckets: setting a timer appends it to its bucket,
 * a bucket is sorted once when it becomes the earliest, and only the bucket keys (a few
 * thousand) sit in a binary heap. A binary heap of the timers themselves cost O(log T) cache
 * misses per timer. The handle is the timer itself: clearing marks it dead, and dead timers are
 * dropped when their bucket is sorted or reached, or all at once when most timers are dead.
 */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  /** Timers set and neither fired nor cleared. */
  private live = 0;
  /** Cleared timers still sitting in a bucket. */
  private dead = 0;
  private readonly buckets = new Map<number, Bucket>();
  /** The keys of `buckets`, a min-heap. */
  private readonly keys: number[] = [];
  private readonly deferred: (() => void)[] = [];

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const tm: FakeTimer = { due: this.t + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: ++this.seq, fn };
    this.live++;
    this.add(tm);
    return tm;
  }

  clearTimeout(handle: TimerHandle): void {
    const tm = handle as FakeTimer | undefined;
    if (typeof tm !== 'object' || tm === null || tm.fn === undefined) return;
    tm.fn = undefined;
    this.live--;
    this.dead++;
    if (this.dead > 1024 && this.dead > 2 * this.live) this.compact();
  }

  defer(fn: () => void): void {
    this.deferred.push(fn);
  }

  /** Timers still waiting to fire. */
  get pending(): number {
    return this.live;
  }

  /** When the next timer falls due (undefined: none is set): lets a driver jump straight to it. */
  get nextDue(): number | undefined {
    return this.top()?.due;
  }

  /** Whether something deferred waits for time to move on. */
  get hasDeferred(): boolean {
    return this.deferred.length > 0;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way (including ones set
   * by earlier callbacks), each seeing now() at its due time, or later if it was already overdue.
   */
  advance(ms: number): void {
    const target = this.t + Math.max(0, ms);
    for (;;) {
      const top = this.top();
      const next = top && top.due <= target ? top : undefined;
      if (!(next && next.due <= this.t) && this.deferred.length > 0 && (next || target > this.t)) {
        for (const fn of this.deferred.splice(0)) fn();
        continue;
      }
      if (!next) break;
      (this.buckets.get(this.keys[0] as number) as Bucket).head++;
      const fn = next.fn as () => void;
      next.fn = undefined;
      this.live--;
      this.t = Math.max(this.t, next.due);
      fn();
    }
    this.t = target;
  }

  /**
   * Moves time forward without firing anything: what a blocked event loop experiences. The next
   * advance() runs everything overdue at once, late.
   */
  jump(ms: number): void {
    this.t += Math.max(0, ms);
  }

  private add(tm: FakeTimer): void {
    const key = Math.floor(tm.due);
    const b = this.buckets.get(key);
    if (!b) {
      this.buckets.set(key, { key, items: [tm], head: 0, sorted: false });
      this.pushKey(key);
      return;
    }
    const items = b.items;
    if (!b.sorted || items.length === b.head || !before(tm, items[items.length - 1] as FakeTimer)) {
      items.push(tm);
      return;
    }
    // The earliest bucket, being drained: in order among the timers not fired yet.
    let lo = b.head;
    let hi = items.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(tm, items[mid] as FakeTimer)) hi = mid;
      else lo = mid + 1;
    }
    items.splice(lo, 0, tm);
  }

  /** The earliest live timer (not taken off: advance() moves its bucket's head past it). */
  private top(): FakeTimer | undefined {
    while (this.keys.length > 0) {
      const b = this.buckets.get(this.keys[0] as number) as Bucket;
      if (!b.sorted) {
        b.items = this.alive(b.items, b.head).sort(order);
        b.head = 0;
        b.sorted = true;
      }
      const items = b.items;
      while (b.head < items.length && (items[b.head] as FakeTimer).fn === undefined) {
        b.head++;
        this.dead--;
      }
      if (b.head < items.length) return items[b.head];
      this.buckets.delete(b.key);
      this.popKey();
    }
    return undefined;
  }

  /** items[from..] without the cleared ones, which stop counting as dead. */
  private alive(items: FakeTimer[], from: number): FakeTimer[] {
    const out: FakeTimer[] = [];
    for (let i = from; i < items.length; i++) {
      const tm = items[i] as FakeTimer;
      if (tm.fn !== undefined) out.push(tm);
      else this.dead--;
    }
    return out;
  }

  /** Every cleared timer dropped at once (O(T)); emptied buckets go when they surface. */
  private compact(): void {
    for (const b of this.buckets.values()) {
      b.items = this.alive(b.items, b.head);
      b.head = 0;
    }
  }

  private pushKey(key: number): void {
    const h = this.keys;
    h.push(key);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as number) <= key) break;
      h[i] = h[parent] as number;
      i = parent;
    }
    h[i] = key;
  }

  private popKey(): void {
    const h = this.keys;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && (h[r] as number) < (h[l] as number) ? r : l;
      if ((h[c] as number) >= last) break;
      h[i] = h[c] as number;
      i = c;
    }
    h[i] = last;
  }
}

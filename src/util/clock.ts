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

/**
 * A clock tests move by hand. Timers fire in due order, ties in the order they were set. What
 * is deferred runs once nothing more is due at the current instant and time is about to move on:
 * the test's own calls between two advance()s stand for the I/O read before it.
 *
 * The timers sit in a binary heap, so a fire costs O(log T): the cluster simulator (src/sim/)
 * runs tens of thousands of them at once, and sets and clears hundreds of thousands a simulated
 * second (every heartbeat moves a monitor's timer). The handle is the timer itself: clearing
 * marks it dead (no map of live timers to update), and the heap drops it lazily (skipped when it
 * surfaces; the heap is rebuilt when most of it is dead).
 */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  /** Timers set and neither fired nor cleared. */
  private live = 0;
  private heap: FakeTimer[] = [];
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
    this.push(tm);
    return tm;
  }

  clearTimeout(handle: TimerHandle): void {
    const tm = handle as FakeTimer | undefined;
    if (typeof tm !== 'object' || tm === null || tm.fn === undefined) return;
    tm.fn = undefined;
    this.live--;
    // Cancelled entries are dropped as they surface; rebuilt once they outnumber the live ones.
    if (this.heap.length > 1024 && this.heap.length > 2 * this.live) this.rebuild();
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
      this.pop();
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

  /** The earliest live timer, dropping cancelled ones off the top. */
  private top(): FakeTimer | undefined {
    while (this.heap.length > 0) {
      const h = this.heap[0] as FakeTimer;
      if (h.fn !== undefined) return h;
      this.pop();
    }
    return undefined;
  }

  private push(tm: FakeTimer): void {
    const h = this.heap;
    h.push(tm);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(tm, h[parent] as FakeTimer)) break;
      h[i] = h[parent] as FakeTimer;
      i = parent;
    }
    h[i] = tm;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    this.siftDown(0, last);
  }

  /** Places `tm` at `i` or below, moving the earlier of the children up. */
  private siftDown(start: number, tm: FakeTimer): void {
    const h = this.heap;
    const last = tm;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && before(h[r] as FakeTimer, h[l] as FakeTimer) ? r : l;
      if (!before(h[c] as FakeTimer, last)) break;
      h[i] = h[c] as FakeTimer;
      i = c;
    }
    h[i] = last;
  }

  /** The live timers only, heap order restored bottom-up (O(T)). */
  private rebuild(): void {
    const h = this.heap.filter((tm) => tm.fn !== undefined);
    this.heap = h;
    for (let i = (h.length >> 1) - 1; i >= 0; i--) this.siftDown(i, h[i] as FakeTimer);
  }
}

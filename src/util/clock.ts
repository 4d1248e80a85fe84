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
  fn: () => void;
}

/**
 * A clock tests move by hand. Timers fire in due order, ties in the order they were set. What
 * is deferred runs once nothing more is due at the current instant and time is about to move on:
 * the test's own calls between two advance()s stand for the I/O read before it.
 */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, FakeTimer>();
  private readonly deferred: (() => void)[] = [];

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { due: this.t + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: id, fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  defer(fn: () => void): void {
    this.deferred.push(fn);
  }

  /** Timers still waiting to fire. */
  get pending(): number {
    return this.timers.size;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way (including ones set
   * by earlier callbacks), each seeing now() at its due time, or later if it was already overdue.
   */
  advance(ms: number): void {
    const target = this.t + Math.max(0, ms);
    for (;;) {
      let next: [number, FakeTimer] | undefined;
      for (const entry of this.timers) {
        const [, tm] = entry;
        if (tm.due <= target && (!next || tm.due < next[1].due || (tm.due === next[1].due && tm.seq < next[1].seq))) next = entry;
      }
      if (!(next && next[1].due <= this.t) && this.deferred.length > 0 && (next || target > this.t)) {
        for (const fn of this.deferred.splice(0)) fn();
        continue;
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].due);
      next[1].fn();
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
}

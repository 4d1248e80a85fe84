/** Opaque: whatever the clock's setTimeout returned, handed back to its clearTimeout. */
export type TimerHandle = unknown;
/** Time and timers, injected so the FMS can be tested without waiting in real time. */
export interface Clock {
    /** Milliseconds, monotonic; only differences mean anything. */
    now(): number;
    setTimeout(fn: () => void, ms: number): TimerHandle;
    clearTimeout(handle: TimerHandle): void;
}
/**
 * Monotonic, so an NTP step neither makes every node look silent nor hides a dead one. Timers are
 * unref()'d: a supervisor's bookkeeping must never be the thing that keeps a process alive.
 */
export declare const realClock: Clock;
/** A clock tests move by hand. Timers fire in due order, ties in the order they were set. */
export declare class FakeClock implements Clock {
    private t;
    private seq;
    private readonly timers;
    constructor(start?: number);
    now(): number;
    setTimeout(fn: () => void, ms: number): TimerHandle;
    clearTimeout(handle: TimerHandle): void;
    /** Timers still waiting to fire. */
    get pending(): number;
    /**
     * Moves time forward by `ms`, firing every timer that falls due on the way (including ones set
     * by earlier callbacks), each seeing now() at its due time, or later if it was already overdue.
     */
    advance(ms: number): void;
    /**
     * Moves time forward without firing anything: what a blocked event loop experiences. The next
     * advance() runs everything overdue at once, late.
     */
    jump(ms: number): void;
}

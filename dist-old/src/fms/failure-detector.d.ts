import type { Clock } from './clock.js';
export interface PhiAccrualOptions {
    /** The period nodes were told to heartbeat at: the expected gap until real samples exist. */
    intervalMs: number;
    /** Suspect when phi exceeds this (8: roughly a 1e-8 chance that the node is merely late). */
    threshold?: number;
    /** Inter-arrival times kept per node (default 100). */
    windowSize?: number;
    /** Samples needed before the window's own statistics are trusted (default 10). */
    minSamples?: number;
    /** Floor on the std-dev (default intervalMs / 10); a perfectly regular sender must not be suspected for being 1 ms late. */
    minStdDevMs?: number;
    /** Added to the expected gap (default intervalMs): one lost heartbeat is not a failure. */
    acceptablePauseMs?: number;
}
/**
 * -log10 of the chance that a heartbeat is still to come after `elapsed`, with the normal tail
 * approximated by a logistic (as Akka does), written as a softplus so a long silence gives a
 * large finite phi instead of log(0) = Infinity. Strictly increasing in `elapsed`.
 */
export declare function phiOf(elapsed: number, mean: number, stdDev: number): number;
/** Hayashibara et al.'s phi accrual failure detector over a sliding window of inter-arrival times. */
export declare class PhiAccrualDetector {
    readonly intervalMs: number;
    readonly threshold: number;
    private readonly windowSize;
    private readonly minSamples;
    private readonly minStdDevMs;
    private readonly pauseMs;
    private readonly nodes;
    constructor(opts: PhiAccrualOptions);
    /** Starts tracking `node` as if it had just been heard from, so silence from the start counts. */
    track(node: number, now: number): void;
    forget(node: number): boolean;
    has(node: number): boolean;
    tracked(): number[];
    /** Records an arrival. `sample: false` moves the clock on without trusting the gap as a sample. */
    heartbeat(node: number, now: number, sample?: boolean): void;
    /** Moves every node's last arrival forward by `ms` (never past `now`): time that was not theirs. */
    forgive(ms: number, now: number): void;
    silenceMs(node: number, now: number): number;
    phi(node: number, now: number): number;
    isSuspected(node: number, now: number): boolean;
    private get;
}
export type SuspectReason = 'phi' | 'max_silence';
/** What the monitor saw when it gave up on a node; suitable for a `fault_detected` event. */
export interface SuspectInfo {
    node: number;
    phi: number;
    silenceMs: number;
    reason: SuspectReason;
    /** clock.now() at the verdict. */
    at: number;
}
export interface HeartbeatMonitorOptions extends Omit<PhiAccrualOptions, 'intervalMs' | 'threshold'> {
    clock: Clock;
    intervalMs: number;
    threshold?: number;
    /** Suspect after this much silence whatever phi says (default 3 × intervalMs). */
    maxSilenceMs?: number;
    /** How often to judge (default intervalMs / 2). */
    checkEveryMs?: number;
    /** A check running later than this past its time means our own loop stalled (default checkEveryMs). */
    stallToleranceMs?: number;
    onSuspect(node: number, info: SuspectInfo): void;
}
/**
 * Judges watched nodes by their heartbeats. Each node is reported at most once: a suspected node
 * leaves the membership (fail-stop, as a broken communicator never recovers), so heartbeats it
 * sends afterwards are ignored; watch it again after unwatch() to follow a new incarnation.
 * Arrivals are recorded while stopped; only the judging pauses.
 */
export declare class HeartbeatMonitor {
    readonly maxSilenceMs: number;
    readonly checkEveryMs: number;
    private readonly stallToleranceMs;
    private readonly clock;
    private readonly detector;
    private readonly onSuspect;
    private readonly suspected;
    private timer;
    private started;
    private nextDue;
    private graceUntil;
    constructor(opts: HeartbeatMonitorOptions);
    get running(): boolean;
    watch(node: number): void;
    unwatch(node: number): void;
    /** Records an arrival from `node`; false if it is not watched or already suspected. */
    heartbeat(node: number): boolean;
    phi(node: number): number;
    isSuspected(node: number): boolean;
    start(): void;
    stop(): void;
    private tick;
    /**
     * Checks run every checkEveryMs, and also exactly when the first node would cross maxSilenceMs,
     * so the hard bound is not loosened by up to a check period (the recovery budget is tight).
     */
    private schedule;
    /**
     * If our own event loop was blocked (a loaded machine, a long GC, a synchronous step), the
     * heartbeats that arrived meanwhile are still queued behind this callback, and timers tend to
     * run before queued I/O: judging by last arrival now would blame peers for our stall. So the
     * time we overslept is not counted as their silence (their last arrivals move forward by it),
     * and for one interval the queued burst does not become inter-arrival samples, whose
     * near-zero gaps would make phi jumpy. A node that is really dead is still caught: its silence
     * keeps growing by every check period we do run, so detection takes maxSilenceMs of our own
     * running time. Called from both the check and heartbeat(), whichever runs first after a stall.
     */
    private absorbStall;
}

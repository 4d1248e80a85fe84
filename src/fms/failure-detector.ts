import { InvalidArgumentError } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';

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

interface History {
  last: number;
  /** False until a real arrival: the gap from watch() to the first heartbeat measures nothing. */
  primed: boolean;
  gaps: Float64Array;
  head: number;
  count: number;
  sum: number;
  sumSq: number;
}

function positive(name: string, v: number): number {
  if (!(Number.isFinite(v) && v > 0)) throw new InvalidArgumentError(`${name} must be a positive number, got ${v}`);
  return v;
}

/**
 * -log10 of the chance that a heartbeat is still to come after `elapsed`, with the normal tail
 * approximated by a logistic (as Akka does), written as a softplus so a long silence gives a
 * large finite phi instead of log(0) = Infinity. Strictly increasing in `elapsed`.
 */
export function phiOf(elapsed: number, mean: number, stdDev: number): number {
  const y = (elapsed - mean) / stdDev;
  const z = y * (1.5976 + 0.070566 * y * y);
  return (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) / Math.LN10;
}

/**
 * The silence at which phi reaches `phi`: phiOf's inverse, so a monitor can sleep until the
 * moment a node could be suspected instead of checking on a period. softplus(z) = phi·ln10 gives
 * z; z = y·(1.5976 + 0.070566·y²) is a cubic with one real root (Cardano).
 */
export function elapsedAtPhi(phi: number, mean: number, stdDev: number): number {
  const x = phi * Math.LN10;
  // ln(e^x - 1) is x to double precision past 40, where expm1 would overflow first.
  const z = x > 40 ? x : Math.log(Math.expm1(x));
  const a = 0.070566;
  const p = 1.5976 / a;
  const q = z / a;
  const r = Math.sqrt((q * q) / 4 + (p * p * p) / 27);
  const y = Math.cbrt(q / 2 + r) + Math.cbrt(q / 2 - r);
  return mean + y * stdDev;
}

/** Hayashibara et al.'s phi accrual failure detector over a sliding window of inter-arrival times. */
export class PhiAccrualDetector {
  readonly intervalMs: number;
  readonly threshold: number;
  private readonly windowSize: number;
  private readonly minSamples: number;
  private readonly minStdDevMs: number;
  private readonly pauseMs: number;
  private readonly nodes = new Map<number, History>();

  constructor(opts: PhiAccrualOptions) {
    this.intervalMs = positive('intervalMs', opts.intervalMs);
    this.threshold = positive('threshold', opts.threshold ?? 8);
    this.windowSize = Math.floor(positive('windowSize', opts.windowSize ?? 100));
    this.minSamples = Math.floor(positive('minSamples', opts.minSamples ?? 10));
    if (this.minSamples < 2 || this.minSamples > this.windowSize) {
      throw new InvalidArgumentError(`minSamples must be in 2..windowSize (${this.windowSize}), got ${this.minSamples}`);
    }
    this.minStdDevMs = positive('minStdDevMs', opts.minStdDevMs ?? this.intervalMs / 10);
    this.pauseMs = opts.acceptablePauseMs ?? this.intervalMs;
    if (!(this.pauseMs >= 0)) throw new InvalidArgumentError(`acceptablePauseMs must be >= 0, got ${this.pauseMs}`);
  }

  /** Starts tracking `node` as if it had just been heard from, so silence from the start counts. */
  track(node: number, now: number): void {
    const gaps = new Float64Array(this.windowSize);
    this.nodes.set(node, { last: now, primed: false, gaps, head: 0, count: 0, sum: 0, sumSq: 0 });
  }

  forget(node: number): boolean {
    return this.nodes.delete(node);
  }

  has(node: number): boolean {
    return this.nodes.has(node);
  }

  tracked(): number[] {
    return [...this.nodes.keys()];
  }

  /** Records an arrival. `sample: false` moves the clock on without trusting the gap as a sample. */
  heartbeat(node: number, now: number, sample = true): void {
    const h = this.nodes.get(node);
    if (!h) {
      this.track(node, now);
      this.get(node).primed = true;
      return;
    }
    const gap = now - h.last;
    if (h.primed && sample && gap >= 0) {
      if (h.count === this.windowSize) {
        const old = h.gaps[h.head]!;
        h.sum -= old;
        h.sumSq -= old * old;
      } else {
        h.count++;
      }
      h.gaps[h.head] = gap;
      h.head = (h.head + 1) % this.windowSize;
      h.sum += gap;
      h.sumSq += gap * gap;
      // Running sums drift over millions of updates; a fresh sum once per lap keeps them exact.
      if (h.head === 0) {
        h.sum = h.gaps.reduce((acc, g) => acc + g, 0);
        h.sumSq = h.gaps.reduce((acc, g) => acc + g * g, 0);
      }
    }
    h.primed = true;
    h.last = Math.max(h.last, now);
  }

  /** Moves every node's last arrival forward by `ms` (never past `now`): time that was not theirs. */
  forgive(ms: number, now: number): void {
    for (const h of this.nodes.values()) h.last = Math.max(h.last, Math.min(h.last + ms, now));
  }

  silenceMs(node: number, now: number): number {
    return Math.max(0, now - this.get(node).last);
  }

  phi(node: number, now: number): number {
    return this.phiAfter(node, this.silenceMs(node, now));
  }

  /** phi after `silenceMs` of silence from `node`. */
  phiAfter(node: number, silenceMs: number): number {
    const { mean, stdDev } = this.expected(this.get(node));
    return phiOf(silenceMs, mean, stdDev);
  }

  /**
   * When `node` is suspected if nothing more arrives: phi past the threshold, or `maxSilenceMs`
   * of silence, each silence stretched by `slowdown` (our own health, local-health.ts).
   */
  deadline(node: number, maxSilenceMs: number, slowdown = 1): number {
    const h = this.get(node);
    const { mean, stdDev } = this.expected(h);
    return h.last + slowdown * Math.min(elapsedAtPhi(this.threshold, mean, stdDev), maxSilenceMs);
  }

  /** The gap expected after the last arrival, and its spread. */
  private expected(h: History): { mean: number; stdDev: number } {
    const trusted = h.count >= this.minSamples;
    const mean = trusted ? h.sum / h.count : this.intervalMs;
    const variance = trusted ? Math.max(0, h.sumSq / h.count - mean * mean) : (this.intervalMs / 4) ** 2;
    return { mean: mean + this.pauseMs, stdDev: Math.max(this.minStdDevMs, Math.sqrt(variance)) };
  }

  isSuspected(node: number, now: number): boolean {
    return this.phi(node, now) > this.threshold;
  }

  private get(node: number): History {
    const h = this.nodes.get(node);
    if (!h) throw new InvalidArgumentError(`node ${node} is not monitored`, { node });
    return h;
  }
}

export type SuspectReason = 'phi' | 'max_silence';

/** What the monitor saw when it gave up on a node; suitable for a `fault_detected` event. */
export interface SuspectInfo {
  node: number;
  phi: number;
  silenceMs: number;
  reason: SuspectReason;
  /** Silence allowed on top of the usual for the node's own recent stalls (0: none). */
  allowanceMs: number;
  /** clock.now() at the verdict. */
  at: number;
}

export interface HeartbeatMonitorOptions extends Omit<PhiAccrualOptions, 'intervalMs' | 'threshold'> {
  clock: Clock;
  intervalMs: number;
  threshold?: number;
  /** Suspect after this much silence whatever phi says (default 3 × intervalMs). */
  maxSilenceMs?: number;
  /** A check running later than this past its time means our own loop stalled (default intervalMs / 2). */
  stallToleranceMs?: number;
  /** What every silence is stretched by (Lifeguard: our own health score + 1; default 1), read when a deadline is computed. */
  slowdown?: () => number;
  /** Our own timer ran `lagMs` late: evidence that this process, not the peers, is in trouble. */
  onStall?: (lagMs: number) => void;
  /** A node that says it stalled for S ms recently is allowed `stallFactor`·S more silence (default 2)... */
  stallFactor?: number;
  /** ...but never more than this (default 5 × maxSilenceMs), so a dead node's last word cannot hide it for long. */
  maxAllowanceMs?: number;
  onSuspect(node: number, info: SuspectInfo): void;
}

/**
 * Judges watched nodes by their heartbeats. It wakes only when the first node could be suspected
 * (its deadline), not on a period: checks every half interval woke an FMS 20 times a second,
 * each wake-up 200-400 µs of CPU on cores the ranks keep busy (docs/benchmarks.md, "Tuning
 * choices and the figures behind them"). Each arrival
 * moves the timer to the new earliest deadline, in the wake-up the arrival already cost, so
 * while every node beats the timer never fires. A verdict is confirmed after the I/O already
 * waiting has been read (clock.defer), so heartbeats queued behind our own stall clear a node.
 * Each node is reported at most once: a suspected node
 * leaves the membership (fail-stop, as a broken communicator never recovers), so heartbeats it
 * sends afterwards are ignored; watch it again after unwatch() to follow a new incarnation.
 * Arrivals are recorded while stopped; only the judging pauses.
 */
export class HeartbeatMonitor {
  readonly maxSilenceMs: number;
  readonly maxAllowanceMs: number;
  private readonly stallFactor: number;
  private readonly stallToleranceMs: number;
  private readonly clock: Clock;
  private readonly detector: PhiAccrualDetector;
  private readonly onSuspect: (node: number, info: SuspectInfo) => void;
  private readonly slowdown: () => number;
  private readonly onStall: (lagMs: number) => void;
  private readonly suspected = new Set<number>();
  /** Each watched node's deadline, recomputed when it changes (an arrival, a stall forgiven), not per wake-up. */
  private readonly deadlines = new Map<number, number>();
  /** Extra silence each node has earned by the stalls it reported (only nodes that reported one). */
  private readonly allowances = new Map<number, number>();
  private timer: TimerHandle | undefined;
  private started = false;
  /** A verdict is waiting for the I/O already queued to be read. */
  private confirming = false;
  private nextDue = Infinity;
  private graceUntil = -Infinity;

  constructor(opts: HeartbeatMonitorOptions) {
    this.clock = opts.clock;
    this.onSuspect = opts.onSuspect;
    this.slowdown = opts.slowdown ?? (() => 1);
    this.onStall = opts.onStall ?? (() => undefined);
    this.detector = new PhiAccrualDetector(opts);
    this.maxSilenceMs = positive('maxSilenceMs', opts.maxSilenceMs ?? 3 * opts.intervalMs);
    this.stallToleranceMs = positive('stallToleranceMs', opts.stallToleranceMs ?? opts.intervalMs / 2);
    this.stallFactor = opts.stallFactor ?? 2;
    if (!(this.stallFactor >= 0)) throw new InvalidArgumentError(`stallFactor must be >= 0, got ${this.stallFactor}`);
    this.maxAllowanceMs = opts.maxAllowanceMs ?? 5 * this.maxSilenceMs;
    if (!(this.maxAllowanceMs >= 0)) throw new InvalidArgumentError(`maxAllowanceMs must be >= 0, got ${this.maxAllowanceMs}`);
  }

  get running(): boolean {
    return this.started;
  }

  watch(node: number): void {
    if (this.detector.has(node)) return;
    this.detector.track(node, this.clock.now());
    this.refresh(node);
    // A new node's deadline may come before the one the timer waits for.
    if (this.started && !this.confirming) this.schedule(this.clock.now());
  }

  unwatch(node: number): void {
    this.detector.forget(node);
    this.deadlines.delete(node);
    this.allowances.delete(node);
    this.suspected.delete(node);
  }

  private refresh(node: number): void {
    this.deadlines.set(node, this.detector.deadline(node, this.maxSilenceMs, this.slowdown()) + this.allowanceOf(node));
  }

  /** The extra silence `node` is allowed now. */
  allowanceOf(node: number): number {
    return this.allowances.get(node) ?? 0;
  }

  /** The slowdown changed: every deadline is computed again (O(watched), and watched is a few). */
  refreshAll(): void {
    for (const node of this.deadlines.keys()) this.refresh(node);
    if (this.started && !this.confirming) this.schedule(this.clock.now());
  }

  /**
   * A suspicion was not confirmed (the node answered a probe, or nobody could tell): the node
   * is judged again, its silence counted from now.
   */
  acquit(node: number): void {
    if (!this.detector.has(node) || !this.suspected.delete(node)) return;
    this.detector.heartbeat(node, this.clock.now(), false);
    this.refresh(node);
    if (this.started && !this.confirming) this.schedule(this.clock.now());
  }

  /** The nodes watched now. */
  watched(): number[] {
    return this.detector.tracked();
  }

  /**
   * Records an arrival from `node`, which says it stalled for `stallMs` lately (stall-meter.ts);
   * false if it is not watched or already suspected. The timer moves to the new earliest
   * deadline in this same wake-up, so while every node beats it never fires.
   */
  heartbeat(node: number, stallMs = 0): boolean {
    if (!this.detector.has(node) || this.suspected.has(node)) return false;
    const now = this.clock.now();
    this.absorbStall(now);
    const allowance = Math.min(this.maxAllowanceMs, this.stallFactor * Math.max(0, stallMs));
    if (allowance > 0) this.allowances.set(node, allowance);
    else this.allowances.delete(node);
    this.detector.heartbeat(node, now, now >= this.graceUntil);
    this.refresh(node);
    if (this.started && !this.confirming) this.schedule(now);
    return true;
  }

  phi(node: number): number {
    return this.detector.phi(node, this.clock.now());
  }

  isSuspected(node: number): boolean {
    return this.suspected.has(node);
  }

  /** phi of every watched node now, for the dashboard (rounded: it is for people to read). */
  phis(): Record<string, number> {
    const now = this.clock.now();
    const out: Record<string, number> = {};
    for (const n of this.detector.tracked()) out[String(n)] = Math.round(this.detector.phi(n, now) * 100) / 100;
    return out;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.schedule(this.clock.now());
  }

  stop(): void {
    this.started = false;
    this.confirming = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    this.timer = undefined;
    const now = this.clock.now();
    this.absorbStall(now);
    if (this.verdicts(now).length === 0) return this.schedule(now);
    this.confirming = true;
    this.clock.defer(() => this.confirm());
  }

  private confirm(): void {
    if (!this.confirming) return; // stopped meanwhile
    this.confirming = false;
    const now = this.clock.now();
    const verdicts = this.verdicts(now);
    for (const v of verdicts) this.suspected.add(v.node);
    // Rescheduled before the callbacks, so a throwing onSuspect cannot stop the monitor.
    this.schedule(now);
    for (const v of verdicts) {
      // An earlier callback may have unwatched it.
      if (this.suspected.has(v.node)) this.onSuspect(v.node, v);
    }
  }

  /** O(watched): the nodes judged are the few this FMS watches (ring.ts), not the job. */
  private verdicts(now: number): SuspectInfo[] {
    const out: SuspectInfo[] = [];
    const slow = this.slowdown();
    for (const node of this.detector.tracked()) {
      if (this.suspected.has(node)) continue;
      const silenceMs = this.detector.silenceMs(node, now);
      // The silence a node's own stalls account for is not held against it.
      const allowanceMs = this.allowanceOf(node);
      const judged = Math.max(0, silenceMs - allowanceMs);
      const phi = this.detector.phiAfter(node, judged / slow);
      const reason = judged > slow * this.maxSilenceMs ? 'max_silence' : phi > this.detector.threshold ? 'phi' : undefined;
      if (reason) out.push({ node, phi, silenceMs, reason, allowanceMs, at: now });
    }
    return out;
  }

  /**
   * Wakes 1 ms past the earliest deadline, so that phi is strictly over the threshold or the
   * silence strictly over maxSilenceMs: the hard bound is met to the millisecond.
   */
  private schedule(now: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    let due = Infinity;
    for (const [node, d] of this.deadlines) if (!this.suspected.has(node)) due = Math.min(due, d + 1);
    this.nextDue = due;
    if (due === Infinity) return;
    due = Math.max(now, due);
    this.nextDue = due;
    this.timer = this.clock.setTimeout(() => this.tick(), due - now);
  }

  /**
   * If our own event loop was blocked (a loaded machine, a long GC, a synchronous step), the
   * heartbeats that arrived meanwhile are still queued behind this callback, and timers tend to
   * run before queued I/O: judging by last arrival now would blame peers for our stall. So the
   * time we overslept is not counted as their silence (their last arrivals move forward by it),
   * and for one interval the queued burst does not become inter-arrival samples, whose
   * near-zero gaps would make phi jumpy. A node that is really dead is still caught: its silence
   * keeps growing while we do run, so detection takes maxSilenceMs of our own running time.
   * Called from both the check and heartbeat(), whichever runs first after a stall. A stall that
   * ends before a deadline is late by the tolerance is not absorbed: the verdict's confirmation
   * after the queued I/O covers it.
   */
  private absorbStall(now: number): void {
    if (!this.running) return;
    const lag = now - this.nextDue;
    if (lag <= this.stallToleranceMs) return;
    this.detector.forgive(lag, now);
    // Reported before the deadlines are computed again, so a slowdown it causes applies to them.
    this.onStall(lag);
    for (const node of this.deadlines.keys()) this.refresh(node);
    this.nextDue = now;
    this.graceUntil = now + this.detector.intervalMs;
  }
}

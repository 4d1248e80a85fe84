import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * How long this process has recently been unable to run: the longest stall of its event loop
 * over the last `memoryMs`. Each FMS puts it in its heartbeats, so that the nodes watching it
 * allow it that much more silence (failure-detector.ts): a node that has just been starved for
 * a second (64 processes starting on 2 cores, a long GC, a host-wide CPU spike) may well be
 * starved again, and silence from it says less than silence from a node that has always
 * answered on time. A node that dies stops reporting, so its last word stands: the allowance it
 * earned is bounded, and it decays with the stalls it no longer has.
 */
export interface StallMeter {
  /** The longest stall in the last `memoryMs`, in ms (0: none worth speaking of). */
  recentMs(): number;
  stop(): void;
}

/** What a beat reports: whole steps of this much, so that heartbeats keep repeating byte for byte (datagram.ts caches them). */
export const STALL_STEP_MS = 100;

/** A stall as it travels: rounded up to a step, and 0 below one step (the detector's own tolerance covers those). */
export function quantizeStall(ms: number): number {
  return ms < STALL_STEP_MS ? 0 : Math.min(60_000, Math.ceil(ms / STALL_STEP_MS) * STALL_STEP_MS);
}

/** How long a stall is remembered: long enough to span a start-up or recovery storm, whatever N is. */
export const STALL_MEMORY_MS = 30_000;

/**
 * The real meter: Node's event-loop delay histograms, sampled by a libuv timer in C++ (no
 * JavaScript runs per sample, so they cost nothing measurable). A histogram that is reset
 * loses the first period after the reset (its next sample only sets the start), and a stall
 * in that period with it, so two are kept and reset in turn, a second apart: the one not just
 * reset always covers the last second. They are read when a beat goes out; the maxima are kept
 * per second for `memoryMs`.
 */
export class EventLoopStallMeter implements StallMeter {
  private readonly histograms: [IntervalHistogram, IntervalHistogram];
  private resetAt: number;
  private next = 0;
  /** The longest stall seen in each of the last seconds, ring-indexed by second. */
  private readonly perSecond: Float64Array;
  private readonly seconds: Float64Array;

  constructor(
    private readonly resolutionMs = 50,
    memoryMs = STALL_MEMORY_MS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.histograms = [monitorEventLoopDelay({ resolution: resolutionMs }), monitorEventLoopDelay({ resolution: resolutionMs })];
    for (const h of this.histograms) h.enable();
    this.resetAt = this.now();
    const slots = Math.max(1, Math.ceil(memoryMs / 1000));
    this.perSecond = new Float64Array(slots);
    this.seconds = new Float64Array(slots).fill(-1);
  }

  recentMs(): number {
    const now = this.now();
    // The samples are whole timer periods: a period on time is `resolution`, not 0.
    let latest = 0;
    for (const h of this.histograms) if (h.count > 0) latest = Math.max(latest, h.max / 1e6 - this.resolutionMs);
    if (now - this.resetAt >= 1000) {
      this.histograms[this.next]!.reset();
      this.next = 1 - this.next;
      this.resetAt = now;
    }
    const second = Math.floor(now / 1000);
    const slot = second % this.perSecond.length;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.perSecond[slot] = 0;
    }
    this.perSecond[slot] = Math.max(this.perSecond[slot]!, latest);
    let worst = 0;
    for (let i = 0; i < this.perSecond.length; i++) {
      if (second - this.seconds[i]! < this.perSecond.length) worst = Math.max(worst, this.perSecond[i]!);
    }
    return worst;
  }

  stop(): void {
    for (const h of this.histograms) h.disable();
  }
}

/** A process that never stalls (the simulator's nodes, unless a test says otherwise). */
export class SteadyMeter implements StallMeter {
  constructor(public stallMs = 0) {}
  recentMs(): number {
    return this.stallMs;
  }
  stop(): void {}
}

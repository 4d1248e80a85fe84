/**
 * Every member's compute time per step, and the members' median, learnt every few seconds from
 * one allreduce of Rollcall's own (like the replica pacer's: issued at a commit, the same point
 * on every member, before the program's next operation). Each member adds a one-hot histogram
 * of its compute time (log buckets, 8 per octave), so the sum is the members' distribution and
 * its median is known to every member to within 4.4 %: a fixed 2 KB whatever the number of
 * members, where an allgather of every member's time would grow with it. Each member then knows
 * its own time and the median, which is all its FMS needs to judge it (fms/straggler-watch.ts).
 *
 * The sum also carries every member's wall time per step, in integer microseconds, so every
 * member computes the same next exchange point (in commits) from the same figures: exchanges
 * stay `intervalMs` apart in time at any step time.
 */

/** Commits after a sync before measuring: the first steps after a rollback or a start are not typical. */
const WARM_COMMITS = 10;
/** The first measured window, in commits: it only sizes the next one, and is not reported. */
const FIRST_COMMITS = 10;
/** Fewest commits between exchanges: the answer is in before the next commit (see committed()). */
const MIN_GAP = 2;

export const BUCKETS_PER_OCTAVE = 8;
/** The lowest bucket starts at 2^-10 ms (about 1 µs); 30 octaves reach about 17 minutes per step. */
const LOW_LOG2 = -10;
export const BUCKETS = 30 * BUCKETS_PER_OCTAVE;

/** The histogram bucket of a compute time per step (ms); out-of-range times go to the end buckets. */
export function bucketOf(ms: number): number {
  if (!(ms > 0)) return 0;
  const b = Math.floor((Math.log2(ms) - LOW_LOG2) * BUCKETS_PER_OCTAVE);
  return Math.min(BUCKETS - 1, Math.max(0, b));
}

/** A bucket's middle (geometric), in ms: what the median is taken to be. */
export function bucketMs(b: number): number {
  return 2 ** (LOW_LOG2 + (b + 0.5) / BUCKETS_PER_OCTAVE);
}

/**
 * The members' median from the summed histogram: the lower median (with two members, the
 * faster one), so that a member is compared with the typical member, never with itself or a
 * slower one. Undefined for an empty histogram.
 */
export function histogramMedian(hist: ArrayLike<number>, buckets = BUCKETS): { medianMs: number; count: number } | undefined {
  let count = 0;
  for (let b = 0; b < buckets; b++) count += hist[b] as number;
  if (count < 1) return undefined;
  const k = Math.floor((count - 1) / 2);
  let seen = 0;
  for (let b = 0; b < buckets; b++) {
    seen += hist[b] as number;
    if (seen > k) return { medianMs: bucketMs(b), count };
  }
  return undefined;
}

export interface StragglerExchangeHost {
  generationOf(): number;
  /** An allreduce among the members that does not count as the program's operation (see PacerHost). */
  exchange(buf: Float64Array, op: 'sum'): Promise<Float64Array>;
  /** The program's compute time so far (compute-meter.ts). */
  computeMs(): number;
  now(): number;
  /** Tells the FMS this member's figures. */
  report(m: { generation: number; computeMs: number; medianMs: number; world: number; spanMs: number }): void;
}

export class StragglerExchange {
  /** Bumped by each restart: a late answer from before a sync is ignored. */
  private epoch = 0;
  private markAt = Infinity;
  private nextAt = Infinity;
  /** The window being measured: from this commit, with the compute time and clock then. */
  private from = { commit: 0, computeMs: 0, at: 0 };
  private first = true;
  private last = -1;

  constructor(
    private readonly intervalMs: number,
    private readonly host: StragglerExchangeHost,
  ) {}

  /** After a sync that restored (or made) `version`: measured again from a few commits on. */
  restart(version: number): void {
    this.epoch++;
    this.markAt = version + WARM_COMMITS;
    this.nextAt = Infinity;
  }

  /** Called by every commit, with its number (the same on every member). May start the exchange. */
  committed(version: number): void {
    this.last = version;
    if (version === this.markAt) {
      this.mark(version);
      this.first = true;
      this.nextAt = version + FIRST_COMMITS;
      return;
    }
    if (version !== this.nextAt) return;
    const steps = version - this.from.commit;
    const computeMs = (this.host.computeMs() - this.from.computeMs) / steps;
    const spanMs = this.host.now() - this.from.at;
    const wallMs = spanMs / steps;
    this.mark(version);
    this.nextAt = Infinity;
    const buf = new Float64Array(BUCKETS + 1);
    buf[bucketOf(computeMs)] = 1;
    buf[BUCKETS] = Math.round(wallMs * 1000);
    const epoch = this.epoch;
    const first = this.first;
    this.first = false;
    this.host.exchange(buf, 'sum').then(
      (r) => {
        if (epoch !== this.epoch) return;
        const m = histogramMedian(r);
        if (!m) return;
        // Integers summed exactly: every member computes the same gap from the same sum.
        const meanWallMs = (r[BUCKETS] as number) / 1000 / m.count;
        const gap = meanWallMs > 0 ? Math.min(1_000_000, Math.max(MIN_GAP, Math.ceil(this.intervalMs / meanWallMs))) : 1_000_000;
        // The answer comes before the program's next operation completes (operations complete in
        // the order issued), so before its next commit when a commit follows an operation, as
        // in any training loop. Were it ever later, this member stops exchanging until the next
        // sync rather than issue an exchange the others have moved past.
        if (this.last < version + gap) this.nextAt = version + gap;
        if (!first) this.host.report({ generation: this.host.generationOf(), computeMs, medianMs: m.medianMs, world: m.count, spanMs });
      },
      // A fault under the exchange: the sync that follows restarts it.
      () => undefined,
    );
  }

  private mark(version: number): void {
    this.from = { commit: version, computeMs: this.host.computeMs(), at: this.host.now() };
  }
}

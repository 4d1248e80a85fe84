import { openSync, readSync } from 'node:fs';

/**
 * What the further peers' replica stream costs the keeper thread (keeper-core.ts `toFurther`),
 * counted inside the job for `rollcall bench state --compare replicas`: the job's whole CPU moves
 * by tens of percent between rounds on a shared machine, far more than the 0.25 % a second peer
 * may cost (docs/benchmarks.md, "Corruption and double faults"), so the B arm counts its own.
 *
 * Two sides, each on the keeper thread where the work runs:
 * - sent: sealing a version (its checksums, unless the first peer's stream did it already) and
 *   framing and writing each push to the peers, for every version that goes on the stream;
 * - stored: on a peer, handling a push that came on that stream (finding the bytes it holds
 *   already, reading and copying and checking those it does not, keeping the replica).
 * Each synchronous stretch of that code is timed twice: its wall time (an upper bound of its
 * CPU: it includes any preemption), and this thread's CPU time from /proc/thread-self/schedstat
 * (Node 20 has no per-thread CPU clock; the kernel updates that figure at scheduler events and
 * ticks, so one reading may lag by up to a tick, but the lags do not add up over many). Not
 * counted: the kernel's and libuv's socket work outside JavaScript callbacks (a body larger than
 * the socket's buffer is written from the event loop later), and replies' parsing. Where the
 * peer holds the same bytes already (data-parallel weights) a push sends only its headers.
 *
 * Nothing is read unless a version goes on the stream: no cost per commit. A stretch costs two
 * readings of about 3.5 µs each (a push with no body, some 4 stretches on both sides; a body
 * adds a stretch per socket read on the receiver, some 64 for 4 MiB): counted in the B arm's
 * job CPU, and partly inside the stretches, so the accounting errs high, not low.
 */
export interface StreamSide {
  /** Versions sent on the stream, or replicas from it kept. */
  versions: number;
  /** Pushes made to peers (a version on the far lattice goes to every peer, the others to the further ones only), or received. */
  pushes: number;
  /** Body bytes sent, or received. */
  bytes: number;
  /** This thread's CPU in the timed stretches, from schedstat; NaN where it could not be read. */
  cpuUs: number;
  /** Wall time of the same stretches. */
  wallUs: number;
}

export interface FurtherStreamCost {
  sent: StreamSide;
  stored: StreamSide;
  /** The further peers' lattice when asked (replica-cadence.ts); undefined with one peer, or before it is chosen. */
  farEvery: number | undefined;
}

export const noSide = (): StreamSide => ({ versions: 0, pushes: 0, bytes: 0, cpuUs: 0, wallUs: 0 });
export const noCost = (): FurtherStreamCost => ({ sent: noSide(), stored: noSide(), farEvery: undefined });

/**
 * This thread's schedstat, opened once per thread (each worker thread has its own module
 * instance; /proc/thread-self resolves at open to the thread that opens it) and read again at
 * offset 0: about 3.5 µs a reading, against 17 µs to open, read and close it each time. Null
 * where there is none (not Linux). Kept open for the thread's life: one descriptor.
 */
let schedstat: number | null | undefined;
const reading = Buffer.alloc(96);

/** CPU µs this thread has run so far, or undefined where /proc cannot tell. Read synchronously: on the calling thread. */
export function thisThreadCpuUs(): number | undefined {
  try {
    schedstat ??= openSync('/proc/thread-self/schedstat', 'r');
    if (schedstat === null) return undefined;
    const n = readSync(schedstat, reading, 0, reading.length, 0);
    const f = reading.toString('latin1', 0, n);
    return Number(f.slice(0, f.indexOf(' '))) / 1e3;
  } catch {
    schedstat = null;
    return undefined;
  }
}

/** Times synchronous stretches into one side's counters. Nested stretches count once, at the outermost. */
export class StretchMeter {
  private depth = 0;

  constructor(
    private readonly cpuUs: () => number | undefined = thisThreadCpuUs,
    private readonly wallMs: () => number = () => performance.now(),
  ) {}

  time<T>(side: StreamSide, f: () => T): T {
    if (this.depth > 0) return f();
    this.depth += 1;
    const c0 = this.cpuUs();
    const w0 = this.wallMs();
    try {
      return f();
    } finally {
      const w1 = this.wallMs();
      const c1 = this.cpuUs();
      this.depth -= 1;
      side.wallUs += (w1 - w0) * 1000;
      side.cpuUs += c0 === undefined || c1 === undefined ? NaN : c1 - c0;
    }
  }
}

// A count that crossed JSON (a job's result) has its NaN as null, which arithmetic would take for 0.
const n = (x: unknown): number => (typeof x === 'number' ? x : NaN);
const KEYS = ['versions', 'pushes', 'bytes', 'cpuUs', 'wallUs'] as const;
const combine = (a: StreamSide, b: StreamSide, sign: 1 | -1): StreamSide => {
  const out = noSide();
  for (const k of KEYS) out[k] = n(a[k]) + sign * n(b[k]);
  return out;
};
const sideLess = (a: StreamSide, b: StreamSide): StreamSide => combine(a, b, -1);
const sidePlus = (a: StreamSide, b: StreamSide): StreamSide => combine(a, b, 1);

/** What was counted between two readings of the same keeper (the later one's lattice). */
export function costSince(now: FurtherStreamCost, then: FurtherStreamCost): FurtherStreamCost {
  return { sent: sideLess(now.sent, then.sent), stored: sideLess(now.stored, then.stored), farEvery: now.farEvery };
}

/** Several keepers' counts summed (a job's nodes); the lattice is the same on every member, so the first known one is kept. */
export function costSum(costs: readonly FurtherStreamCost[]): FurtherStreamCost {
  return costs.reduce((s, c) => ({ sent: sidePlus(s.sent, c.sent), stored: sidePlus(s.stored, c.stored), farEvery: s.farEvery ?? c.farEvery }), noCost());
}

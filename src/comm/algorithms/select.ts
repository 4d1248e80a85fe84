import type { NumericArray, ReduceOp } from '../dtype.js';
import type { CommTuning } from '../communicator.js';
import { BinomialBroadcastRun } from './binomial-broadcast.js';
import { BruckAllgatherRun } from './bruck-allgather.js';
import type { CollectiveRun, RunContext, RunSignature } from './collective-run.js';
import { DisseminationBarrierRun } from './dissemination-barrier.js';
import { HalvingDoublingRun } from './halving-doubling.js';
import { RecursiveDoublingRun } from './recursive-doubling.js';
import { ChainBroadcastRun, RingRun } from './ring.js';

/**
 * Which algorithm runs a collective, from its size and the world. Every choice talks only to
 * ring neighbours, log2 R partners (plus one folded rank) or tree parent and children, so a
 * rank's partners, and the connections it needs, stay O(log R) on any world.
 */
export type AlgorithmTuning = Pick<CommTuning, 'smallBytes' | 'doublingMaxBytes' | 'halvingMaxBytes'>;

export function allreduceRun(ctx: RunContext, sig: RunSignature, buf: NumericArray, op: ReduceOp, t: AlgorithmTuning): CollectiveRun {
  const bytes = buf.byteLength;
  const world = ctx.world;
  // Not recursive doubling above smallBytes at 2 or 3 ranks: the ring's two half-size steps
  // were as fast or faster at 2 (docs/benchmarks.md, "Tuning choices").
  if (bytes <= t.smallBytes || world === 1 || (bytes <= t.doublingMaxBytes && world >= 4)) return new RecursiveDoublingRun(ctx, sig, buf, op);
  if (bytes <= t.halvingMaxBytes && world >= 4) return new HalvingDoublingRun(ctx, sig, buf, op);
  return new RingRun(ctx, sig, buf, { reduce: op, gather: true });
}

export function broadcastRun(ctx: RunContext, sig: RunSignature, buf: NumericArray, root: number, t: AlgorithmTuning): CollectiveRun {
  return buf.byteLength > t.smallBytes ? new ChainBroadcastRun(ctx, sig, buf, root) : new BinomialBroadcastRun(ctx, sig, buf, root);
}

/** `output` is world × input.length elements. */
export function allgatherRun(ctx: RunContext, sig: RunSignature, input: NumericArray, output: NumericArray, t: AlgorithmTuning): CollectiveRun {
  if (output.byteLength <= t.smallBytes || ctx.world === 1) return new BruckAllgatherRun(ctx, sig, input, output);
  output.set(input, ctx.rank * input.length);
  return new RingRun(ctx, sig, output, { reduce: undefined, gather: true });
}

/**
 * Small reduce-scatters run as an allreduce of the whole buffer, which leaves every segment
 * reduced, ours included: log2 R rounds of a small buffer beat R-1 ring steps of tiny ones.
 */
export function reduceScatterRun(ctx: RunContext, sig: RunSignature, buf: NumericArray, op: ReduceOp, t: AlgorithmTuning): CollectiveRun {
  if (buf.byteLength <= t.smallBytes || ctx.world === 1) return new RecursiveDoublingRun(ctx, sig, buf, op);
  return new RingRun(ctx, sig, buf, { reduce: op, gather: false });
}

export function barrierRun(ctx: RunContext, sig: RunSignature): CollectiveRun {
  return new DisseminationBarrierRun(ctx, sig);
}

import { asBytes, finishAvg, reduceInto, viewOf, type NumericArray, type ReduceOp } from '../dtype.js';
import type { FrameHeader } from '../frame.js';
import { CollectiveRun, segStart, type RunContext, type RunSignature } from './collective-run.js';

/**
 * Latency-optimal collectives for small buffers: every rank sends its piece straight to the
 * ranks that need it, one round, no forwarding. Reductions then run locally in rank order
 * 0, 1, ..., R-1, so every rank computes the very same bits.
 */
abstract class DirectRun extends CollectiveRun {
  protected readonly got = new Map<number, Uint8Array>();

  constructor(
    ctx: RunContext,
    sig: RunSignature,
    private readonly sources: readonly number[],
    private readonly expectElems: number,
  ) {
    super(ctx, sig);
  }

  protected override start(): void {
    this.expectFrames(this.sources.length);
    this.sendAll();
  }

  protected abstract sendAll(): void;

  onFrame(from: number, _h: FrameHeader, payload: Uint8Array): void {
    if (!this.sources.includes(from) || this.got.has(from)) throw this.badFrame(from, 'unexpected or duplicate frame');
    this.checkLength(from, payload, this.expectElems);
    // Kept until every contribution is in; the decoder reuses the memory, so copy (small by design).
    this.got.set(from, payload.slice());
    this.frameDone();
  }

  waitingOn(): number[] {
    return this.sources.filter((r) => !this.got.has(r));
  }

  protected contribution(rank: number, own: NumericArray): NumericArray {
    return rank === this.ctx.rank ? own : viewOf(this.sig.dtype, this.got.get(rank)!);
  }
}

function others(ctx: RunContext): number[] {
  return Array.from({ length: ctx.world }, (_, i) => i).filter((i) => i !== ctx.rank);
}

/** Reduces contributions 0..R-1 in order into a fresh array. */
function reduceInOrder(world: number, op: ReduceOp, part: (rank: number) => NumericArray): NumericArray {
  const acc = part(0).slice();
  for (let j = 1; j < world; j++) reduceInto(acc, part(j), op);
  if (op === 'avg') finishAvg(acc, world);
  return acc;
}

export class DirectAllreduceRun extends DirectRun {
  constructor(
    ctx: RunContext,
    sig: RunSignature,
    private readonly buf: NumericArray,
    private readonly op: ReduceOp,
  ) {
    super(ctx, sig, others(ctx), buf.length);
  }

  protected sendAll(): void {
    const bytes = asBytes(this.buf);
    for (const j of others(this.ctx)) this.send(j, 0, 0, bytes);
  }

  protected override finish(): void {
    // Safe to overwrite buf: every send that referenced it has been flushed.
    this.buf.set(reduceInOrder(this.ctx.world, this.op, (j) => this.contribution(j, this.buf)));
  }
}

export class DirectReduceScatterRun extends DirectRun {
  private readonly lo: number;
  private readonly hi: number;

  constructor(
    ctx: RunContext,
    sig: RunSignature,
    private readonly buf: NumericArray,
    private readonly op: ReduceOp,
  ) {
    const lo = segStart(ctx.rank, buf.length, ctx.world);
    const hi = segStart(ctx.rank + 1, buf.length, ctx.world);
    super(ctx, sig, others(ctx), hi - lo);
    this.lo = lo;
    this.hi = hi;
  }

  protected sendAll(): void {
    const n = this.buf.length;
    const w = this.ctx.world;
    for (const j of others(this.ctx)) this.send(j, 0, 0, asBytes(this.buf, segStart(j, n, w), segStart(j + 1, n, w)));
  }

  protected override finish(): void {
    const mine = this.buf.subarray(this.lo, this.hi) as NumericArray;
    this.buf.set(reduceInOrder(this.ctx.world, this.op, (j) => this.contribution(j, mine)), this.lo);
  }
}

export class DirectAllgatherRun extends DirectRun {
  constructor(
    ctx: RunContext,
    sig: RunSignature,
    private readonly input: NumericArray,
    private readonly output: NumericArray,
  ) {
    super(ctx, sig, others(ctx), input.length);
  }

  protected sendAll(): void {
    const bytes = asBytes(this.input);
    for (const j of others(this.ctx)) this.send(j, 0, 0, bytes);
  }

  protected override finish(): void {
    const n = this.input.length;
    for (let j = 0; j < this.ctx.world; j++) this.output.set(this.contribution(j, this.input), j * n);
  }
}

export class DirectBroadcastRun extends DirectRun {
  constructor(
    ctx: RunContext,
    sig: RunSignature,
    private readonly buf: NumericArray,
    private readonly root: number,
  ) {
    super(ctx, sig, ctx.rank === root ? [] : [root], buf.length);
  }

  protected sendAll(): void {
    if (this.ctx.rank !== this.root) return;
    const bytes = asBytes(this.buf);
    for (const j of others(this.ctx)) this.send(j, 0, 0, bytes);
  }

  protected override finish(): void {
    if (this.ctx.rank !== this.root) this.buf.set(this.contribution(this.root, this.buf));
  }
}

export class BarrierRun extends DirectRun {
  constructor(ctx: RunContext, sig: RunSignature) {
    super(ctx, sig, others(ctx), 0);
  }

  protected sendAll(): void {
    const empty = new Uint8Array(0);
    for (const j of others(this.ctx)) this.send(j, 0, 0, empty);
  }
}

import { asBytes, finishAvg, reduceInto, viewOf, type NumericArray, type ReduceOp } from '../dtype.js';
import type { FrameHeader } from '../frame.js';
import { CollectiveRun, segStart, type RunContext, type RunSignature } from './collective-run.js';

/**
 * Latency-optimal collectives for small buffers: every rank sends its piece straight to the
 * ranks that need it, one round, no forwarding.
 */
const EMPTY = new Uint8Array(0);

abstract class DirectRun extends CollectiveRun {
  /** arrived[r] is 1 once rank r's frame is in. */
  private readonly arrived: Uint8Array;
  private readonly isSource: Uint8Array;

  constructor(
    ctx: RunContext,
    sig: RunSignature,
    private readonly sources: readonly number[],
    private readonly expectElems: number,
  ) {
    super(ctx, sig);
    this.arrived = new Uint8Array(ctx.world);
    this.isSource = new Uint8Array(ctx.world);
    for (const r of sources) this.isSource[r] = 1;
  }

  protected override start(): void {
    this.expectFrames(this.sources.length);
    this.sendAll();
  }

  protected abstract sendAll(): void;
  /** Consumes one contribution; `data` is valid only during the call. */
  protected abstract accept(from: number, data: NumericArray): void;

  onFrame(from: number, _h: FrameHeader, payload: Uint8Array): void {
    if (this.isSource[from] !== 1 || this.arrived[from] === 1) throw this.badFrame(from, 'unexpected or duplicate frame');
    this.checkLength(from, payload, this.expectElems);
    this.arrived[from] = 1;
    this.accept(from, viewOf(this.sig.dtype, payload));
    this.frameDone();
  }

  waitingOn(): number[] {
    return this.sources.filter((r) => this.arrived[r] !== 1);
  }
}

/**
 * Folds contributions strictly in rank order 0, 1, ..., R-1, whatever order they arrive in, so
 * every rank computes the very same bits. A contribution that arrives early is copied aside;
 * one that arrives in turn is reduced straight from the receive buffer.
 */
class OrderedFold {
  private readonly accBytes: Uint8Array;
  private readonly acc: NumericArray;
  private readonly waiting = new Map<number, NumericArray>();
  private next = 0;

  constructor(
    private readonly ctx: RunContext,
    private readonly op: ReduceOp,
    like: NumericArray,
    dtype: RunSignature['dtype'],
  ) {
    // Pooled: a fresh accumulator per call made the garbage collector a tenth of the time.
    this.accBytes = ctx.pool.take(like.byteLength);
    this.acc = viewOf(dtype, this.accBytes, 0, like.length);
  }

  /** `stable` data (our own buffer) is kept by reference; received data is copied if early. */
  add(rank: number, data: NumericArray, stable = false): void {
    if (rank !== this.next) {
      this.waiting.set(rank, stable ? data : data.slice());
      return;
    }
    this.fold(data);
    for (let d = this.waiting.get(this.next); d; d = this.waiting.get(this.next)) {
      this.waiting.delete(this.next);
      this.fold(d);
    }
  }

  private fold(data: NumericArray): void {
    if (this.next === 0) this.acc.set(data);
    else reduceInto(this.acc, data, this.op);
    this.next++;
  }

  /** Hands the result to `use`, then returns the accumulator to the pool. */
  finish(use: (result: NumericArray) => void): void {
    if (this.op === 'avg') finishAvg(this.acc, this.ctx.world);
    use(this.acc);
    this.ctx.pool.release(this.accBytes);
  }
}

export class DirectAllreduceRun extends DirectRun {
  private readonly fold: OrderedFold;

  constructor(
    ctx: RunContext,
    sig: RunSignature,
    private readonly buf: NumericArray,
    op: ReduceOp,
  ) {
    super(ctx, sig, ctx.others, buf.length);
    this.fold = new OrderedFold(ctx, op, buf, sig.dtype);
  }

  protected sendAll(): void {
    const bytes = asBytes(this.buf);
    for (const j of this.ctx.others) this.send(j, 0, 0, bytes);
    this.fold.add(this.ctx.rank, this.buf, true);
  }

  protected accept(from: number, data: NumericArray): void {
    this.fold.add(from, data);
  }

  protected override finish(): void {
    // Safe to overwrite buf now: every send that referenced it has been flushed.
    this.fold.finish((r) => this.buf.set(r));
  }
}

export class DirectReduceScatterRun extends DirectRun {
  private readonly lo: number;
  private readonly fold: OrderedFold;

  constructor(
    ctx: RunContext,
    sig: RunSignature,
    private readonly buf: NumericArray,
    op: ReduceOp,
  ) {
    const lo = segStart(ctx.rank, buf.length, ctx.world);
    const hi = segStart(ctx.rank + 1, buf.length, ctx.world);
    super(ctx, sig, ctx.others, hi - lo);
    this.lo = lo;
    this.fold = new OrderedFold(ctx, op, buf.subarray(lo, hi) as NumericArray, sig.dtype);
  }

  protected sendAll(): void {
    const n = this.buf.length;
    const w = this.ctx.world;
    for (const j of this.ctx.others) this.send(j, 0, 0, asBytes(this.buf, segStart(j, n, w), segStart(j + 1, n, w)));
    this.fold.add(this.ctx.rank, this.buf.subarray(this.lo, segStart(this.ctx.rank + 1, n, w)) as NumericArray, true);
  }

  protected accept(from: number, data: NumericArray): void {
    this.fold.add(from, data);
  }

  protected override finish(): void {
    this.fold.finish((r) => this.buf.set(r, this.lo));
  }
}

export class DirectAllgatherRun extends DirectRun {
  constructor(
    ctx: RunContext,
    sig: RunSignature,
    private readonly input: NumericArray,
    private readonly output: NumericArray,
  ) {
    super(ctx, sig, ctx.others, input.length);
  }

  protected sendAll(): void {
    const bytes = asBytes(this.input);
    for (const j of this.ctx.others) this.send(j, 0, 0, bytes);
    this.output.set(this.input, this.ctx.rank * this.input.length);
  }

  protected accept(from: number, data: NumericArray): void {
    this.output.set(data, from * this.input.length);
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
    for (const j of this.ctx.others) this.send(j, 0, 0, bytes);
  }

  protected accept(_from: number, data: NumericArray): void {
    // Only non-roots receive, and their buffer is not being sent, so it can be filled at once.
    this.buf.set(data);
  }
}

export class BarrierRun extends DirectRun {
  constructor(ctx: RunContext, sig: RunSignature) {
    super(ctx, sig, ctx.others, 0);
  }

  protected sendAll(): void {
    for (const j of this.ctx.others) this.send(j, 0, 0, EMPTY);
  }

  protected accept(): void {}
}

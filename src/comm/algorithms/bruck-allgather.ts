import { asBytes, viewOf, type NumericArray } from '../dtype.js';
import { mod, type RunContext, type RunSignature } from './collective-run.js';
import { LogRoundsRun } from './log-rounds.js';

/**
 * Small allgather on any world (Bruck et al.): ceil(log2 R) rounds. A scratch buffer starts
 * with this rank's block; in round k (d = 2^k) the rank sends its first min(d, R-d) blocks to
 * rank - d and receives as many from rank + d, placed at block d. Afterwards block i of the
 * scratch is rank (rank+i)'s, and one rotation puts them in rank order. Each rank talks to
 * 2·ceil(log2 R) others, against R-1 for sending to everyone.
 *
 * Rounds land in disjoint parts of the scratch, so a frame that runs ahead of ours is written
 * at once; round k+1 is sent only when rounds 0..k are in, and what it sends lies below
 * every later round's landing place, so no pending send is overwritten.
 */
export class BruckAllgatherRun extends LogRoundsRun {
  protected readonly what = 'allgather';
  private readonly scratchBytes: Uint8Array;
  private readonly scratch: NumericArray;

  constructor(
    ctx: RunContext,
    sig: RunSignature,
    private readonly input: NumericArray,
    private readonly output: NumericArray,
  ) {
    super(ctx, sig);
    this.scratchBytes = ctx.pool.take(output.byteLength);
    this.scratch = viewOf(sig.dtype, this.scratchBytes, 0, output.length);
  }

  /** Blocks moved in round k. */
  private blocks(k: number): number {
    return Math.min(2 ** k, this.ctx.world - 2 ** k);
  }

  protected to(k: number): number {
    return mod(this.ctx.rank - 2 ** k, this.ctx.world);
  }

  protected from(k: number): number {
    return mod(this.ctx.rank + 2 ** k, this.ctx.world);
  }

  protected override start(): void {
    this.scratch.set(this.input);
    super.start();
  }

  protected payload(k: number): Uint8Array {
    return asBytes(this.scratch, 0, this.blocks(k) * this.input.length);
  }

  protected receive(from: number, k: number, payload: Uint8Array): void {
    const n = this.input.length;
    this.checkLength(from, payload, this.blocks(k) * n);
    this.scratch.set(viewOf(this.sig.dtype, payload), 2 ** k * n);
  }

  protected override finish(): void {
    // Scratch block i is rank (rank+i)'s: rotate into rank order.
    const n = this.input.length;
    const head = (this.ctx.world - this.ctx.rank) * n;
    this.output.set(this.scratch.subarray(0, head), this.ctx.rank * n);
    this.output.set(this.scratch.subarray(head), 0);
    this.ctx.pool.release(this.scratchBytes);
  }
}

import { asBytes, viewOf, type NumericArray } from '../dtype.js';
import type { FrameHeader } from '../frame.js';
import { CollectiveRun, mod, type RunContext, type RunSignature } from './collective-run.js';

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
export class BruckAllgatherRun extends CollectiveRun {
  private readonly rounds = this.ctx.world > 1 ? Math.ceil(Math.log2(this.ctx.world)) : 0;
  private readonly got = new Uint8Array(this.rounds);
  private sent = 0;
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

  private from(k: number): number {
    return mod(this.ctx.rank + 2 ** k, this.ctx.world);
  }

  protected start(): void {
    this.scratch.set(this.input);
    this.expectFrames(this.rounds);
    this.advance();
  }

  private advance(): void {
    const n = this.input.length;
    while (this.sent < this.rounds && (this.sent === 0 || this.got[this.sent - 1] === 1)) {
      const k = this.sent++;
      this.send(mod(this.ctx.rank - 2 ** k, this.ctx.world), k, 0, asBytes(this.scratch, 0, this.blocks(k) * n));
    }
  }

  onFrame(from: number, h: FrameHeader, payload: Uint8Array): void {
    const k = h.step;
    if (k >= this.rounds || from !== this.from(k) || this.got[k] === 1) throw this.badFrame(from, `unexpected allgather frame for round ${k}`);
    const n = this.input.length;
    this.checkLength(from, payload, this.blocks(k) * n);
    this.scratch.set(viewOf(this.sig.dtype, payload), 2 ** k * n);
    this.got[k] = 1;
    this.advance();
    this.frameDone();
  }

  waitingOn(): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.rounds; k++) if (this.got[k] !== 1) out.push(this.from(k));
    return out;
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

import { asBytes, viewOf, type NumericArray } from '../dtype.js';
import type { FrameHeader } from '../frame.js';
import { CollectiveRun, mod, type RunContext, type RunSignature } from './collective-run.js';

/**
 * Small broadcast on any world: a binomial tree rooted at `root`. With v = (rank - root) mod R,
 * a rank's parent is v with its lowest set bit cleared, and its children are v + 2^j for every
 * 2^j below that bit (every 2^j < R for the root), sent largest subtree first. ceil(log2 R)
 * steps deep; each rank talks to its parent and at most log2 R children, not the root to all.
 */
export class BinomialBroadcastRun extends CollectiveRun {
  private readonly v: number;
  private readonly parent: number;

  constructor(
    ctx: RunContext,
    sig: RunSignature,
    private readonly buf: NumericArray,
    private readonly root: number,
  ) {
    super(ctx, sig);
    this.v = mod(ctx.rank - root, ctx.world);
    this.parent = this.v === 0 ? -1 : this.rankOf(this.v & (this.v - 1));
  }

  private rankOf(v: number): number {
    return (v + this.root) % this.ctx.world;
  }

  /** Children's relative ranks, largest subtree first. */
  private children(): number[] {
    const low = this.v === 0 ? 2 ** Math.ceil(Math.log2(Math.max(1, this.ctx.world))) : this.v & -this.v;
    const out: number[] = [];
    for (let m = low >> 1; m >= 1; m >>= 1) if (this.v + m < this.ctx.world) out.push(this.v + m);
    return out;
  }

  private forward(): void {
    const bytes = asBytes(this.buf);
    for (const c of this.children()) this.send(this.rankOf(c), 0, 0, bytes);
  }

  protected start(): void {
    if (this.parent < 0) this.forward();
    else this.expectFrames(1);
  }

  onFrame(from: number, _h: FrameHeader, payload: Uint8Array): void {
    if (from !== this.parent || !this.expecting) throw this.badFrame(from, `broadcast frame from rank ${from}, expected one from rank ${this.parent}`);
    this.checkLength(from, payload, this.buf.length);
    // Our buffer is not being sent yet (we send only after receiving), so it can be filled at once.
    this.buf.set(viewOf(this.sig.dtype, payload));
    this.forward();
    this.frameDone();
  }

  waitingOn(): number[] {
    return this.expecting ? [this.parent] : [];
  }
}

import type { NumericArray, ReduceOp } from '../dtype.js';
import type { FrameHeader } from '../frame.js';
import { CollectiveRun, type RunContext, type RunSignature } from './collective-run.js';

/**
 * Rounds in which every rank exchanges one frame with one partner, as in recursive doubling:
 * round `round` is handled only after the ones before it. A partner may run a round ahead of
 * us (it finished its previous round with someone else first): its frame is kept, copied,
 * until ours catches up.
 */
export abstract class PairwiseRoundsRun extends CollectiveRun {
  /** log2 of the world: partners are 1, 2, 4, ... ranks apart. */
  protected readonly levels: number;
  /** Rounds done. */
  protected round = 0;
  private readonly ahead: (Uint8Array | undefined)[] = [];

  constructor(
    ctx: RunContext,
    sig: RunSignature,
    protected readonly buf: NumericArray,
    protected readonly op: ReduceOp,
  ) {
    super(ctx, sig);
    this.levels = Math.log2(ctx.world);
  }

  /** Power-of-two worlds of 4 or more: with 2 ranks there is one partner, and the ring is that already. */
  static fits(world: number): boolean {
    return world >= 4 && (world & (world - 1)) === 0;
  }

  protected abstract get totalRounds(): number;
  protected abstract partner(round: number): number;
  /** Elements the current round's frame must carry. */
  protected abstract expectedElems(round: number): number;
  /** Consumes the current round's frame: must advance `round`, send the next, and call frameDone(). */
  protected abstract take(payload: Uint8Array): void;

  onFrame(from: number, h: FrameHeader, payload: Uint8Array): void {
    const round = h.step;
    if (round < this.round || round >= this.totalRounds || from !== this.partner(round) || this.ahead[round]) {
      throw this.badFrame(from, `unexpected frame for round ${round}`);
    }
    if (round > this.round) {
      this.ahead[round] = this.ctx.pool.copy(payload);
      return;
    }
    this.consume(from, payload);
    for (let p = this.ahead[this.round]; p; p = this.ahead[this.round]) {
      this.ahead[this.round] = undefined;
      try {
        this.consume(this.partner(this.round), p);
      } finally {
        this.ctx.pool.release(p);
      }
    }
  }

  /** The length is checked here, not on arrival: what a round expects may depend on the rounds before it. */
  private consume(from: number, payload: Uint8Array): void {
    this.checkLength(from, payload, this.expectedElems(this.round));
    this.take(payload);
  }

  waitingOn(): number[] {
    return this.expecting ? [this.partner(this.round)] : [];
  }
}

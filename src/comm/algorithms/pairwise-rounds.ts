import { asBytes, reduceInto, viewOf, type NumericArray, type ReduceOp } from '../dtype.js';
import type { FrameHeader } from '../frame.js';
import { CollectiveRun, type RunContext, type RunSignature } from './collective-run.js';
import { Fold, FoldRole } from './fold.js';

/**
 * Rounds in which every core rank exchanges one frame with one partner, as in recursive
 * doubling, on any world: the power-of-two core runs the rounds, and the ranks beyond it are
 * folded in before and handed the result after (fold.ts). Wire steps: 0 is the fold-in (spare
 * to host), 1..T the core rounds, T+1 the hand-back (host to spare). A step is handled only
 * after the ones before it; a partner may run a step ahead of us (it finished its previous
 * round with someone else first): its frame is kept, copied, until ours catches up.
 */
export abstract class PairwiseRoundsRun extends CollectiveRun {
  protected readonly fold: Fold;
  /** Core rounds done. */
  protected round = 0;
  /** The steps this rank receives, in the order it handles them. */
  private steps: number[] = [];
  private next = 0;
  private readonly ahead = new Map<number, Uint8Array>();

  constructor(
    ctx: RunContext,
    sig: RunSignature,
    protected readonly buf: NumericArray,
    protected readonly op: ReduceOp,
  ) {
    super(ctx, sig);
    this.fold = new Fold(ctx.rank, ctx.world);
  }

  /** log2 of the core: its partners are 1, 2, 4, ... core ranks apart. */
  protected get levels(): number {
    return this.fold.levels;
  }

  protected abstract get coreRounds(): number;
  /** The core rank this one exchanges with in core round `round`. */
  protected abstract corePartner(round: number): number;
  /** Elements core round `round`'s frame must carry. */
  protected abstract expectedElems(round: number): number;
  /** Makes the first core round's send (there is at least one round). */
  protected abstract startCore(): void;
  /**
   * Consumes the current core round's frame: must advance `round` and make the next round's
   * send, if any. After the last round, `result()` must hold the final bits (avg divided).
   */
  protected abstract take(payload: Uint8Array): void;
  /** The whole result, once the core rounds are done: what a host hands back to its spare. */
  protected abstract result(): NumericArray;

  /** The rank this one exchanges with in core round `round`. */
  protected partner(round: number): number {
    return this.fold.rankOf(this.corePartner(round));
  }

  private get backStep(): number {
    return this.coreRounds + 1;
  }

  protected start(): void {
    const rounds = Array.from({ length: this.coreRounds }, (_, i) => i + 1);
    const role = this.fold.role;
    this.steps = role === FoldRole.Spare ? [this.backStep] : role === FoldRole.Host ? [0, ...rounds] : rounds;
    this.expectFrames(this.steps.length);
    if (role === FoldRole.Spare) this.send(this.fold.buddy, 0, 0, asBytes(this.buf));
    else if (role === FoldRole.Core && this.coreRounds > 0) this.startCore();
  }

  /** Who sends this rank the frame of wire step `step`. */
  private senderOf(step: number): number {
    return step === 0 || step === this.backStep ? this.fold.buddy : this.partner(step - 1);
  }

  onFrame(from: number, h: FrameHeader, payload: Uint8Array): void {
    const step = h.step;
    const at = this.steps.indexOf(step);
    if (at < this.next || this.ahead.has(step) || from !== this.senderOf(step)) {
      throw this.badFrame(from, `unexpected frame for step ${step}`);
    }
    if (at > this.next) {
      this.ahead.set(step, this.ctx.pool.copy(payload));
      return;
    }
    this.consume(from, step, payload);
    for (let p = this.ahead.get(this.steps[this.next]!); p; p = this.ahead.get(this.steps[this.next]!)) {
      const s = this.steps[this.next]!;
      this.ahead.delete(s);
      try {
        this.consume(this.senderOf(s), s, p);
      } finally {
        this.ctx.pool.release(p);
      }
    }
  }

  /** The length is checked here, not on arrival: what a round expects may depend on the rounds before it. */
  private consume(from: number, step: number, payload: Uint8Array): void {
    this.next++;
    if (step === 0) {
      // A host takes in its spare's buffer (host op spare) before its first core round.
      this.checkLength(from, payload, this.buf.length);
      reduceInto(this.buf, viewOf(this.sig.dtype, payload), this.op);
      this.startCore();
    } else if (step === this.backStep) {
      // A spare receives the result. Its own send of buf was consumed by now (the result
      // depends on it), so buf may be overwritten.
      this.checkLength(from, payload, this.buf.length);
      this.buf.set(viewOf(this.sig.dtype, payload));
    } else {
      this.checkLength(from, payload, this.expectedElems(this.round));
      this.take(payload);
      if (this.round === this.coreRounds && this.fold.role === FoldRole.Host) {
        this.send(this.fold.buddy, this.backStep, 0, asBytes(this.result()));
      }
    }
    this.frameDone();
  }

  waitingOn(): number[] {
    return this.expecting ? [this.senderOf(this.steps[this.next]!)] : [];
  }
}

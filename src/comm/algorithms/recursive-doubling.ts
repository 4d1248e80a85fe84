import { asBytes, finishAvg, reduceInto, viewOf, type NumericArray } from '../dtype.js';
import { PairwiseRoundsRun } from './pairwise-rounds.js';

/**
 * Small allreduce on any world: log2(p) rounds on the power-of-two core, one frame each way per
 * round (round j pairs core rank c with c XOR 2^j), the ranks beyond the core folded in before
 * and handed the result after (fold.ts). Sending every rank's buffer to every rank instead
 * costs each rank R-1 sends and R-1 wake-ups per call; with 4 ranks on 2 cores those syscalls
 * were the whole cost, and at thousands of ranks they would be R² frames. A host first computes
 * (host op spare); each round then combines (lower half's value) op (upper half's value), and
 * both halves hold the same bits on every member by induction, so every rank ends with the
 * same bits, on every run: the result is a balanced tree over the core ranks, in their order.
 */
export class RecursiveDoublingRun extends PairwiseRoundsRun {
  /** One pooled buffer per round's result: a round's input may still be in flight. */
  private readonly scratch: Uint8Array[] = [];
  private acc: NumericArray = this.buf;

  protected get coreRounds(): number {
    return this.levels;
  }

  protected expectedElems(): number {
    return this.buf.length;
  }

  protected corePartner(round: number): number {
    return this.fold.coreRank ^ (1 << round);
  }

  protected startCore(): void {
    this.send(this.partner(0), 1, 0, asBytes(this.acc));
  }

  protected take(payload: Uint8Array): void {
    const dtype = this.sig.dtype;
    const theirs = viewOf(dtype, payload);
    const bytes = this.ctx.pool.take(this.buf.byteLength);
    this.scratch.push(bytes);
    const next = viewOf(dtype, bytes, 0, this.buf.length);
    const lower = this.fold.coreRank < this.corePartner(this.round);
    next.set(lower ? this.acc : theirs);
    reduceInto(next, lower ? theirs : this.acc, this.op);
    this.acc = next;
    this.round++;
    if (this.round < this.coreRounds) this.send(this.partner(this.round), this.round + 1, 0, asBytes(next));
    // The last round's result is sent to no core partner: divide it here, once, so a host
    // hands its spare the very bits it keeps.
    else if (this.op === 'avg') finishAvg(next, this.ctx.world);
  }

  protected result(): NumericArray {
    return this.acc;
  }

  protected override finish(): void {
    // Every send has flushed by now, so buf may be overwritten.
    if (this.acc !== this.buf) this.buf.set(this.acc);
    for (const b of this.scratch) this.ctx.pool.release(b);
  }
}

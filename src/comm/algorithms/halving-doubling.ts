import { asBytes, finishAvg, reduceInto, viewOf, type NumericArray } from '../dtype.js';
import { segStart } from './collective-run.js';
import { PairwiseRoundsRun } from './pairwise-rounds.js';

/**
 * Medium allreduce for a world of 4 or more (Rabenseifner's): a reduce-scatter by recursive
 * halving, then an allgather by recursive doubling, on the power-of-two core p, the ranks beyond
 * it folded in before and handed the result after (fold.ts). Each core rank sends the same bytes
 * as in the ring, 2(p-1)/p of the buffer, but in 2·log2(p) rounds instead of 2(R-1). With more
 * ranks than cores every round waits for a peer to be scheduled, so rounds, not bytes, set the
 * time: 4 ranks on 2 cores, 1 MiB, see docs/benchmarks.md.
 *
 * Each segment's result is computed on one rank only, in an order fixed by the ranks' bits,
 * and then copied to the others: every rank gets the same bits, on every run.
 */
export class HalvingDoublingRun extends PairwiseRoundsRun {
  /** The range of segments this rank holds (reduced so far), [lo, hi). */
  private lo = 0;
  private hi = this.fold.core;

  /** Reduce-scatter is rounds 0..k-1, allgather k..2k-1 (k = levels). */
  protected get coreRounds(): number {
    return 2 * this.levels;
  }

  protected expectedElems(round: number): number {
    const [a, b] = this.elems(...this.ranges(round).recv);
    return b - a;
  }

  /** Reduce-scatter round j pairs core ranks p/2^(j+1) apart; allgather rounds go back up. */
  private mask(round: number): number {
    return round < this.levels ? this.fold.core >> (round + 1) : 1 << (round - this.levels);
  }

  protected corePartner(round: number): number {
    return this.fold.coreRank ^ this.mask(round);
  }

  private elems(lo: number, hi: number): [number, number] {
    const n = this.buf.length;
    const p = this.fold.core;
    return [segStart(lo, n, p), segStart(hi, n, p)];
  }

  /** Segments this rank sends in `round`, and the ones it receives. */
  private ranges(round: number): { send: [number, number]; recv: [number, number] } {
    const upper = (this.fold.coreRank & this.mask(round)) !== 0;
    const { lo, hi } = this;
    if (round < this.levels) {
      const mid = (lo + hi) / 2;
      return upper ? { send: [lo, mid], recv: [mid, hi] } : { send: [mid, hi], recv: [lo, mid] };
    }
    const size = hi - lo;
    return { send: [lo, hi], recv: upper ? [lo - size, lo] : [hi, hi + size] };
  }

  protected startCore(): void {
    this.sendRound();
  }

  private sendRound(): void {
    const [a, b] = this.elems(...this.ranges(this.round).send);
    this.send(this.partner(this.round), this.round + 1, a, asBytes(this.buf, a, b));
  }

  protected take(payload: Uint8Array): void {
    const { recv } = this.ranges(this.round);
    const [a, b] = this.elems(...recv);
    const target = this.buf.subarray(a, b) as NumericArray;
    const theirs = viewOf(this.sig.dtype, payload);
    if (this.round < this.levels) reduceInto(target, theirs, this.op);
    else target.set(theirs);
    [this.lo, this.hi] = this.round < this.levels ? recv : [Math.min(this.lo, recv[0]), Math.max(this.hi, recv[1])];
    this.round++;
    // Our segment is complete: divide it once, here, before the allgather copies it out. No
    // send ever referenced it (each halving round sends the half we do not keep).
    if (this.round === this.levels && this.op === 'avg') finishAvg(this.buf, this.ctx.world, ...this.elems(this.lo, this.hi));
    if (this.round < this.coreRounds) this.sendRound();
  }

  protected result(): NumericArray {
    return this.buf;
  }
}

import { asBytes, finishAvg, reduceInto, viewOf } from '../dtype.js';
import { segStart } from './collective-run.js';
import { PairwiseRoundsRun } from './pairwise-rounds.js';
/**
 * Medium allreduce for a power-of-two world of 4 or more (Rabenseifner's): a reduce-scatter by
 * recursive halving, then an allgather by recursive doubling. Each rank sends the same bytes as
 * in the ring, 2(R-1)/R of the buffer, but in 2·log2(R) rounds instead of 2(R-1). With more
 * ranks than cores every round waits for a peer to be scheduled, so rounds, not bytes, set the
 * time: 4 ranks on 2 cores, 1 MiB, see docs/benchmarks.md.
 *
 * Each segment's result is computed on one rank only, in an order fixed by the ranks' bits,
 * and then copied to the others: every rank gets the same bits, on every run.
 */
export class HalvingDoublingRun extends PairwiseRoundsRun {
    /** The range of segments this rank holds (reduced so far), [lo, hi). */
    lo = 0;
    hi = this.ctx.world;
    /** Reduce-scatter is rounds 0..k-1, allgather k..2k-1 (k = levels). */
    get totalRounds() {
        return 2 * this.levels;
    }
    expectedElems(round) {
        const [a, b] = this.elems(...this.ranges(round).recv);
        return b - a;
    }
    /** Reduce-scatter round j pairs ranks R/2^(j+1) apart; allgather rounds go back up. */
    mask(round) {
        return round < this.levels ? this.ctx.world >> (round + 1) : 1 << (round - this.levels);
    }
    partner(round) {
        return this.ctx.rank ^ this.mask(round);
    }
    elems(lo, hi) {
        const n = this.buf.length;
        const w = this.ctx.world;
        return [segStart(lo, n, w), segStart(hi, n, w)];
    }
    /** Segments this rank sends in `round`, and the ones it receives. */
    ranges(round) {
        const upper = (this.ctx.rank & this.mask(round)) !== 0;
        const { lo, hi } = this;
        if (round < this.levels) {
            const mid = (lo + hi) / 2;
            return upper ? { send: [lo, mid], recv: [mid, hi] } : { send: [mid, hi], recv: [lo, mid] };
        }
        const size = hi - lo;
        return { send: [lo, hi], recv: upper ? [lo - size, lo] : [hi, hi + size] };
    }
    start() {
        this.expectFrames(this.totalRounds);
        this.sendRound();
    }
    sendRound() {
        const [a, b] = this.elems(...this.ranges(this.round).send);
        this.send(this.partner(this.round), this.round, a, asBytes(this.buf, a, b));
    }
    take(payload) {
        const { recv } = this.ranges(this.round);
        const [a, b] = this.elems(...recv);
        const target = this.buf.subarray(a, b);
        const theirs = viewOf(this.sig.dtype, payload);
        if (this.round < this.levels)
            reduceInto(target, theirs, this.op);
        else
            target.set(theirs);
        [this.lo, this.hi] = this.round < this.levels ? recv : [Math.min(this.lo, recv[0]), Math.max(this.hi, recv[1])];
        this.round++;
        if (this.round < this.totalRounds)
            this.sendRound();
        this.frameDone();
    }
    finish() {
        if (this.op === 'avg')
            finishAvg(this.buf, this.ctx.world);
    }
}
//# sourceMappingURL=halving-doubling.js.map
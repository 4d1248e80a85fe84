import { asBytes, finishAvg, reduceInto, viewOf } from '../dtype.js';
import { PairwiseRoundsRun } from './pairwise-rounds.js';
/**
 * Small allreduce for a power-of-two world of 4 or more: log2(R) rounds, one frame each way
 * per round (round j pairs rank r with r XOR 2^j). The direct algorithm costs every rank R-1
 * sends and R-1 wake-ups per call; with 4 ranks on 2 cores those syscalls were the whole
 * cost. Each round combines (lower half's value) op (upper half's value), and both halves
 * hold the same bits on every member by induction, so every rank ends with the same bits,
 * on every run.
 */
export class RecursiveDoublingRun extends PairwiseRoundsRun {
    /** One pooled buffer per round's result: a round's input may still be in flight. */
    scratch = [];
    acc = this.buf;
    get totalRounds() {
        return this.levels;
    }
    expectedElems() {
        return this.buf.length;
    }
    partner(round) {
        return this.ctx.rank ^ (1 << round);
    }
    start() {
        this.expectFrames(this.totalRounds);
        this.send(this.partner(0), 0, 0, asBytes(this.acc));
    }
    take(payload) {
        const dtype = this.sig.dtype;
        const theirs = viewOf(dtype, payload);
        const bytes = this.ctx.pool.take(this.buf.byteLength);
        this.scratch.push(bytes);
        const next = viewOf(dtype, bytes, 0, this.buf.length);
        const lower = this.ctx.rank < this.partner(this.round);
        next.set(lower ? this.acc : theirs);
        reduceInto(next, lower ? theirs : this.acc, this.op);
        this.acc = next;
        this.round++;
        if (this.round < this.totalRounds)
            this.send(this.partner(this.round), this.round, 0, asBytes(next));
        this.frameDone();
    }
    finish() {
        if (this.op === 'avg')
            finishAvg(this.acc, this.ctx.world);
        // Every send has flushed by now, so buf may be overwritten.
        this.buf.set(this.acc);
        for (const b of this.scratch)
            this.ctx.pool.release(b);
    }
}
//# sourceMappingURL=recursive-doubling.js.map
import { CollectiveRun } from './collective-run.js';
/**
 * Rounds in which every rank exchanges one frame with one partner, as in recursive doubling:
 * round `round` is handled only after the ones before it. A partner may run a round ahead of
 * us (it finished its previous round with someone else first): its frame is kept, copied,
 * until ours catches up.
 */
export class PairwiseRoundsRun extends CollectiveRun {
    buf;
    op;
    /** log2 of the world: partners are 1, 2, 4, ... ranks apart. */
    levels;
    /** Rounds done. */
    round = 0;
    ahead = [];
    constructor(ctx, sig, buf, op) {
        super(ctx, sig);
        this.buf = buf;
        this.op = op;
        this.levels = Math.log2(ctx.world);
    }
    /** Power-of-two worlds of 4 or more: with 2 ranks there is one partner, and the ring is that already. */
    static fits(world) {
        return world >= 4 && (world & (world - 1)) === 0;
    }
    onFrame(from, h, payload) {
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
            }
            finally {
                this.ctx.pool.release(p);
            }
        }
    }
    /** The length is checked here, not on arrival: what a round expects may depend on the rounds before it. */
    consume(from, payload) {
        this.checkLength(from, payload, this.expectedElems(this.round));
        this.take(payload);
    }
    waitingOn() {
        return this.expecting ? [this.partner(this.round)] : [];
    }
}
//# sourceMappingURL=pairwise-rounds.js.map
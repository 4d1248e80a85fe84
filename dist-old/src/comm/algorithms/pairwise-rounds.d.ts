import type { NumericArray, ReduceOp } from '../dtype.js';
import type { FrameHeader } from '../frame.js';
import { CollectiveRun, type RunContext, type RunSignature } from './collective-run.js';
/**
 * Rounds in which every rank exchanges one frame with one partner, as in recursive doubling:
 * round `round` is handled only after the ones before it. A partner may run a round ahead of
 * us (it finished its previous round with someone else first): its frame is kept, copied,
 * until ours catches up.
 */
export declare abstract class PairwiseRoundsRun extends CollectiveRun {
    protected readonly buf: NumericArray;
    protected readonly op: ReduceOp;
    /** log2 of the world: partners are 1, 2, 4, ... ranks apart. */
    protected readonly levels: number;
    /** Rounds done. */
    protected round: number;
    private readonly ahead;
    constructor(ctx: RunContext, sig: RunSignature, buf: NumericArray, op: ReduceOp);
    /** Power-of-two worlds of 4 or more: with 2 ranks there is one partner, and the ring is that already. */
    static fits(world: number): boolean;
    protected abstract get totalRounds(): number;
    protected abstract partner(round: number): number;
    /** Elements the current round's frame must carry. */
    protected abstract expectedElems(round: number): number;
    /** Consumes the current round's frame: must advance `round`, send the next, and call frameDone(). */
    protected abstract take(payload: Uint8Array): void;
    onFrame(from: number, h: FrameHeader, payload: Uint8Array): void;
    /** The length is checked here, not on arrival: what a round expects may depend on the rounds before it. */
    private consume;
    waitingOn(): number[];
}

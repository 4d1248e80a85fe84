import { PairwiseRoundsRun } from './pairwise-rounds.js';
/**
 * Small allreduce for a power-of-two world of 4 or more: log2(R) rounds, one frame each way
 * per round (round j pairs rank r with r XOR 2^j). The direct algorithm costs every rank R-1
 * sends and R-1 wake-ups per call; with 4 ranks on 2 cores those syscalls were the whole
 * cost. Each round combines (lower half's value) op (upper half's value), and both halves
 * hold the same bits on every member by induction, so every rank ends with the same bits,
 * on every run.
 */
export declare class RecursiveDoublingRun extends PairwiseRoundsRun {
    /** One pooled buffer per round's result: a round's input may still be in flight. */
    private readonly scratch;
    private acc;
    protected get totalRounds(): number;
    protected expectedElems(): number;
    protected partner(round: number): number;
    protected start(): void;
    protected take(payload: Uint8Array): void;
    protected finish(): void;
}

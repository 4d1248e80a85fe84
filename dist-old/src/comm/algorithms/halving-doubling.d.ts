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
export declare class HalvingDoublingRun extends PairwiseRoundsRun {
    /** The range of segments this rank holds (reduced so far), [lo, hi). */
    private lo;
    private hi;
    /** Reduce-scatter is rounds 0..k-1, allgather k..2k-1 (k = levels). */
    protected get totalRounds(): number;
    protected expectedElems(round: number): number;
    /** Reduce-scatter round j pairs ranks R/2^(j+1) apart; allgather rounds go back up. */
    private mask;
    protected partner(round: number): number;
    private elems;
    /** Segments this rank sends in `round`, and the ones it receives. */
    private ranges;
    protected start(): void;
    private sendRound;
    protected take(payload: Uint8Array): void;
    protected finish(): void;
}

/**
 * 2-D heat diffusion by Jacobi sweeps on a size × size grid stored row-major. The top row is
 * held at 1, the other edges at 0, the interior starts at 0. Every interior cell becomes
 * 0.25 * (up + down + left + right) of the previous sweep, always summed in that order, so a
 * solve split into row blocks gives the same bits as one process.
 */
/** The rows [first, first + count) of the grid that one rank owns. */
export interface Block {
    first: number;
    count: number;
}
/**
 * Contiguous, nearly equal blocks; the first size % world ranks take one row more. Computed
 * from (size, world, rank) alone, so every rank knows every other's block without asking.
 */
export declare function partition(size: number, world: number, rank: number): Block;
/**
 * A block with a halo row above and below: (count + 2) rows, the block's rows at 1..count.
 * Over a SharedArrayBuffer so that rows can be sent and received without copies.
 */
export declare function newBlock(size: number, block: Block): Float64Array;
/**
 * One sweep over a block (laid out as newBlock's): reads `cur`, halos included, and writes the
 * block's rows of `next`. Edge cells are copied: they never change.
 */
export declare function sweep(cur: Float64Array, next: Float64Array, size: number, block: Block): void;
/**
 * The reference: the whole grid in one process. Written out separately from sweep() on
 * purpose, so that the distributed solve is checked against code it does not share.
 */
export declare function solveSingle(size: number, iterations: number): Float64Array;
/** First 16 hex characters of the SHA-256 of the grid's bytes. */
export declare function digest(grid: Float64Array): string;
/** The value at the centre cell (row and column size / 2, rounded down). */
export declare function centre(grid: Float64Array, size: number): number;

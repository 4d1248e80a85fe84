import { createHash } from 'node:crypto';
/**
 * Contiguous, nearly equal blocks; the first size % world ranks take one row more. Computed
 * from (size, world, rank) alone, so every rank knows every other's block without asking.
 */
export function partition(size, world, rank) {
    if (!Number.isInteger(world) || world < 1 || !Number.isInteger(rank) || rank < 0 || rank >= world) {
        throw new RangeError(`rank ${rank} is not in a world of ${world}`);
    }
    // An empty block would leave its neighbours without a halo row to exchange.
    if (!Number.isInteger(size) || size < world)
        throw new RangeError(`a grid of ${size} rows cannot give each of ${world} ranks a row`);
    const base = Math.floor(size / world);
    const extra = size % world;
    return { first: rank * base + Math.min(rank, extra), count: base + (rank < extra ? 1 : 0) };
}
/**
 * A block with a halo row above and below: (count + 2) rows, the block's rows at 1..count.
 * Over a SharedArrayBuffer so that rows can be sent and received without copies.
 */
export function newBlock(size, block) {
    const a = new Float64Array(new SharedArrayBuffer((block.count + 2) * size * 8));
    if (block.first === 0)
        a.fill(1, size, 2 * size);
    return a;
}
/**
 * One sweep over a block (laid out as newBlock's): reads `cur`, halos included, and writes the
 * block's rows of `next`. Edge cells are copied: they never change.
 */
export function sweep(cur, next, size, block) {
    for (let r = 1; r <= block.count; r++) {
        const o = r * size;
        const row = block.first + r - 1;
        if (row === 0 || row === size - 1) {
            next.set(cur.subarray(o, o + size), o);
            continue;
        }
        next[o] = cur[o];
        next[o + size - 1] = cur[o + size - 1];
        for (let j = o + 1; j < o + size - 1; j++) {
            next[j] = 0.25 * (cur[j - size] + cur[j + size] + cur[j - 1] + cur[j + 1]);
        }
    }
}
/**
 * The reference: the whole grid in one process. Written out separately from sweep() on
 * purpose, so that the distributed solve is checked against code it does not share.
 */
export function solveSingle(size, iterations) {
    let cur = new Float64Array(size * size);
    cur.fill(1, 0, size);
    let next = cur.slice();
    for (let t = 0; t < iterations; t++) {
        for (let i = 1; i < size - 1; i++) {
            for (let j = 1; j < size - 1; j++) {
                const c = i * size + j;
                next[c] = 0.25 * (cur[c - size] + cur[c + size] + cur[c - 1] + cur[c + 1]);
            }
        }
        [cur, next] = [next, cur];
    }
    return cur;
}
/** First 16 hex characters of the SHA-256 of the grid's bytes. */
export function digest(grid) {
    return createHash('sha256').update(new Uint8Array(grid.buffer, grid.byteOffset, grid.byteLength)).digest('hex').slice(0, 16);
}
/** The value at the centre cell (row and column size / 2, rounded down). */
export function centre(grid, size) {
    const m = Math.floor(size / 2);
    return grid[m * size + m];
}
//# sourceMappingURL=solver.js.map
import { mulberry32 } from '../fashion-mnist/data.js';
export declare const PIXELS = 784;
export declare const CLASSES = 10;
export declare const DEFAULT_DATA = "/usr/share/datasets/fashion-mnist";
/** Images kept as bytes (a quarter of the memory of floats, with 3-4 processes on one machine). */
export interface DataSet {
    images: Uint8Array;
    labels: Uint8Array;
    count: number;
}
/** The same seeded PRNG as the plain-TypeScript example, so both generate the same numbers. */
export declare const prng: typeof mulberry32;
/** The files are read and checked by the plain-TypeScript example's IDX reader. */
export declare function loadFashionMnist(dir: string, trainSize: number): {
    train: DataSet;
    test: DataSet;
};
/**
 * A stand-in with the same shape as Fashion-MNIST: ten random class prototypes, each sample one
 * of them with its brightness varied and noise added. Learnable in a few dozen steps, so tests
 * can tell a model that learns from one that does not.
 */
export declare function syntheticData(trainSize: number, testSize: number, seed?: number): {
    train: DataSet;
    test: DataSet;
};
/**
 * The global order of the training set: a seeded permutation per epoch, so every member (and a
 * replacement started mid-run) picks the same samples for the same step.
 */
export declare class Sampler {
    private readonly n;
    private readonly seed;
    private epoch;
    private perm;
    constructor(n: number, seed: number);
    /** The sample at global position `pos` (counting across epochs). */
    at(pos: number): number;
    private shuffle;
}
/** Rows `idx` of a data set as network input (pixels scaled to [0, 1]) and one-hot labels. */
export declare function batchOf(d: DataSet, idx: ArrayLike<number>): {
    x: Float32Array;
    y: Float32Array;
};

/** Where Debian's dataset-fashion-mnist package puts the files. */
export declare const DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist";
export declare const ROWS = 28;
export declare const COLS = 28;
export declare const PIXELS: number;
export declare const CLASSES = 10;
/** Images as raw bytes (0..255, one row of PIXELS per sample) and labels 0..9. */
export interface Split {
    images: Uint8Array;
    labels: Uint8Array;
    count: number;
}
export interface DataSet {
    train: Split;
    test: Split;
    synthetic: boolean;
}
/** Thrown for anything wrong with the files; main.ts prints the message alone, no stack. */
export declare class DataError extends Error {
    name: string;
}
/** The pixels of an IDX3 image file, checked against what Fashion-MNIST must look like. */
export declare function parseImages(buf: Uint8Array, name?: string): {
    images: Uint8Array;
    count: number;
};
/** The labels of an IDX1 label file; each must be a class 0..9. */
export declare function parseLabels(buf: Uint8Array, name?: string): {
    labels: Uint8Array;
    count: number;
};
/** An image file and its label file, which must agree on the number of samples. */
export declare function parseSplit(imageBytes: Uint8Array, labelBytes: Uint8Array, names?: [string, string]): Split;
/** Fashion-MNIST from `dir`; `trainSize` keeps only the first samples of the training set. */
export declare function loadFashionMnist(dir?: string, trainSize?: number): DataSet;
/** Seeded PRNG (mulberry32): uniform in [0, 1). Everything random here comes from one of these. */
export declare function mulberry32(seed: number): () => number;
/** 0..n-1 shuffled by a Fisher-Yates driven by `seed`: the same order on every rank. */
export declare function permutation(n: number, seed: number): Uint32Array;
/**
 * A stand-in of Fashion-MNIST's shape for machines without the package. Ten "garment"
 * prototypes share one random silhouette and each differs from it in a tenth of the pixels, the
 * way a shirt differs from a T-shirt. A sample blends its class's prototype with up to 55% of
 * another class's, with its own brightness and noise on the lit pixels; dark pixels stay zero,
 * about half of them as in the real images (which keeps the sparse matmuls as fast). A blend
 * past 50% looks like the other class, so accuracy levels off near 90%, about where an MLP
 * ends on the real data, rather than at a meaningless 100%.
 */
export declare function syntheticFashionMnist(trainSize?: number, testSize?: number): DataSet;

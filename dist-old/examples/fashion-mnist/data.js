import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
/** Where Debian's dataset-fashion-mnist package puts the files. */
export const DEFAULT_DATA_DIR = '/usr/share/datasets/fashion-mnist';
export const ROWS = 28;
export const COLS = 28;
export const PIXELS = ROWS * COLS;
export const CLASSES = 10;
/** Thrown for anything wrong with the files; main.ts prints the message alone, no stack. */
export class DataError extends Error {
    name = 'DataError';
}
const IMAGES_MAGIC = 0x00000803; // unsigned byte, 3 dimensions
const LABELS_MAGIC = 0x00000801; // unsigned byte, 1 dimension
/** The pixels of an IDX3 image file, checked against what Fashion-MNIST must look like. */
export function parseImages(buf, name = 'images') {
    if (buf.byteLength < 16)
        throw new DataError(`${name}: ${buf.byteLength} bytes, shorter than the 16-byte IDX3 header`);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const magic = dv.getUint32(0);
    if (magic !== IMAGES_MAGIC)
        throw new DataError(`${name}: magic 0x${hex(magic)}, expected 0x${hex(IMAGES_MAGIC)} (IDX3 of unsigned bytes)`);
    const count = dv.getUint32(4);
    const rows = dv.getUint32(8);
    const cols = dv.getUint32(12);
    if (rows !== ROWS || cols !== COLS)
        throw new DataError(`${name}: images are ${rows}x${cols}, expected ${ROWS}x${COLS}`);
    const expected = 16 + count * PIXELS;
    if (buf.byteLength !== expected)
        throw new DataError(`${name}: ${buf.byteLength} bytes, the header (${count} images) says ${expected}: truncated or corrupt`);
    return { images: buf.subarray(16), count };
}
/** The labels of an IDX1 label file; each must be a class 0..9. */
export function parseLabels(buf, name = 'labels') {
    if (buf.byteLength < 8)
        throw new DataError(`${name}: ${buf.byteLength} bytes, shorter than the 8-byte IDX1 header`);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const magic = dv.getUint32(0);
    if (magic !== LABELS_MAGIC)
        throw new DataError(`${name}: magic 0x${hex(magic)}, expected 0x${hex(LABELS_MAGIC)} (IDX1 of unsigned bytes)`);
    const count = dv.getUint32(4);
    const expected = 8 + count;
    if (buf.byteLength !== expected)
        throw new DataError(`${name}: ${buf.byteLength} bytes, the header (${count} labels) says ${expected}: truncated or corrupt`);
    const labels = buf.subarray(8);
    const bad = labels.findIndex((l) => l >= CLASSES);
    if (bad >= 0)
        throw new DataError(`${name}: label ${labels[bad]} at index ${bad} is not a class 0..${CLASSES - 1}`);
    return { labels, count };
}
/** An image file and its label file, which must agree on the number of samples. */
export function parseSplit(imageBytes, labelBytes, names = ['images', 'labels']) {
    const { images, count } = parseImages(imageBytes, names[0]);
    const { labels, count: n } = parseLabels(labelBytes, names[1]);
    if (n !== count)
        throw new DataError(`${names[0]} has ${count} images but ${names[1]} has ${n} labels`);
    return { images, labels, count };
}
const hex = (n) => n.toString(16).padStart(8, '0');
const FILES = {
    train: ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'],
    test: ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'],
};
function readGz(path) {
    try {
        return gunzipSync(readFileSync(path));
    }
    catch (e) {
        throw new DataError(`${path}: cannot read it as gzip: ${e.message}`);
    }
}
/** Fashion-MNIST from `dir`; `trainSize` keeps only the first samples of the training set. */
export function loadFashionMnist(dir = DEFAULT_DATA_DIR, trainSize) {
    const all = [...FILES.train, ...FILES.test].map((f) => join(dir, f));
    if (!all.every((p) => existsSync(p))) {
        throw new DataError(`Fashion-MNIST not found in ${dir}: install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass --synthetic`);
    }
    const [trI, trL, teI, teL] = all;
    const train = parseSplit(readGz(trI), readGz(trL), [trI, trL]);
    const test = parseSplit(readGz(teI), readGz(teL), [teI, teL]);
    return { train: trainSize === undefined ? train : head(train, trainSize), test, synthetic: false };
}
function head(s, n) {
    const count = Math.min(n, s.count);
    return { images: s.images.subarray(0, count * PIXELS), labels: s.labels.subarray(0, count), count };
}
/** Seeded PRNG (mulberry32): uniform in [0, 1). Everything random here comes from one of these. */
export function mulberry32(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}
/** 0..n-1 shuffled by a Fisher-Yates driven by `seed`: the same order on every rank. */
export function permutation(n, seed) {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++)
        p[i] = i;
    const rnd = mulberry32(seed);
    for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        const t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    return p;
}
/**
 * A stand-in of Fashion-MNIST's shape for machines without the package. Ten "garment"
 * prototypes share one random silhouette and each differs from it in a tenth of the pixels, the
 * way a shirt differs from a T-shirt. A sample blends its class's prototype with up to 55% of
 * another class's, with its own brightness and noise on the lit pixels; dark pixels stay zero,
 * about half of them as in the real images (which keeps the sparse matmuls as fast). A blend
 * past 50% looks like the other class, so accuracy levels off near 90%, about where an MLP
 * ends on the real data, rather than at a meaningless 100%.
 */
export function syntheticFashionMnist(trainSize = 60_000, testSize = Math.max(1000, Math.round(trainSize / 6))) {
    const rnd = mulberry32(0x5eed);
    const base = new Float32Array(PIXELS).map(() => (rnd() < 0.5 ? 0 : 64 + rnd() * 191));
    const protos = new Float32Array(CLASSES * PIXELS);
    for (let c = 0; c < CLASSES; c++) {
        for (let k = 0; k < PIXELS; k++) {
            const flip = rnd() < 0.1;
            protos[c * PIXELS + k] = !flip ? base[k] : base[k] === 0 ? 64 + rnd() * 191 : 0;
        }
    }
    return { train: synthSplit(protos, trainSize, 1), test: synthSplit(protos, testSize, 2), synthetic: true };
}
function synthSplit(protos, count, seed) {
    const rnd = mulberry32(seed);
    const images = new Uint8Array(count * PIXELS);
    const labels = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
        const c = Math.floor(rnd() * CLASSES);
        const other = (c + 1 + Math.floor(rnd() * (CLASSES - 1))) % CLASSES;
        const mix = 0.55 * rnd();
        const gain = 0.6 + 0.6 * rnd();
        labels[i] = c;
        const p = c * PIXELS;
        const q = other * PIXELS;
        const o = i * PIXELS;
        for (let k = 0; k < PIXELS; k++) {
            const v0 = (1 - mix) * protos[p + k] + mix * protos[q + k];
            if (v0 === 0)
                continue;
            // Sum of three uniforms: close enough to a normal (sd ~35) and far cheaper than Box-Muller.
            const v = gain * v0 + (rnd() + rnd() + rnd() - 1.5) * 70;
            images[o + k] = v <= 0 ? 0 : v >= 255 ? 255 : v;
        }
    }
    return { images, labels, count };
}
//# sourceMappingURL=data.js.map
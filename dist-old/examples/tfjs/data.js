import { loadFashionMnist as loadIdx, mulberry32 } from '../fashion-mnist/data.js';
export const PIXELS = 784;
export const CLASSES = 10;
export const DEFAULT_DATA = '/usr/share/datasets/fashion-mnist';
/** The same seeded PRNG as the plain-TypeScript example, so both generate the same numbers. */
export const prng = mulberry32;
/** The files are read and checked by the plain-TypeScript example's IDX reader. */
export function loadFashionMnist(dir, trainSize) {
    const d = loadIdx(dir, trainSize);
    return { train: d.train, test: d.test };
}
/**
 * A stand-in with the same shape as Fashion-MNIST: ten random class prototypes, each sample one
 * of them with its brightness varied and noise added. Learnable in a few dozen steps, so tests
 * can tell a model that learns from one that does not.
 */
export function syntheticData(trainSize, testSize, seed = 7) {
    const rnd = prng(seed);
    const protos = Array.from({ length: CLASSES }, () => Float32Array.from({ length: PIXELS }, () => (rnd() < 0.35 ? 80 + 175 * rnd() : 0)));
    const make = (count) => {
        const images = new Uint8Array(count * PIXELS);
        const labels = new Uint8Array(count);
        for (let s = 0; s < count; s++) {
            const c = Math.floor(rnd() * CLASSES);
            labels[s] = c;
            const proto = protos[c];
            const gain = 0.6 + 0.6 * rnd();
            for (let i = 0; i < PIXELS; i++) {
                const noise = (rnd() + rnd() + rnd() - 1.5) * 160;
                images[s * PIXELS + i] = Math.max(0, Math.min(255, Math.round(proto[i] * gain + noise)));
            }
        }
        return { images, labels, count };
    };
    return { train: make(trainSize), test: make(testSize) };
}
/**
 * The global order of the training set: a seeded permutation per epoch, so every member (and a
 * replacement started mid-run) picks the same samples for the same step.
 */
export class Sampler {
    n;
    seed;
    epoch = -1;
    perm = new Uint32Array(0);
    constructor(n, seed) {
        this.n = n;
        this.seed = seed;
    }
    /** The sample at global position `pos` (counting across epochs). */
    at(pos) {
        const epoch = Math.floor(pos / this.n);
        if (epoch !== this.epoch)
            this.shuffle(epoch);
        return this.perm[pos - epoch * this.n];
    }
    shuffle(epoch) {
        const rnd = prng(this.seed * 1000003 + epoch);
        const p = Uint32Array.from({ length: this.n }, (_, i) => i);
        for (let i = this.n - 1; i > 0; i--) {
            const j = Math.floor(rnd() * (i + 1));
            const t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        this.epoch = epoch;
        this.perm = p;
    }
}
/** Rows `idx` of a data set as network input (pixels scaled to [0, 1]) and one-hot labels. */
export function batchOf(d, idx) {
    const x = new Float32Array(idx.length * PIXELS);
    const y = new Float32Array(idx.length * CLASSES);
    for (let r = 0; r < idx.length; r++) {
        const s = idx[r];
        for (let i = 0; i < PIXELS; i++)
            x[r * PIXELS + i] = d.images[s * PIXELS + i] / 255;
        y[r * CLASSES + d.labels[s]] = 1;
    }
    return { x, y };
}
//# sourceMappingURL=data.js.map
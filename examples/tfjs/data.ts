import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export const PIXELS = 784;
export const CLASSES = 10;
export const DEFAULT_DATA = '/usr/share/datasets/fashion-mnist';

/** Images kept as bytes (a quarter of the memory of floats, with 3-4 processes on one machine). */
export interface DataSet {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** mulberry32: tiny, and the same numbers in every process, which is all the data needs. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function readIdx(path: string, magic: number): { dims: number[]; bytes: Uint8Array } {
  const buf = gunzipSync(readFileSync(path));
  if (buf.readUInt32BE(0) !== magic) throw new Error(`${path}: not an IDX file of the expected kind (magic ${buf.readUInt32BE(0).toString(16)})`);
  const nd = magic & 0xff;
  const dims = Array.from({ length: nd }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  return { dims, bytes: new Uint8Array(buf.buffer, buf.byteOffset + 4 + 4 * nd, dims.reduce((a, b) => a * b, 1)) };
}

function idxSet(dir: string, prefix: 'train' | 't10k', limit: number): DataSet {
  const img = readIdx(join(dir, `${prefix}-images-idx3-ubyte.gz`), 0x803);
  const lab = readIdx(join(dir, `${prefix}-labels-idx1-ubyte.gz`), 0x801);
  if (img.dims[1] !== 28 || img.dims[2] !== 28 || img.dims[0] !== lab.dims[0]) throw new Error(`${dir}: ${prefix} images and labels do not match`);
  const count = Math.min(limit, img.dims[0] as number);
  return { images: img.bytes.subarray(0, count * PIXELS), labels: lab.bytes.subarray(0, count), count };
}

export function loadFashionMnist(dir: string, trainSize: number): { train: DataSet; test: DataSet } {
  const missing = ['train-images-idx3', 'train-labels-idx1', 't10k-images-idx3', 't10k-labels-idx1'].map((f) => join(dir, `${f}-ubyte.gz`)).filter((p) => !existsSync(p));
  if (missing.length > 0) {
    throw new Error(`Fashion-MNIST not found (${missing.join(', ')}): install the Debian package dataset-fashion-mnist, point --data at the IDX files, or run with --synthetic`);
  }
  return { train: idxSet(dir, 'train', trainSize), test: idxSet(dir, 't10k', Infinity) };
}

/**
 * A stand-in with the same shape as Fashion-MNIST: ten random class prototypes, each sample one
 * of them with its brightness varied and noise added. Learnable in a few dozen steps, so tests
 * can tell a model that learns from one that does not.
 */
export function syntheticData(trainSize: number, testSize: number, seed = 7): { train: DataSet; test: DataSet } {
  const rnd = prng(seed);
  const protos = Array.from({ length: CLASSES }, () => Float32Array.from({ length: PIXELS }, () => (rnd() < 0.35 ? 80 + 175 * rnd() : 0)));
  const make = (count: number): DataSet => {
    const images = new Uint8Array(count * PIXELS);
    const labels = new Uint8Array(count);
    for (let s = 0; s < count; s++) {
      const c = Math.floor(rnd() * CLASSES);
      labels[s] = c;
      const proto = protos[c] as Float32Array;
      const gain = 0.6 + 0.6 * rnd();
      for (let i = 0; i < PIXELS; i++) {
        const noise = (rnd() + rnd() + rnd() - 1.5) * 160;
        images[s * PIXELS + i] = Math.max(0, Math.min(255, Math.round((proto[i] as number) * gain + noise)));
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
  private epoch = -1;
  private perm = new Uint32Array(0);

  constructor(
    private readonly n: number,
    private readonly seed: number,
  ) {}

  /** The sample at global position `pos` (counting across epochs). */
  at(pos: number): number {
    const epoch = Math.floor(pos / this.n);
    if (epoch !== this.epoch) this.shuffle(epoch);
    return this.perm[pos - epoch * this.n] as number;
  }

  private shuffle(epoch: number): void {
    const rnd = prng(this.seed * 1000003 + epoch);
    const p = Uint32Array.from({ length: this.n }, (_, i) => i);
    for (let i = this.n - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      const t = p[i] as number;
      p[i] = p[j] as number;
      p[j] = t;
    }
    this.epoch = epoch;
    this.perm = p;
  }
}

/** Rows `idx` of a data set as network input (pixels scaled to [0, 1]) and one-hot labels. */
export function batchOf(d: DataSet, idx: ArrayLike<number>): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(idx.length * PIXELS);
  const y = new Float32Array(idx.length * CLASSES);
  for (let r = 0; r < idx.length; r++) {
    const s = idx[r] as number;
    for (let i = 0; i < PIXELS; i++) x[r * PIXELS + i] = (d.images[s * PIXELS + i] as number) / 255;
    y[r * CLASSES + (d.labels[s] as number)] = 1;
  }
  return { x, y };
}

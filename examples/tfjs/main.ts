import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { averageGradients, trackModel } from '../../src/adapters/tfjs.js';
import { connect } from '../../src/index.js';
import { CLASSES, DEFAULT_DATA, PIXELS, Sampler, batchOf, loadFashionMnist, prng, syntheticData, type DataSet } from './data.js';

/**
 * Data-parallel training of a 784-128-10 MLP on Fashion-MNIST with TensorFlow.js (wasm backend)
 * on Rollcall. Each step every rank takes its shard of a global batch, computes gradients,
 * averages them with allreduce, applies them and commits the model and optimiser state.
 *
 *   rollcall launch --nodes 3 --spares 1 -- node dist/examples/tfjs/main.js [--steps N] [--batch B]
 *     [--synthetic] [--data DIR] [--train-size N] [--optimizer momentum|adam] [--lr X] [--seed S]
 */
const { values: opts } = parseArgs({
  options: {
    steps: { type: 'string', default: '300' },
    batch: { type: 'string', default: '32' },
    synthetic: { type: 'boolean', default: false },
    data: { type: 'string', default: DEFAULT_DATA },
    'train-size': { type: 'string' },
    optimizer: { type: 'string', default: 'momentum' },
    lr: { type: 'string' },
    seed: { type: 'string', default: '1' },
    // Declares nothing replicated: each node's state comes back from its own versions or its
    // replica peers' only (the path a test of per-node restores needs).
    'local-state': { type: 'boolean', default: false },
  },
});
const steps = Number(opts.steps);
const batch = Number(opts.batch);
const seed = Number(opts.seed);
const trainSize = opts['train-size'] === undefined ? undefined : Number(opts['train-size']);
if (![steps, batch, seed, trainSize ?? 1].every((n) => Number.isInteger(n) && n >= 0) || batch === 0) throw new Error('--steps, --batch, --train-size and --seed take non-negative integers (--batch > 0)');
if (opts.optimizer !== 'momentum' && opts.optimizer !== 'adam') throw new Error('--optimizer is momentum or adam');

// Before connect(): a missing data set fails this node at once, not in the middle of the job.
const { train, test } = loadData();
function loadData(): ReturnType<typeof syntheticData> {
  if (opts.synthetic) return syntheticData(trainSize ?? 6000, 1000);
  try {
    return loadFashionMnist(opts.data, trainSize ?? Infinity);
  } catch (e) {
    console.error(`tfjs example: ${(e as Error).message}`);
    process.exit(1);
  }
}
await tf.setBackend('wasm');

const model = tf.sequential({
  layers: [tf.layers.dense({ inputShape: [PIXELS], units: 128, activation: 'relu' }), tf.layers.dense({ units: CLASSES })],
});
// Our own seeded Glorot-uniform init: the same on every member without a broadcast, and
// independent of tfjs's random state.
const rnd = prng(seed);
const init = model.getWeights().map((w) => {
  if (w.shape.length === 1) return tf.zeros(w.shape);
  const [fanIn, fanOut] = w.shape as [number, number];
  const lim = Math.sqrt(6 / (fanIn + fanOut));
  return tf.tensor(Float32Array.from({ length: w.size }, () => (2 * rnd() - 1) * lim), w.shape);
});
model.setWeights(init);
tf.dispose(init);
const lr = Number(opts.lr ?? (opts.optimizer === 'adam' ? 0.001 : 0.05));
const optimizer: tf.Optimizer = opts.optimizer === 'adam' ? tf.train.adam(lr) : tf.train.momentum(lr, 0.9);

const job = await connect();
// The weights and the optimiser's state are the same on every member (gradients are averaged):
// trackModel declares them replicated, so the members compare their digests (silent data
// corruption) and any member can restore them.
const tracked = await trackModel(job, tf, model, optimizer, undefined, { replicated: opts['local-state'] ? [] : ['weights', 'optimizer'] });
const sampler = new Sampler(train.count, seed);
const started = Date.now();
let accuracy = 0;

await job.run(tracked, async (s) => {
  // After a rollback the mirror holds the common version; at the start it holds the initial model.
  await tracked.apply();
  while (s.step < steps) {
    const base = s.step * batch * job.world + job.rank * batch;
    const { x, y } = batchOf(
      train,
      Array.from({ length: batch }, (_, j) => sampler.at(base + j)),
    );
    const xs = tf.tensor2d(x, [batch, PIXELS]);
    const ys = tf.tensor2d(y, [batch, CLASSES]);
    const { value, grads } = optimizer.computeGradients(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs) as tf.Tensor2D) as tf.Scalar);
    const avg = await averageGradients(job, tf, grads);
    optimizer.applyGradients(avg);
    tf.dispose([xs, ys, value, grads, avg]);
    s.step += 1;
    await tracked.capture();
    s.commit();
    job.progress(s.step);
  }
  // Inside run(): a fault during evaluation rolls back to the last step and evaluates again.
  const correct = countCorrect(test, job.rank, job.world);
  const sums = await job.allreduce(new Float64Array([correct, shardSize(test.count, job.rank, job.world)]), 'sum');
  accuracy = (sums[0] as number) / (sums[1] as number);
});

/** Each rank scores its interleaved share of the test set; allreduce adds the shares up. */
function countCorrect(d: DataSet, rank: number, world: number): number {
  const idx = Array.from({ length: shardSize(d.count, rank, world) }, (_, i) => rank + i * world);
  let correct = 0;
  for (let at = 0; at < idx.length; at += 1000) {
    const part = idx.slice(at, at + 1000);
    const { x } = batchOf(d, part);
    const pred = tf.tidy(() => (model.predict(tf.tensor2d(x, [part.length, PIXELS])) as tf.Tensor2D).argMax(1).dataSync());
    part.forEach((s, i) => (correct += pred[i] === d.labels[s] ? 1 : 0));
  }
  return correct;
}

function shardSize(n: number, rank: number, world: number): number {
  return Math.max(0, Math.ceil((n - rank) / world));
}

const w = tracked.values.weights;
const digest = createHash('sha256').update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength)).digest('hex').slice(0, 16);
job.result({ steps: tracked.step, accuracy: Math.round(accuracy * 10000) / 10000, digest, world: job.world, optimizer: opts.optimizer, ms: Date.now() - started });
await job.close();

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { averageGradients, trackModel } from '../../src/adapters/tfjs.js';
import type { Job } from '../../src/sdk/job.js';

/**
 * The TensorFlow.js adapter against real tfjs (wasm backend) and a stand-in job: the collectives
 * are the communicator's business and tested there; here, what goes into them and comes back.
 */
type Allreduce = Pick<Job, 'allreduce'>;
type Registrar = Pick<Job, 'registerState'>;

const fakeJob = (reduce: (buf: Float32Array) => void, seen: Float32Array[] = []): Allreduce =>
  ({
    allreduce: async (buf: Float32Array, op: string) => {
      assert.equal(op, 'avg');
      seen.push(buf);
      reduce(buf);
      return buf;
    },
  }) as unknown as Allreduce;

/** Only what trackModel touches: registerState hands back an object holding the values. */
const registrar = { registerState: (values: unknown) => ({ values, step: 0 }) } as unknown as Registrar;

function mlp(seed: number): tf.Sequential {
  const init = { kernelInitializer: tf.initializers.glorotUniform({ seed }) };
  return tf.sequential({ layers: [tf.layers.dense({ inputShape: [6], units: 5, activation: 'relu', ...init }), tf.layers.dense({ units: 3, ...init })] });
}

const xs = (): tf.Tensor2D => tf.tensor2d(Float32Array.from({ length: 8 * 6 }, (_, i) => Math.sin(i)), [8, 6]);
const ys = (): tf.Tensor2D => tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3).toFloat() as tf.Tensor2D;

function step(model: tf.Sequential, opt: tf.Optimizer): void {
  const x = xs();
  const y = ys();
  opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor2D) as tf.Scalar);
  tf.dispose([x, y]);
}

const flat = (ts: tf.Tensor[]): number[] => ts.flatMap((t) => Array.from(t.dataSync()));

/** Captures, takes two steps, rolls back and takes them again: the weights must be the same bits. */
async function assertRollbackRedoes(model: tf.Sequential, opt: tf.Optimizer, s: { capture(): Promise<void>; apply(): Promise<void> }, what = ''): Promise<void> {
  await s.capture();
  step(model, opt);
  step(model, opt);
  const straight = flat(model.getWeights());
  await s.apply();
  step(model, opt);
  step(model, opt);
  assert.deepEqual(flat(model.getWeights()), straight, what);
}
const optFlat = async (opt: tf.Optimizer): Promise<number[]> => {
  const ws = await opt.getWeights();
  const out = flat(ws.map((w) => w.tensor));
  ws[0]?.tensor.dispose();
  return out;
};

describe('tfjs adapter', () => {
  before(async () => {
    assert.ok(await tf.setBackend('wasm'));
  });

  it('averageGradients: one flat shared buffer, reused; same keys, order and shapes back', async () => {
    const seen: Float32Array[] = [];
    const job = fakeJob((b) => b.forEach((v, i) => (b[i] = v * 2)), seen);
    const grads = { 'z/bias': tf.tensor1d([1, 2]), 'a/kernel': tf.tensor2d([[3, 4, 5]]) };
    for (let round = 0; round < 2; round++) {
      const out = await averageGradients(job, tf, grads);
      assert.deepEqual(Object.keys(out), ['z/bias', 'a/kernel']);
      assert.deepEqual(out['a/kernel']?.shape, [1, 3]);
      assert.deepEqual(Array.from(out['a/kernel']?.dataSync() ?? []), [6, 8, 10]);
      assert.deepEqual(Array.from(out['z/bias']?.dataSync() ?? []), [2, 4]);
      tf.dispose(out);
    }
    assert.equal(seen.length, 2);
    assert.ok(seen[0]?.buffer instanceof SharedArrayBuffer);
    assert.equal(seen[0], seen[1], 'the buffer is kept between calls');
    // Sorted by name, whatever the map's order: members agree on the layout.
    assert.deepEqual(Array.from(seen[0] ?? []), [3, 4, 5, 1, 2].map((v) => v * 2));
    tf.dispose(grads);
  });

  it('trackModel: creates the optimiser slots without changing the model or the iteration count', async () => {
    const model = mlp(1);
    const opt = tf.train.adam(0.01);
    const before = flat(model.getWeights());
    const s = await trackModel(registrar, tf, model, opt);
    assert.deepEqual(flat(model.getWeights()), before);
    assert.deepEqual(Array.from(s.values.weights), before.map(Math.fround));
    const ow = await opt.getWeights();
    assert.equal(ow.length, 1 + 2 * model.getWeights().length, 'iterations, then m and v per variable');
    assert.equal(ow[0]?.tensor.dataSync()[0], 0);
    // And Adam's running powers beta1^t and beta2^t, which getWeights() does not hand out.
    assert.equal(s.values.optimizer.length, 1 + 2 * before.length + 2);
  });

  it('apply() after capture() puts model and optimiser back as captured, without leaking tensors', async () => {
    const model = mlp(2);
    const opt = tf.train.adam(0.01);
    const s = await trackModel(registrar, tf, model, opt);
    for (let i = 0; i < 3; i++) step(model, opt);
    await s.capture();
    const weights = flat(model.getWeights());
    const slots = await optFlat(opt);
    assert.equal(slots[0], 3);
    for (let i = 0; i < 2; i++) step(model, opt);
    assert.notDeepEqual(flat(model.getWeights()), weights);
    await s.apply();
    assert.deepEqual(flat(model.getWeights()), weights);
    assert.deepEqual(await optFlat(opt), slots);
    const live = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) {
      await s.capture();
      await s.apply();
    }
    assert.equal(tf.memory().numTensors, live);
  });

  it('a rollback with momentum redoes the same steps bit for bit', async () => {
    const model = mlp(3);
    const opt = tf.train.momentum(0.1, 0.9);
    const s = await trackModel(registrar, tf, model, opt);
    step(model, opt);
    await assertRollbackRedoes(model, opt, s);
  });

  it('a rollback with Adam redoes the same steps bit for bit (its running beta powers restored too)', async () => {
    const model = mlp(4);
    const opt = tf.train.adam(0.01);
    const s = await trackModel(registrar, tf, model, opt);
    // Rolled back at several points: setWeights() alone rebuilds beta^t with pow(), which
    // differs from the running product in the last bit at most of them.
    for (let i = 0; i < 20; i++) step(model, opt);
    for (let round = 0; round < 10; round++) await assertRollbackRedoes(model, opt, s, `after the rollback in round ${round}`);
  });
});

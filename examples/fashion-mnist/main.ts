import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { connect } from '../../src/index.js';
import { CLASSES, DEFAULT_DATA_DIR, DataError, PIXELS, loadFashionMnist, permutation, syntheticFashionMnist, type DataSet, type Split } from './data.js';
import { ADAM_DEFAULTS, Workspace, adamStep, evaluate, initParams, lossAndGrad, paramCount, sharedFloats, views, type Shape } from './mlp.js';

/**
 * Data-parallel training of a 784-H-10 MLP on Fashion-MNIST, as a Rollcall program. Every rank
 * takes its own slice of each global batch, the gradients are averaged with one allreduce, and
 * every rank applies the same Adam update, so the weights stay identical everywhere. The model
 * and optimizer are committed after every step: after a fault the job rolls back to the newest
 * common version and goes on, and in replace mode ends with the very bits of a run without.
 *
 *   rollcall launch --nodes 4 --spares 1 -- node dist/examples/fashion-mnist/main.js [options]
 *
 * See README.md for the options.
 */
const USAGE = 'usage: main.js [--epochs E | --steps N] [--batch B] [--hidden H] [--lr LR] [--synthetic] [--train-size N] [--data DIR]';

interface Options {
  epochs: number;
  steps: number | undefined;
  batch: number;
  hidden: number;
  lr: number;
  synthetic: boolean;
  trainSize: number | undefined;
  data: string;
}

function fail(message: string, code: number): never {
  console.error(`fashion-mnist: ${message}`);
  process.exit(code);
}

function parseOptions(): Options {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        epochs: { type: 'string', default: '1' },
        steps: { type: 'string' },
        batch: { type: 'string', default: '32' },
        hidden: { type: 'string', default: '128' },
        lr: { type: 'string', default: String(ADAM_DEFAULTS.lr) },
        synthetic: { type: 'boolean', default: false },
        'train-size': { type: 'string' },
        data: { type: 'string', default: DEFAULT_DATA_DIR },
      },
    }));
  } catch (e) {
    fail(`${(e as Error).message}\n${USAGE}`, 2);
  }
  const int = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got "${v}"\n${USAGE}`, 2);
    return n;
  };
  const lr = Number(values.lr);
  if (!(lr > 0 && Number.isFinite(lr))) fail(`--lr must be a positive number, got "${values.lr}"`, 2);
  return {
    epochs: int('epochs', values.epochs, 1) as number,
    steps: int('steps', values.steps, 0),
    batch: int('batch', values.batch, 1) as number,
    hidden: int('hidden', values.hidden, 1) as number,
    lr,
    synthetic: values.synthetic,
    trainSize: int('train-size', values['train-size'], 1),
    data: values.data,
  };
}

const opts = parseOptions();
const loadStart = performance.now();
let data: DataSet;
try {
  // Loaded before connect(): a spare is then ready the moment it is brought in, and a missing
  // data set ends the job at once as the program's own failure, not as a node fault.
  data = opts.synthetic ? syntheticFashionMnist(opts.trainSize ?? 60_000) : loadFashionMnist(opts.data, opts.trainSize);
} catch (e) {
  if (e instanceof DataError) fail(e.message, 1);
  throw e;
}
const loadSeconds = (performance.now() - loadStart) / 1000;

const job = await connect().catch((e: unknown) => fail((e as Error).message, 2));
const started = performance.now();
const shape: Shape = { inputs: PIXELS, hidden: opts.hidden, classes: CLASSES };
const P = paramCount(shape);
const params = sharedFloats(P);
const grad = sharedFloats(P);
const m = sharedFloats(P);
const v = sharedFloats(P);
initParams(params, shape);
const pv = views(params, shape);
const gv = views(grad, shape);

// A type alias, not an interface: only those are assignable to the state's JSON type.
type Meta = { epoch: number; offset: number; adamT: number };
// `offset` counts samples of this epoch's order already used, not steps: if a shrink changes the
// world size mid-epoch, the epoch goes on from the same place with a smaller global batch.
// Data-parallel: every entry is the same on every member (the weights and Adam's moments after
// the averaged update, and the global position in the epoch), so all are declared replicated:
// the members compare their digests to catch silent data corruption, and any member can restore
// a node that lost every copy of its own versions.
const state = job.registerState({ params, m, v, meta: { epoch: 0, offset: 0, adamT: 0 } as Meta }, { replicated: true });

const B = opts.batch;
const N = data.train.count;
const ws = new Workspace(shape, B);
const evalWs = new Workspace(shape, 256);
const labels = new Uint8Array(B);
const adam = { ...ADAM_DEFAULTS, lr: opts.lr };
const SCALE = new Float32Array(256).map((_, i) => i / 255);

let order: { epoch: number; perm: Uint32Array } = { epoch: -1, perm: new Uint32Array(0) };
function orderOf(epoch: number): Uint32Array {
  if (order.epoch !== epoch) order = { epoch, perm: permutation(N, epoch) };
  return order.perm;
}

/** Copies samples `idx(i)`, i < n, of a split into the workspace as floats in [0, 1]. */
function gather(split: Split, w: Workspace, n: number, idx: (i: number) => number, into: Uint8Array): void {
  for (let i = 0; i < n; i++) {
    const s = idx(i);
    const src = split.images.subarray(s * PIXELS, (s + 1) * PIXELS);
    const o = i * PIXELS;
    for (let k = 0; k < PIXELS; k++) w.x[o + k] = SCALE[src[k] as number] as number;
    into[i] = split.labels[s] as number;
  }
}

/** Test accuracy and mean loss: each rank takes a shard, the counts are summed. */
async function testSet(rank: number, world: number): Promise<{ accuracy: number; loss: number }> {
  const T = data.test.count;
  const shard = Math.ceil(T / world);
  const end = Math.min(T, (rank + 1) * shard);
  const evalLabels = new Uint8Array(evalWs.batch);
  const sums = new Float64Array(2);
  for (let s = rank * shard; s < end; s += evalWs.batch) {
    const n = Math.min(evalWs.batch, end - s);
    gather(data.test, evalWs, n, (i) => s + i, evalLabels);
    const r = evaluate(pv, evalWs, evalLabels, n);
    sums[0] = (sums[0] as number) + r.correct;
    sums[1] = (sums[1] as number) + r.loss;
  }
  await job.allreduce(sums, 'sum');
  return { accuracy: (sums[0] as number) / T, loss: (sums[1] as number) / T };
}

const seconds = (): number => Math.round((performance.now() - started) / 100) / 10;
const epochsDone = (meta: Meta): number => meta.epoch + meta.offset / N;
const log = (rank: number, line: string): void => {
  if (rank === 0) console.error(`fashion-mnist: ${line}`);
};

type Summary = { accuracy: number; loss: number; digest: string; world: number };
let summary: Summary | undefined;

await job.run(state, async (s) => {
  // Fixed within a generation; the loop is entered anew after every membership change.
  const { rank, world } = job;
  if (world * B > N) fail(`a global batch of ${world} x ${B} samples is larger than the training set (${N}): lower --batch`, 1);
  const done = (meta: Meta): boolean => (opts.steps !== undefined ? s.step >= opts.steps : meta.epoch >= opts.epochs);
  // Whether the last thing this pass did was an evaluation. Kept per pass, never across a
  // rollback: it then follows from the restored state alone, so every member, a spare included,
  // agrees on whether to evaluate once more (an evaluation is a collective).
  let evaluated: { accuracy: number; loss: number } | undefined;
  for (;;) {
    let meta = s.values.meta;
    if (meta.offset + world * B > N) {
      // The rest of the epoch would not fill a global batch: it is dropped. Not committed, as it
      // follows from the state: a rollback to this point takes the same turn again.
      evaluated = await testSet(rank, world);
      const of = opts.steps === undefined ? `/${opts.epochs}` : '';
      log(rank, `epoch ${meta.epoch + 1}${of}  step ${s.step}  test accuracy ${pct(evaluated.accuracy)}  test loss ${evaluated.loss.toFixed(4)}  world ${world}  ${seconds()} s`);
      s.values.meta = meta = { epoch: meta.epoch + 1, offset: 0, adamT: meta.adamT };
    }
    if (done(meta)) break;
    const perm = orderOf(meta.epoch);
    const base = meta.offset + rank * B;
    gather(data.train, ws, B, (i) => perm[base + i] as number, labels);
    lossAndGrad(pv, gv, ws, labels, B);
    await job.allreduce(grad, 'avg');
    // Nothing of the state changes before the allreduce has succeeded: a fault under it leaves
    // the step to be done again from the same weights.
    const adamT = meta.adamT + 1;
    adamStep(params, grad, m, v, adamT, adam);
    s.values.meta = { epoch: meta.epoch, offset: meta.offset + world * B, adamT };
    s.step += 1;
    s.commit();
    job.progress(s.step);
    evaluated = undefined;
  }
  if (!evaluated) {
    evaluated = await testSet(rank, world);
    log(rank, `step ${s.step} (epoch ${epochsDone(s.values.meta).toFixed(2)})  test accuracy ${pct(evaluated.accuracy)}  test loss ${evaluated.loss.toFixed(4)}  world ${world}  ${seconds()} s`);
  }
  summary = { ...evaluated, world, digest: createHash('sha256').update(new Uint8Array(params.buffer, params.byteOffset, params.byteLength)).digest('hex').slice(0, 16) };
});

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

// Nothing asynchronous between the last collective and close(): a member still running when
// another has closed its links would take that for a fault (see README.md, "Known issues").
const r = summary as Summary;
job.result({
  steps: state.step,
  epochs: Math.round(epochsDone(state.values.meta) * 1000) / 1000,
  accuracy: Math.round(r.accuracy * 1e6) / 1e6,
  loss: Math.round(r.loss * 1e6) / 1e6,
  digest: r.digest,
  world: r.world,
  synthetic: data.synthetic,
  batch: B,
  hidden: opts.hidden,
  trainSize: N,
  seconds: seconds(),
  loadSeconds: Math.round(loadSeconds * 10) / 10,
});
await job.close();

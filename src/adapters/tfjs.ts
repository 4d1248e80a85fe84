import type { Collectives } from '../comm/communicator.js';
import type { Job } from '../sdk/job.js';
import type { State, StateEntry, StateOptions } from '../sdk/state.js';

/**
 * TensorFlow.js on Rollcall: gradient averaging and model/optimiser state that survives
 * rollbacks. Rollcall does not depend on TensorFlow.js: the program passes its `tf` module in,
 * and everything here is typed structurally by the few members it uses.
 *
 *   const tracked = await trackModel(job, tf, model, optimizer);
 *   await job.run(tracked, async (s) => {
 *     await tracked.apply();                 // after a rollback: the restored mirror into the model
 *     while (s.step < steps) {
 *       const { grads } = optimizer.computeGradients(loss);
 *       const avg = await averageGradients(job, tf, grads);
 *       optimizer.applyGradients(avg);
 *       tf.dispose([grads, avg]);
 *       s.step += 1;
 *       await tracked.capture();
 *       s.commit();
 *     }
 *   });
 */

export type TfDataType = 'float32' | 'int32' | 'bool' | 'complex64' | 'string';

export interface TensorLike {
  readonly shape: number[];
  readonly size: number;
  readonly dtype: TfDataType;
  readonly id: number;
  dataSync(): ArrayLike<number>;
  dispose(): void;
}

export interface VariableLike extends TensorLike {
  readonly name: string;
  assign(value: TensorLike): void;
}

export interface NamedTensorLike {
  name: string;
  tensor: TensorLike;
}

/** The part of the `tf` module used here. */
export interface TfLike {
  tensor(values: Float32Array | Int32Array, shape: number[], dtype?: 'float32' | 'int32'): TensorLike;
}

/** A tf.LayersModel, or anything else that hands out its variables and takes new values. */
export interface ModelLike {
  getWeights(): TensorLike[];
  setWeights(weights: TensorLike[]): void;
}

/** A tf.train optimiser (SGD, momentum, Adam...). */
export interface OptimizerLike {
  applyGradients(grads: Record<string, TensorLike> | NamedTensorLike[]): void;
  getWeights(): Promise<NamedTensorLike[]>;
  setWeights(weights: NamedTensorLike[]): Promise<void>;
}

const flatBuffers = new WeakMap<object, Float32Array>();

/** The job's flat gradient buffer: kept between calls, so each step allocates no shared memory. */
function flatFor(job: object, n: number): Float32Array {
  let flat = flatBuffers.get(job);
  if (!flat || flat.length !== n) {
    flat = new Float32Array(new SharedArrayBuffer(n * 4));
    flatBuffers.set(job, flat);
  }
  return flat;
}

/**
 * Averages a gradient map (as from `optimizer.computeGradients` or `tf.variableGrads`) over the
 * job's members with one allreduce, and returns new tensors of the same shapes and keys; the
 * caller disposes them and its own. Members must pass maps with the same names and shapes.
 */
export async function averageGradients<T extends TensorLike>(
  job: Pick<Collectives, 'allreduce'>,
  tf: { tensor(values: Float32Array, shape: number[]): T },
  grads: Record<string, TensorLike>,
): Promise<Record<string, T>> {
  // Sorted, so the members agree on the layout even if they built their maps in another order.
  const names = Object.keys(grads).sort();
  const total = names.reduce((n, k) => n + (grads[k] as TensorLike).size, 0);
  const flat = flatFor(job, total);
  const offsets = new Map<string, number>();
  let at = 0;
  for (const k of names) {
    const g = grads[k] as TensorLike;
    flat.set(g.dataSync(), at);
    offsets.set(k, at);
    at += g.size;
  }
  await job.allreduce(flat, 'avg');
  const out: Record<string, T> = {};
  // The caller's key order is kept: some optimisers (Adam, momentum) index their slots by it.
  for (const k of Object.keys(grads)) {
    const g = grads[k] as TensorLike;
    const o = offsets.get(k) as number;
    out[k] = tf.tensor(flat.slice(o, o + g.size), g.shape);
  }
  return out;
}

/** What `trackModel` adds to the state: the two directions of the mirror. */
export interface TrackedModel {
  /** Copies the model's and the optimiser's variables into the state; call it before `commit()`. */
  capture(): Promise<void>;
  /** Writes the state back into the model and the optimiser; call it after a rollback. */
  apply(): Promise<void>;
}

export type TrackedState<E extends Record<string, StateEntry>> = State<E & { weights: Float32Array; optimizer: Float32Array }> & TrackedModel;

interface Layout {
  shapes: number[][];
  dtypes: TfDataType[];
  names: string[];
  size: number;
}

function layoutOf(ts: { name?: string; tensor: TensorLike }[]): Layout {
  return {
    shapes: ts.map((t) => t.tensor.shape),
    dtypes: ts.map((t) => t.tensor.dtype),
    names: ts.map((t) => t.name ?? ''),
    size: ts.reduce((n, t) => n + t.tensor.size, 0),
  };
}

function copyIn(ts: TensorLike[], mirror: Float32Array): void {
  let at = 0;
  for (const t of ts) {
    mirror.set(t.dataSync(), at);
    at += t.size;
  }
}

function tensorsFrom(tf: TfLike, mirror: Float32Array, l: Layout): TensorLike[] {
  let at = 0;
  return l.shapes.map((shape, i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const part = mirror.subarray(at, at + n);
    at += n;
    // Optimisers keep their iteration count as an int32 scalar; it is exact in float32 up to 2^24.
    return l.dtypes[i] === 'int32' ? tf.tensor(Int32Array.from(part), shape, 'int32') : tf.tensor(part.slice(), shape, 'float32');
  });
}

const isVariable = (t: TensorLike): boolean => typeof (t as Partial<VariableLike>).assign === 'function';

/** getWeights() hands out live variables and fresh tensors (an iteration count): only the latter are ours to free. */
function disposeFresh(ts: TensorLike[]): void {
  for (const t of ts) if (!isVariable(t)) t.dispose();
}

/**
 * Scalars an optimiser keeps outside `getWeights()`: Adam's running powers beta^t of its bias
 * correction (tfjs 4.22; Adamax has no getWeights() at all). `setWeights()` rebuilds the
 * powers as pow(beta, t + 1), which differs from the running product in the last bit at most
 * steps, so a rollback that relied on it would not be bit-identical. They go into the
 * optimiser's mirror after its weights, and are assigned back after `setWeights()`.
 */
const HIDDEN_SCALARS = ['accBeta1', 'accBeta2'] as const;

function hiddenScalars(optimizer: OptimizerLike): VariableLike[] {
  const o = optimizer as unknown as Record<string, unknown>;
  return HIDDEN_SCALARS.flatMap((k) => {
    const v = o[k] as Partial<VariableLike> | undefined;
    return v && typeof v.assign === 'function' && v.size === 1 && v.dtype === 'float32' ? [v as VariableLike] : [];
  });
}

/**
 * Registers a model's weights and its optimiser's state as Rollcall state: `weights` and
 * `optimizer`, two flat Float32Arrays that mirror the variables, plus any `extra` entries. The
 * returned State also has `capture()` and `apply()`.
 *
 * Optimisers such as Adam create their slots on the first update, and state entries have a fixed
 * size, so this applies zero gradients once to create them, then restores the weights and resets
 * the iteration count: the optimiser is left as if untouched. Call it before `job.run()`, after
 * the model's initial weights are set (identically on every member).
 *
 * `model` is a tf.LayersModel, or an array of tf.Variables (for tf.variableGrads-style programs).
 */
export async function trackModel<E extends Record<string, StateEntry> = Record<never, never>>(
  job: Pick<Job, 'registerState'>,
  tf: TfLike,
  model: ModelLike | VariableLike[],
  optimizer: OptimizerLike,
  extra?: E,
  /**
   * Which entries are the same on every member (see StateOptions): by default the weights and the
   * optimiser's state, which gradient averaging keeps identical; `extra` entries only if named.
   */
  options: StateOptions = { replicated: ['weights', 'optimizer'] },
): Promise<TrackedState<E>> {
  const getW = (): TensorLike[] => (Array.isArray(model) ? model : model.getWeights());
  const setW = (ts: TensorLike[]): void => {
    if (Array.isArray(model)) model.forEach((v, i) => v.assign(ts[i] as TensorLike));
    else model.setWeights(ts);
  };
  const initial = getW();
  const wl = layoutOf(initial.map((tensor) => ({ tensor })));
  const weights = new Float32Array(new SharedArrayBuffer(wl.size * 4));
  copyIn(initial, weights);
  disposeFresh(initial);

  await materialiseSlots(tf, getW, optimizer);
  const restoreWeights = (): void => {
    const ts = tensorsFrom(tf, weights, wl);
    setW(ts);
    for (const t of ts) t.dispose();
  };
  restoreWeights();
  const first = await optimizer.getWeights();
  const ol = layoutOf(first);
  const hidden = hiddenScalars(optimizer);
  const opt = new Float32Array(new SharedArrayBuffer((ol.size + hidden.length) * 4));
  copyIn(
    [...first.map((w) => w.tensor), ...hidden],
    opt,
  );
  disposeFresh(first.map((w) => w.tensor));

  const state = job.registerState({ ...(extra ?? ({} as E)), weights, optimizer: opt }, options) as TrackedState<E>;
  state.capture = async () => {
    const ws = getW();
    copyIn(ws, weights);
    disposeFresh(ws);
    const os = (await optimizer.getWeights()).map((w) => w.tensor);
    if (os.reduce((n, t) => n + t.size, 0) !== ol.size) throw new Error('the optimiser state changed size since trackModel(): a new variable was trained?');
    copyIn([...os, ...hidden], opt);
    disposeFresh(os);
  };
  state.apply = async () => {
    restoreWeights();
    const old = (await optimizer.getWeights()).map((w) => w.tensor);
    const ts = tensorsFrom(tf, opt, ol);
    await optimizer.setWeights(ts.map((tensor, i) => ({ name: ol.names[i] as string, tensor })));
    for (const t of ts) t.dispose();
    hidden.forEach((v, i) => {
      const t = tf.tensor(opt.subarray(ol.size + i, ol.size + i + 1).slice(), v.shape, 'float32');
      v.assign(t);
      t.dispose();
    });
    // setWeights() wraps the values in new variables and drops the old ones without freeing them.
    const now = (await optimizer.getWeights()).map((w) => w.tensor);
    const kept = new Set(now.filter(isVariable).map((t) => t.id));
    for (const t of old) if (!isVariable(t) || !kept.has(t.id)) t.dispose();
    disposeFresh(now);
  };
  return state;
}

/** Makes the optimiser create its per-variable slots now, with an update that changes nothing. */
async function materialiseSlots(tf: TfLike, getW: () => TensorLike[], optimizer: OptimizerLike): Promise<void> {
  const before = await optimizer.getWeights();
  const vars = getW();
  const zeros: Record<string, TensorLike> = {};
  for (const v of vars) {
    const name = (v as Partial<VariableLike>).name;
    if (!isVariable(v) || name === undefined) throw new Error('trackModel: the model must hand out its variables (tf.LayersModel.getWeights() does)');
    zeros[name] = tf.tensor(new Float32Array(v.size), v.shape, 'float32');
  }
  optimizer.applyGradients(zeros);
  for (const z of Object.values(zeros)) z.dispose();
  // Back to the iteration count it had, which also resets Adam's running beta powers.
  const after = await optimizer.getWeights();
  const it = before[0] as NamedTensorLike;
  await optimizer.setWeights([{ name: it.name, tensor: it.tensor }, ...after.slice(1)]);
  disposeFresh(before.map((w) => w.tensor));
  disposeFresh([after[0]?.tensor as TensorLike]);
}

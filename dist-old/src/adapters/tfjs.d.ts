import type { Job } from '../sdk/job.js';
import type { State, StateEntry } from '../sdk/state.js';
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
/**
 * Averages a gradient map (as from `optimizer.computeGradients` or `tf.variableGrads`) over the
 * job's members with one allreduce, and returns new tensors of the same shapes and keys; the
 * caller disposes them and its own. Members must pass maps with the same names and shapes.
 */
export declare function averageGradients<T extends TensorLike>(job: Pick<Job, 'allreduce'>, tf: {
    tensor(values: Float32Array, shape: number[]): T;
}, grads: Record<string, TensorLike>): Promise<Record<string, T>>;
/** What `trackModel` adds to the state: the two directions of the mirror. */
export interface TrackedModel {
    /** Copies the model's and the optimiser's variables into the state; call it before `commit()`. */
    capture(): Promise<void>;
    /** Writes the state back into the model and the optimiser; call it after a rollback. */
    apply(): Promise<void>;
}
export type TrackedState<E extends Record<string, StateEntry>> = State<E & {
    weights: Float32Array;
    optimizer: Float32Array;
}> & TrackedModel;
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
export declare function trackModel<E extends Record<string, StateEntry> = Record<never, never>>(job: Pick<Job, 'registerState'>, tf: TfLike, model: ModelLike | VariableLike[], optimizer: OptimizerLike, extra?: E): Promise<TrackedState<E>>;

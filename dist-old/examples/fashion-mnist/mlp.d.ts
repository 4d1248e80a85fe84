/**
 * A one-hidden-layer perceptron (inputs -> hidden, ReLU -> classes, softmax cross-entropy) and
 * Adam, in plain loops over Float32Arrays. No I/O, no randomness but the seeded initialisation:
 * the same inputs give the same bits on every rank.
 *
 * Every parameter lives in one flat array (W1 | b1 | W2 | b2), and so do the gradient and Adam's
 * moments, so a single allreduce averages the whole gradient and a single commit saves the
 * model. Weights are stored input-major (W1[k * hidden + j]) so that the hot loops run over
 * contiguous memory in i-k-j order.
 */
export interface Shape {
    inputs: number;
    hidden: number;
    classes: number;
}
export interface Views {
    w1: Float32Array;
    b1: Float32Array;
    w2: Float32Array;
    b2: Float32Array;
}
export declare function paramCount(s: Shape): number;
/** Views of W1, b1, W2, b2 over a flat array (of parameters or of gradients). */
export declare function views(flat: Float32Array, s: Shape): Views;
/** A flat Float32Array over shared memory: what the proxy reduces without copying. */
export declare function sharedFloats(n: number): Float32Array;
/** He initialisation (normal, sd sqrt(2 / fan-in)), biases zero; the seed makes it identical on every rank. */
export declare function initParams(params: Float32Array, s: Shape, seed?: number): void;
/** Scratch buffers for a batch of up to `batch` samples, allocated once. */
export declare class Workspace {
    readonly shape: Shape;
    readonly batch: number;
    readonly x: Float32Array;
    readonly h: Float32Array;
    readonly dh: Float32Array;
    readonly logits: Float32Array;
    constructor(shape: Shape, batch: number);
}
/**
 * Hidden activations and logits of the first `n` samples in `ws.x`. Zero inputs are skipped:
 * about half of a Fashion-MNIST image is black background, and this loop is most of the time.
 */
export declare function forward(p: Views, ws: Workspace, n: number): void;
/**
 * The mean loss over the batch (`n` samples in `ws.x`, their `labels`), and its gradient with
 * respect to every parameter, written (not added) into `g`.
 */
export declare function lossAndGrad(p: Views, g: Views, ws: Workspace, labels: ArrayLike<number>, n: number): number;
/** How many of the `n` samples in `ws.x` are classified right, and their summed loss. */
export declare function evaluate(p: Views, ws: Workspace, labels: ArrayLike<number>, n: number): {
    correct: number;
    loss: number;
};
export interface AdamConfig {
    lr: number;
    beta1: number;
    beta2: number;
    eps: number;
}
export declare const ADAM_DEFAULTS: AdamConfig;
/** One Adam update of `params` from `grad`; `t` is the number of this update, from 1. */
export declare function adamStep(params: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, t: number, cfg?: AdamConfig): void;

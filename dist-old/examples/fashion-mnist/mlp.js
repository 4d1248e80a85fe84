import { mulberry32 } from './data.js';
export function paramCount(s) {
    return s.inputs * s.hidden + s.hidden + s.hidden * s.classes + s.classes;
}
/** Views of W1, b1, W2, b2 over a flat array (of parameters or of gradients). */
export function views(flat, s) {
    let o = 0;
    const take = (n) => {
        const v = flat.subarray(o, o + n);
        o += n;
        return v;
    };
    return { w1: take(s.inputs * s.hidden), b1: take(s.hidden), w2: take(s.hidden * s.classes), b2: take(s.classes) };
}
/** A flat Float32Array over shared memory: what the proxy reduces without copying. */
export function sharedFloats(n) {
    return new Float32Array(new SharedArrayBuffer(n * 4));
}
/** He initialisation (normal, sd sqrt(2 / fan-in)), biases zero; the seed makes it identical on every rank. */
export function initParams(params, s, seed = 1) {
    const rnd = mulberry32(seed);
    const normal = () => {
        // Box-Muller; 1 - u keeps the logarithm finite.
        const u = 1 - rnd();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
    };
    const v = views(params, s);
    params.fill(0);
    const sd1 = Math.sqrt(2 / s.inputs);
    for (let i = 0; i < v.w1.length; i++)
        v.w1[i] = normal() * sd1;
    const sd2 = Math.sqrt(2 / s.hidden);
    for (let i = 0; i < v.w2.length; i++)
        v.w2[i] = normal() * sd2;
}
/** Scratch buffers for a batch of up to `batch` samples, allocated once. */
export class Workspace {
    shape;
    batch;
    x;
    h;
    dh;
    logits;
    constructor(shape, batch) {
        this.shape = shape;
        this.batch = batch;
        this.x = new Float32Array(batch * shape.inputs);
        this.h = new Float32Array(batch * shape.hidden);
        this.dh = new Float32Array(batch * shape.hidden);
        this.logits = new Float32Array(batch * shape.classes);
    }
}
/**
 * y[yo + j] += a * x[xo + j] for j < n: the inner loop of both big matmuls. Unrolled by hand,
 * which V8 does not do, and which makes the whole step about twice as fast.
 */
function axpy(y, yo, a, x, xo, n) {
    const n8 = n - (n & 7);
    let j = 0;
    for (; j < n8; j += 8) {
        const p = yo + j;
        const q = xo + j;
        y[p] = y[p] + a * x[q];
        y[p + 1] = y[p + 1] + a * x[q + 1];
        y[p + 2] = y[p + 2] + a * x[q + 2];
        y[p + 3] = y[p + 3] + a * x[q + 3];
        y[p + 4] = y[p + 4] + a * x[q + 4];
        y[p + 5] = y[p + 5] + a * x[q + 5];
        y[p + 6] = y[p + 6] + a * x[q + 6];
        y[p + 7] = y[p + 7] + a * x[q + 7];
    }
    for (; j < n; j++)
        y[yo + j] = y[yo + j] + a * x[xo + j];
}
/**
 * Hidden activations and logits of the first `n` samples in `ws.x`. Zero inputs are skipped:
 * about half of a Fashion-MNIST image is black background, and this loop is most of the time.
 */
export function forward(p, ws, n) {
    const { inputs: I, hidden: H, classes: C } = ws.shape;
    const { x, h, logits } = ws;
    const { w1, b1, w2, b2 } = p;
    for (let i = 0; i < n; i++) {
        const ho = i * H;
        for (let j = 0; j < H; j++)
            h[ho + j] = b1[j];
        const xo = i * I;
        for (let k = 0; k < I; k++) {
            const xv = x[xo + k];
            if (xv === 0)
                continue;
            axpy(h, ho, xv, w1, k * H, H);
        }
        for (let j = 0; j < H; j++)
            if (h[ho + j] < 0)
                h[ho + j] = 0;
        const lo = i * C;
        for (let c = 0; c < C; c++)
            logits[lo + c] = b2[c];
        for (let j = 0; j < H; j++) {
            const hv = h[ho + j];
            if (hv === 0)
                continue;
            const wo = j * C;
            for (let c = 0; c < C; c++)
                logits[lo + c] = logits[lo + c] + hv * w2[wo + c];
        }
    }
}
/**
 * Turns sample i's logits into dLoss/dlogits (softmax minus one-hot, times `scale`) in place
 * and returns its cross-entropy loss.
 */
function softmaxGrad(logits, o, C, label, scale) {
    let max = -Infinity;
    for (let c = 0; c < C; c++)
        max = Math.max(max, logits[o + c]);
    let sum = 0;
    for (let c = 0; c < C; c++)
        sum += Math.exp(logits[o + c] - max);
    const loss = Math.log(sum) - (logits[o + label] - max);
    for (let c = 0; c < C; c++)
        logits[o + c] = (Math.exp(logits[o + c] - max) / sum - (c === label ? 1 : 0)) * scale;
    return loss;
}
/**
 * The mean loss over the batch (`n` samples in `ws.x`, their `labels`), and its gradient with
 * respect to every parameter, written (not added) into `g`.
 */
export function lossAndGrad(p, g, ws, labels, n) {
    const { inputs: I, hidden: H, classes: C } = ws.shape;
    const { x, h, dh, logits } = ws;
    forward(p, ws, n);
    let loss = 0;
    for (let i = 0; i < n; i++)
        loss += softmaxGrad(logits, i * C, C, labels[i], 1 / n);
    g.w1.fill(0);
    g.b1.fill(0);
    g.w2.fill(0);
    g.b2.fill(0);
    const { w2 } = p;
    for (let i = 0; i < n; i++) {
        const ho = i * H;
        const lo = i * C;
        for (let c = 0; c < C; c++)
            g.b2[c] = g.b2[c] + logits[lo + c];
        for (let j = 0; j < H; j++) {
            const hv = h[ho + j];
            // The ReLU passes no gradient where it was off.
            if (hv === 0) {
                dh[ho + j] = 0;
                continue;
            }
            const wo = j * C;
            let s = 0;
            for (let c = 0; c < C; c++) {
                const d = logits[lo + c];
                g.w2[wo + c] = g.w2[wo + c] + hv * d;
                s += d * w2[wo + c];
            }
            dh[ho + j] = s;
            g.b1[j] = g.b1[j] + s;
        }
        const xo = i * I;
        const gw1 = g.w1;
        for (let k = 0; k < I; k++) {
            const xv = x[xo + k];
            if (xv === 0)
                continue;
            axpy(gw1, k * H, xv, dh, ho, H);
        }
    }
    return loss / n;
}
/** How many of the `n` samples in `ws.x` are classified right, and their summed loss. */
export function evaluate(p, ws, labels, n) {
    const C = ws.shape.classes;
    forward(p, ws, n);
    let correct = 0;
    let loss = 0;
    for (let i = 0; i < n; i++) {
        const o = i * C;
        let best = 0;
        for (let c = 1; c < C; c++)
            if (ws.logits[o + c] > ws.logits[o + best])
                best = c;
        const label = labels[i];
        if (best === label)
            correct += 1;
        loss += softmaxGrad(ws.logits, o, C, label, 1);
    }
    return { correct, loss };
}
export const ADAM_DEFAULTS = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
/** One Adam update of `params` from `grad`; `t` is the number of this update, from 1. */
export function adamStep(params, grad, m, v, t, cfg = ADAM_DEFAULTS) {
    const { lr, beta1, beta2, eps } = cfg;
    const c1 = 1 - beta1 ** t;
    const c2 = 1 - beta2 ** t;
    const n = params.length;
    for (let i = 0; i < n; i++) {
        const gi = grad[i];
        const mi = beta1 * m[i] + (1 - beta1) * gi;
        const vi = beta2 * v[i] + (1 - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        params[i] = params[i] - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
    }
}
//# sourceMappingURL=mlp.js.map
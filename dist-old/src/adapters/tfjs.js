const flatBuffers = new WeakMap();
/** The job's flat gradient buffer: kept between calls, so each step allocates no shared memory. */
function flatFor(job, n) {
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
export async function averageGradients(job, tf, grads) {
    // Sorted, so the members agree on the layout even if they built their maps in another order.
    const names = Object.keys(grads).sort();
    const total = names.reduce((n, k) => n + grads[k].size, 0);
    const flat = flatFor(job, total);
    const offsets = new Map();
    let at = 0;
    for (const k of names) {
        const g = grads[k];
        flat.set(g.dataSync(), at);
        offsets.set(k, at);
        at += g.size;
    }
    await job.allreduce(flat, 'avg');
    const out = {};
    // The caller's key order is kept: some optimisers (Adam, momentum) index their slots by it.
    for (const k of Object.keys(grads)) {
        const g = grads[k];
        const o = offsets.get(k);
        out[k] = tf.tensor(flat.slice(o, o + g.size), g.shape);
    }
    return out;
}
function layoutOf(ts) {
    return {
        shapes: ts.map((t) => t.tensor.shape),
        dtypes: ts.map((t) => t.tensor.dtype),
        names: ts.map((t) => t.name ?? ''),
        size: ts.reduce((n, t) => n + t.tensor.size, 0),
    };
}
function copyIn(ts, mirror) {
    let at = 0;
    for (const t of ts) {
        mirror.set(t.dataSync(), at);
        at += t.size;
    }
}
function tensorsFrom(tf, mirror, l) {
    let at = 0;
    return l.shapes.map((shape, i) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const part = mirror.subarray(at, at + n);
        at += n;
        // Optimisers keep their iteration count as an int32 scalar; it is exact in float32 up to 2^24.
        return l.dtypes[i] === 'int32' ? tf.tensor(Int32Array.from(part), shape, 'int32') : tf.tensor(part.slice(), shape, 'float32');
    });
}
const isVariable = (t) => typeof t.assign === 'function';
/** getWeights() hands out live variables and fresh tensors (an iteration count): only the latter are ours to free. */
function disposeFresh(ts) {
    for (const t of ts)
        if (!isVariable(t))
            t.dispose();
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
export async function trackModel(job, tf, model, optimizer, extra) {
    const getW = () => (Array.isArray(model) ? model : model.getWeights());
    const setW = (ts) => {
        if (Array.isArray(model))
            model.forEach((v, i) => v.assign(ts[i]));
        else
            model.setWeights(ts);
    };
    const initial = getW();
    const wl = layoutOf(initial.map((tensor) => ({ tensor })));
    const weights = new Float32Array(new SharedArrayBuffer(wl.size * 4));
    copyIn(initial, weights);
    disposeFresh(initial);
    await materialiseSlots(tf, getW, optimizer);
    const restoreWeights = () => {
        const ts = tensorsFrom(tf, weights, wl);
        setW(ts);
        for (const t of ts)
            t.dispose();
    };
    restoreWeights();
    const first = await optimizer.getWeights();
    const ol = layoutOf(first);
    const opt = new Float32Array(new SharedArrayBuffer(ol.size * 4));
    copyIn(first.map((w) => w.tensor), opt);
    disposeFresh(first.map((w) => w.tensor));
    const state = job.registerState({ ...(extra ?? {}), weights, optimizer: opt });
    state.capture = async () => {
        const ws = getW();
        copyIn(ws, weights);
        disposeFresh(ws);
        const os = (await optimizer.getWeights()).map((w) => w.tensor);
        if (os.reduce((n, t) => n + t.size, 0) !== ol.size)
            throw new Error('the optimiser state changed size since trackModel(): a new variable was trained?');
        copyIn(os, opt);
        disposeFresh(os);
    };
    state.apply = async () => {
        restoreWeights();
        const old = (await optimizer.getWeights()).map((w) => w.tensor);
        const ts = tensorsFrom(tf, opt, ol);
        await optimizer.setWeights(ts.map((tensor, i) => ({ name: ol.names[i], tensor })));
        for (const t of ts)
            t.dispose();
        // setWeights() wraps the values in new variables and drops the old ones without freeing them.
        const now = (await optimizer.getWeights()).map((w) => w.tensor);
        const kept = new Set(now.filter(isVariable).map((t) => t.id));
        for (const t of old)
            if (!isVariable(t) || !kept.has(t.id))
                t.dispose();
        disposeFresh(now);
    };
    return state;
}
/** Makes the optimiser create its per-variable slots now, with an update that changes nothing. */
async function materialiseSlots(tf, getW, optimizer) {
    const before = await optimizer.getWeights();
    const vars = getW();
    const zeros = {};
    for (const v of vars) {
        const name = v.name;
        if (!isVariable(v) || name === undefined)
            throw new Error('trackModel: the model must hand out its variables (tf.LayersModel.getWeights() does)');
        zeros[name] = tf.tensor(new Float32Array(v.size), v.shape, 'float32');
    }
    optimizer.applyGradients(zeros);
    for (const z of Object.values(zeros))
        z.dispose();
    // Back to the iteration count it had, which also resets Adam's running beta powers.
    const after = await optimizer.getWeights();
    const it = before[0];
    await optimizer.setWeights([{ name: it.name, tensor: it.tensor }, ...after.slice(1)]);
    disposeFresh(before.map((w) => w.tensor));
    disposeFresh([after[0]?.tensor]);
}
//# sourceMappingURL=tfjs.js.map
import { asBytes, finishAvg, reduceInto, viewOf } from '../dtype.js';
import { CollectiveRun, segStart } from './collective-run.js';
/**
 * Latency-optimal collectives for small buffers: every rank sends its piece straight to the
 * ranks that need it, one round, no forwarding.
 */
const EMPTY = new Uint8Array(0);
class DirectRun extends CollectiveRun {
    sources;
    expectElems;
    /** arrived[r] is 1 once rank r's frame is in. */
    arrived;
    isSource;
    constructor(ctx, sig, sources, expectElems) {
        super(ctx, sig);
        this.sources = sources;
        this.expectElems = expectElems;
        this.arrived = new Uint8Array(ctx.world);
        this.isSource = new Uint8Array(ctx.world);
        for (const r of sources)
            this.isSource[r] = 1;
    }
    start() {
        this.expectFrames(this.sources.length);
        this.sendAll();
    }
    onFrame(from, _h, payload) {
        if (this.isSource[from] !== 1 || this.arrived[from] === 1)
            throw this.badFrame(from, 'unexpected or duplicate frame');
        this.checkLength(from, payload, this.expectElems);
        this.arrived[from] = 1;
        this.accept(from, viewOf(this.sig.dtype, payload));
        this.frameDone();
    }
    waitingOn() {
        return this.sources.filter((r) => this.arrived[r] !== 1);
    }
}
/**
 * Folds contributions strictly in rank order 0, 1, ..., R-1, whatever order they arrive in, so
 * every rank computes the very same bits. A contribution that arrives early is copied aside;
 * one that arrives in turn is reduced straight from the receive buffer.
 */
class OrderedFold {
    ctx;
    op;
    accBytes;
    acc;
    waiting = new Map();
    next = 0;
    constructor(ctx, op, like, dtype) {
        this.ctx = ctx;
        this.op = op;
        // Pooled: a fresh accumulator per call made the garbage collector a tenth of the time.
        this.accBytes = ctx.pool.take(like.byteLength);
        this.acc = viewOf(dtype, this.accBytes, 0, like.length);
    }
    /** `stable` data (our own buffer) is kept by reference; received data is copied if early. */
    add(rank, data, stable = false) {
        if (rank !== this.next) {
            this.waiting.set(rank, stable ? data : data.slice());
            return;
        }
        this.fold(data);
        for (let d = this.waiting.get(this.next); d; d = this.waiting.get(this.next)) {
            this.waiting.delete(this.next);
            this.fold(d);
        }
    }
    fold(data) {
        if (this.next === 0)
            this.acc.set(data);
        else
            reduceInto(this.acc, data, this.op);
        this.next++;
    }
    /** Hands the result to `use`, then returns the accumulator to the pool. */
    finish(use) {
        if (this.op === 'avg')
            finishAvg(this.acc, this.ctx.world);
        use(this.acc);
        this.ctx.pool.release(this.accBytes);
    }
}
export class DirectAllreduceRun extends DirectRun {
    buf;
    fold;
    constructor(ctx, sig, buf, op) {
        super(ctx, sig, ctx.others, buf.length);
        this.buf = buf;
        this.fold = new OrderedFold(ctx, op, buf, sig.dtype);
    }
    sendAll() {
        const bytes = asBytes(this.buf);
        for (const j of this.ctx.others)
            this.send(j, 0, 0, bytes);
        this.fold.add(this.ctx.rank, this.buf, true);
    }
    accept(from, data) {
        this.fold.add(from, data);
    }
    finish() {
        // Safe to overwrite buf now: every send that referenced it has been flushed.
        this.fold.finish((r) => this.buf.set(r));
    }
}
export class DirectReduceScatterRun extends DirectRun {
    buf;
    lo;
    fold;
    constructor(ctx, sig, buf, op) {
        const lo = segStart(ctx.rank, buf.length, ctx.world);
        const hi = segStart(ctx.rank + 1, buf.length, ctx.world);
        super(ctx, sig, ctx.others, hi - lo);
        this.buf = buf;
        this.lo = lo;
        this.fold = new OrderedFold(ctx, op, buf.subarray(lo, hi), sig.dtype);
    }
    sendAll() {
        const n = this.buf.length;
        const w = this.ctx.world;
        for (const j of this.ctx.others)
            this.send(j, 0, 0, asBytes(this.buf, segStart(j, n, w), segStart(j + 1, n, w)));
        this.fold.add(this.ctx.rank, this.buf.subarray(this.lo, segStart(this.ctx.rank + 1, n, w)), true);
    }
    accept(from, data) {
        this.fold.add(from, data);
    }
    finish() {
        this.fold.finish((r) => this.buf.set(r, this.lo));
    }
}
export class DirectAllgatherRun extends DirectRun {
    input;
    output;
    constructor(ctx, sig, input, output) {
        super(ctx, sig, ctx.others, input.length);
        this.input = input;
        this.output = output;
    }
    sendAll() {
        const bytes = asBytes(this.input);
        for (const j of this.ctx.others)
            this.send(j, 0, 0, bytes);
        this.output.set(this.input, this.ctx.rank * this.input.length);
    }
    accept(from, data) {
        this.output.set(data, from * this.input.length);
    }
}
export class DirectBroadcastRun extends DirectRun {
    buf;
    root;
    constructor(ctx, sig, buf, root) {
        super(ctx, sig, ctx.rank === root ? [] : [root], buf.length);
        this.buf = buf;
        this.root = root;
    }
    sendAll() {
        if (this.ctx.rank !== this.root)
            return;
        const bytes = asBytes(this.buf);
        for (const j of this.ctx.others)
            this.send(j, 0, 0, bytes);
    }
    accept(_from, data) {
        // Only non-roots receive, and their buffer is not being sent, so it can be filled at once.
        this.buf.set(data);
    }
}
export class BarrierRun extends DirectRun {
    constructor(ctx, sig) {
        super(ctx, sig, ctx.others, 0);
    }
    sendAll() {
        for (const j of this.ctx.others)
            this.send(j, 0, 0, EMPTY);
    }
    accept() { }
}
//# sourceMappingURL=direct.js.map
import { asBytes, finishAvg, reduceInto, viewOf } from '../dtype.js';
import { CollectiveRun, chunkCount, mod, segStart } from './collective-run.js';
/**
 * The bandwidth-optimal ring: each rank sends and receives 2(R-1)/R of the buffer. Segments are
 * cut into chunks and every received chunk is reduced and forwarded at once, so the ring works
 * as a pipeline. Chunk c of segment s is always reduced in the same ring order, so results are
 * bit-identical on every rank and every run.
 */
export class RingRun extends CollectiveRun {
    buf;
    plan;
    left;
    right;
    chunk;
    rsSteps;
    agSteps;
    constructor(ctx, sig, buf, plan) {
        super(ctx, sig);
        this.buf = buf;
        this.plan = plan;
        const { rank, world } = ctx;
        this.left = mod(rank - 1, world);
        this.right = mod(rank + 1, world);
        this.chunk = ctx.chunkElems(sig.dtype);
        this.rsSteps = plan.reduce ? world - 1 : 0;
        this.agSteps = plan.gather ? world - 1 : 0;
    }
    seg(i) {
        const n = this.buf.length;
        const w = this.ctx.world;
        return [segStart(i, n, w), segStart(i + 1, n, w)];
    }
    /** Segment received at a given wire step. */
    recvSeg(step) {
        const r = this.ctx.rank;
        const w = this.ctx.world;
        return step < this.rsSteps ? mod(r - step - 2, w) : mod(r - (step - this.rsSteps) - 1, w);
    }
    start() {
        const r = this.ctx.rank;
        for (let s = 0; s < this.rsSteps + this.agSteps; s++) {
            const [a, b] = this.seg(this.recvSeg(s));
            this.expectFrames(chunkCount(b - a, this.chunk));
        }
        if (this.rsSteps + this.agSteps === 0)
            return;
        const first = this.rsSteps > 0 ? mod(r - 1, this.ctx.world) : r;
        const [a, b] = this.seg(first);
        for (let off = a; off < b; off += this.chunk)
            this.sendChunk(0, off, Math.min(b, off + this.chunk));
    }
    sendChunk(step, from, to) {
        this.send(this.right, step, from, asBytes(this.buf, from, to));
    }
    onFrame(from, h, payload) {
        const step = h.step;
        if (from !== this.left)
            throw this.badFrame(from, `ring frame from rank ${from}, expected only rank ${this.left}`);
        if (step >= this.rsSteps + this.agSteps)
            throw this.badFrame(from, `ring step ${step} out of range`);
        const [a, b] = this.seg(this.recvSeg(step));
        const off = h.offset;
        if (off < a || off >= b || (off - a) % this.chunk !== 0)
            throw this.badFrame(from, `chunk offset ${off} is not a chunk of segment [${a},${b})`);
        const end = Math.min(b, off + this.chunk);
        this.checkLength(from, payload, end - off);
        const incoming = viewOf(this.sig.dtype, payload);
        const target = this.buf.subarray(off, end);
        if (step < this.rsSteps) {
            reduceInto(target, incoming, this.plan.reduce);
            if (step < this.rsSteps - 1) {
                this.sendChunk(step + 1, off, end);
            }
            else {
                // This chunk of our own segment is complete: divide once, here, so all ranks get these bits.
                if (this.plan.reduce === 'avg')
                    finishAvg(this.buf, this.ctx.world, off, end);
                if (this.agSteps > 0)
                    this.sendChunk(this.rsSteps, off, end);
            }
        }
        else {
            target.set(incoming);
            if (step < this.rsSteps + this.agSteps - 1)
                this.sendChunk(step + 1, off, end);
        }
        this.frameDone();
    }
    waitingOn() {
        return this.expecting ? [this.left] : [];
    }
}
/**
 * Broadcast for large buffers: a pipelined chain root → root+1 → ... Each rank forwards each
 * chunk as soon as it lands, so the cost is about one buffer's transfer plus R-2 chunks.
 */
export class ChainBroadcastRun extends CollectiveRun {
    buf;
    pos;
    chunk;
    left;
    right;
    constructor(ctx, sig, buf, root) {
        super(ctx, sig);
        this.buf = buf;
        this.pos = mod(ctx.rank - root, ctx.world);
        this.chunk = ctx.chunkElems(sig.dtype);
        this.left = mod(ctx.rank - 1, ctx.world);
        this.right = mod(ctx.rank + 1, ctx.world);
    }
    start() {
        if (this.ctx.world === 1)
            return;
        const n = this.buf.length;
        if (this.pos === 0) {
            for (let off = 0; off < n; off += this.chunk)
                this.send(this.right, 0, off, asBytes(this.buf, off, Math.min(n, off + this.chunk)));
        }
        else {
            this.expectFrames(chunkCount(n, this.chunk));
        }
    }
    onFrame(from, h, payload) {
        if (this.pos === 0 || from !== this.left)
            throw this.badFrame(from, `broadcast chunk from rank ${from} was not expected`);
        const n = this.buf.length;
        const off = h.offset;
        if (off >= n || off % this.chunk !== 0)
            throw this.badFrame(from, `chunk offset ${off} out of range`);
        const end = Math.min(n, off + this.chunk);
        this.checkLength(from, payload, end - off);
        this.buf.set(viewOf(this.sig.dtype, payload), off);
        if (this.pos < this.ctx.world - 1)
            this.send(this.right, 0, off, asBytes(this.buf, off, end));
        this.frameDone();
    }
    waitingOn() {
        return this.pos === 0 || !this.expecting ? [] : [this.left];
    }
}
//# sourceMappingURL=ring.js.map
import { ProtocolError } from '../../errors.js';
import { DTYPE_CODE, REDUCE_CODE, bytesPer } from '../dtype.js';
import { OpKind } from '../frame.js';
/**
 * One execution of one collective on this rank. Frames are pushed in as they arrive (from the
 * socket's data handler, so reductions overlap with transfer); the run resolves only once every
 * expected frame was consumed *and* every send it made was flushed, because sends reference the
 * caller's buffer without copying it.
 */
export class CollectiveRun {
    ctx;
    sig;
    /** Header fields shared by every frame of this call. */
    fields;
    /** Set by the communicator before begin(): called once, when the run resolves or fails. */
    onSettled = () => undefined;
    pendingWrites = 0;
    framesLeft = 0;
    started = false;
    settled = false;
    constructor(ctx, sig) {
        this.ctx = ctx;
        this.sig = sig;
        this.fields = {
            seq: sig.seq,
            kind: sig.kind,
            dtype: DTYPE_CODE[sig.dtype],
            redop: sig.redop ? REDUCE_CODE[sig.redop] : 0,
            count: sig.count,
            tag: sig.tag,
        };
    }
    /** Makes the initial sends. Subclasses set the number of frames they expect first. */
    begin() {
        this.start();
        // Only now: a send may report its flush synchronously, and must not complete the run
        // before start() has issued every send.
        this.started = true;
        this.maybeComplete();
    }
    /** True while frames are still expected: a run only waiting on its own sends needs no one. */
    get expecting() {
        return this.framesLeft > 0;
    }
    expectFrames(n) {
        this.framesLeft += n;
    }
    /** Runs once all frames are in and all sends flushed, before the run resolves. */
    finish() { }
    send(to, step, offset, payload) {
        this.pendingWrites++;
        this.ctx.sendData(to, this.fields, step, offset, payload, this.flushed);
    }
    flushed = (err) => {
        this.pendingWrites--;
        if (err)
            this.fail(err);
        else
            this.maybeComplete();
    };
    frameDone() {
        this.framesLeft--;
        this.maybeComplete();
    }
    fail(err) {
        if (this.settled)
            return;
        this.settled = true;
        this.onSettled(err);
    }
    maybeComplete() {
        if (this.settled || !this.started || this.framesLeft > 0 || this.pendingWrites > 0)
            return;
        this.settled = true;
        let err;
        try {
            this.finish();
        }
        catch (e) {
            err = e;
        }
        this.onSettled(err);
    }
    badFrame(from, what) {
        return new ProtocolError(`rank ${from}: ${what} in collective #${this.sig.seq} (${OpKind[this.sig.kind]})`, { rank: from });
    }
    checkLength(from, payload, elems) {
        if (payload.byteLength !== elems * bytesPer(this.sig.dtype)) {
            throw this.badFrame(from, `frame of ${payload.byteLength} bytes where ${elems * bytesPer(this.sig.dtype)} were expected`);
        }
    }
}
export function mod(a, n) {
    return ((a % n) + n) % n;
}
/** Start of segment `i` when `n` elements are split as evenly as possible into `parts`. */
export function segStart(i, n, parts) {
    return Math.floor((i * n) / parts);
}
export function chunkCount(elems, chunk) {
    return Math.ceil(elems / chunk);
}
//# sourceMappingURL=collective-run.js.map
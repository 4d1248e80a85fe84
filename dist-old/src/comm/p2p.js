import { CollectiveMismatchError } from '../errors.js';
import { DTYPE_BY_CODE, DTYPE_CODE, asBytes, viewOf } from './dtype.js';
import { OpKind } from './frame.js';
/**
 * Point-to-point messages. Each ordered pair of ranks has its own message sequence, so sends
 * and receives never interfere with collectives. Messages between two ranks are matched in
 * order; a receive whose length, dtype or tag differs from the message that arrives is a
 * mismatch, and fails loudly rather than filling the buffer with the wrong data.
 */
export class PointToPoint {
    ctx;
    sendSeq = new Map();
    recvSeq = new Map();
    posted = new Map();
    /** Frames that arrived before the matching recv() was posted. */
    early = new Map();
    constructor(ctx) {
        this.ctx = ctx;
    }
    send(buf, dtype, to, tag) {
        const seq = this.sendSeq.get(to) ?? 0;
        this.sendSeq.set(to, seq + 1);
        const n = buf.length;
        const chunk = this.ctx.chunkElems(dtype);
        const base = { seq, kind: OpKind.Send, dtype: DTYPE_CODE[dtype], count: n, tag };
        return new Promise((resolve, reject) => {
            let pending = 0;
            let failed = false;
            const flushed = (err) => {
                if (failed)
                    return;
                if (err) {
                    failed = true;
                    reject(err);
                }
                else if (--pending === 0)
                    resolve();
            };
            let off = 0;
            do {
                const end = Math.min(n, off + chunk);
                pending++;
                this.ctx.sendP2P(to, { ...base, offset: off }, asBytes(buf, off, end), flushed);
                off = end;
            } while (off < n);
        });
    }
    recv(buf, dtype, from, tag) {
        const seq = this.recvSeq.get(from) ?? 0;
        this.recvSeq.set(from, seq + 1);
        return new Promise((resolve, reject) => {
            const queue = this.posted.get(from) ?? [];
            this.posted.set(from, queue);
            queue.push({ buf, dtype, tag, seq, filled: 0, resolve, reject });
            const early = this.early.get(from);
            while (early && early.length > 0 && queue.length > 0) {
                const f = early.shift();
                this.deliver(from, f.h, f.payload);
            }
        });
    }
    /** Throws on a mismatch; the communicator then breaks, because the stream is out of step. */
    onFrame(from, h, payload) {
        const queue = this.posted.get(from);
        if (!queue || queue.length === 0) {
            const early = this.early.get(from) ?? [];
            this.early.set(from, early);
            early.push({ h, payload: payload.slice() });
            return;
        }
        this.deliver(from, h, payload);
    }
    deliver(from, h, payload) {
        const queue = this.posted.get(from);
        const r = queue[0];
        const sentType = DTYPE_BY_CODE.get(h.dtype) ?? `dtype#${h.dtype}`;
        if (h.seq !== r.seq || h.count !== r.buf.length || sentType !== r.dtype || h.tag !== r.tag || h.offset !== r.filled) {
            const err = new CollectiveMismatchError(`rank ${from} sent message #${h.seq} of ${h.count} ${sentType} with tag ${h.tag}, but recv #${r.seq} on rank ${this.ctx.rank} expects ${r.buf.length} ${r.dtype} with tag ${r.tag}`, { rank: from });
            throw err;
        }
        const src = viewOf(r.dtype, payload);
        if (r.filled + src.length > r.buf.length)
            throw new CollectiveMismatchError(`rank ${from} sent more data than message #${h.seq} holds`, { rank: from });
        r.buf.set(src, r.filled);
        r.filled += src.length;
        if (r.filled === r.buf.length) {
            queue.shift();
            r.resolve();
        }
    }
    /** Ranks that a posted receive is waiting on. */
    waitingOn() {
        return [...this.posted].filter(([, q]) => q.length > 0).map(([r]) => r);
    }
    failAll(err) {
        for (const q of this.posted.values())
            for (const r of q.splice(0))
                r.reject(err);
    }
}
//# sourceMappingURL=p2p.js.map
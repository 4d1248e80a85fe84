import { EventEmitter } from 'node:events';
import { AbortedError, ClosedError, CollectiveMismatchError, InvalidArgumentError, PeerFailedError, ProtocolError, RollcallError, } from '../errors.js';
import { BarrierRun, DirectAllgatherRun, DirectAllreduceRun, DirectBroadcastRun, DirectReduceScatterRun } from './algorithms/direct.js';
import { ChainBroadcastRun, RingRun } from './algorithms/ring.js';
import { RecursiveDoublingRun } from './algorithms/recursive-doubling.js';
import { HalvingDoublingRun } from './algorithms/halving-doubling.js';
import { segStart } from './algorithms/collective-run.js';
import { DTYPE_BY_CODE, REDUCE_BY_CODE, bytesPer, dtypeOf } from './dtype.js';
import { FrameType, OpKind } from './frame.js';
import { PointToPoint } from './p2p.js';
import { BufferPool } from './buffer-pool.js';
import { Spinner } from './spinner.js';
import { cpuYield } from './cpu-yield.js';
import { Peer, PeerState } from './peer.js';
import { encodeJson } from './handshake.js';
import { z } from 'zod';
export var CommState;
(function (CommState) {
    CommState["Ready"] = "ready";
    /** A peer failed or the caller aborted: every pending and later operation rejects. */
    CommState["Broken"] = "broken";
    CommState["Closed"] = "closed";
})(CommState || (CommState = {}));
export const DEFAULT_TUNING = {
    timeoutMs: 10_000,
    heartbeatMs: 1_000,
    smallBytes: 32 * 1024,
    doublingMaxBytes: 64 * 1024,
    halvingMaxBytes: 2 * 1024 * 1024,
    chunkBytes: 1024 * 1024,
    maxFrameBytes: 64 * 1024 * 1024,
    spinUs: 0,
    spinMaxBytes: 256 * 1024,
    spinYield: false,
};
/** With more ranks than cores, collectives up to this size poll (and yield). */
export const SHARED_SPIN_MAX_BYTES = 16 * 1024;
/** Measured: 50 µs catches most 4 KiB replies (15-20 µs) with room for a late peer. */
export const AUTO_SPIN_US = 50;
/** Added to the polling window per KiB of the collective: loopback moves about 1-2 GB/s per direction here. */
const SPIN_US_PER_KIB = 1;
const AbortPayload = z.object({
    code: z.string(),
    message: z.string(),
    detail: z.string().optional(),
    failed: z.array(z.number().int().nonnegative()),
    reason: z.string(),
    detectedBy: z.number().int().optional(),
});
/**
 * A communicator for one generation of a group: `world` ranks of job `job`. It is fail-stop:
 * the first failure (a peer lost, a mismatch, an abort) breaks it for good, every pending and
 * later operation rejects with that typed error, and the other ranks are told why. Recovery
 * means building a new communicator for a new generation, which is the proxy's job.
 */
export class Communicator extends EventEmitter {
    job;
    generation;
    rank;
    world;
    peers;
    tuning;
    state = CommState.Ready;
    failure;
    seq = 0;
    /** Collectives must run one at a time, in call order, on every rank. */
    queue = [];
    pumping = false;
    current;
    /** Collective frames that arrived for a collective we have not started yet. */
    early = new Map();
    /** Sequence number of the collective that started last, -1 before the first. */
    lastStarted = -1;
    /** Signatures of the last few collectives, to diagnose a late frame from a mismatched call. */
    recent = new Map();
    /** Ranks that closed their communicator cleanly; the next operation fails on them. */
    departed = new Set();
    p2p;
    pool = new BufferPool();
    spinner;
    ctx;
    livenessTimer;
    lastTick = Date.now();
    constructor(job, generation, rank, world, peers, tuning) {
        super();
        this.job = job;
        this.generation = generation;
        this.rank = rank;
        this.world = world;
        this.peers = peers;
        this.tuning = tuning;
        const handler = {
            frame: (peer, h, p) => this.onFrame(peer, h, p),
            lost: (peer, err) => this.onPeerLost(peer, err),
        };
        for (const p of peers.values())
            p.attach(handler);
        this.spinner = new Spinner(tuning.spinUs, tuning.spinYield ? cpuYield() : undefined);
        const chunkElems = (d) => Math.max(1, Math.floor(tuning.chunkBytes / bytesPer(d)));
        this.ctx = {
            rank,
            world,
            others: Array.from({ length: world }, (_, i) => i).filter((i) => i !== rank),
            chunkElems,
            pool: this.pool,
            sendData: (to, fields, step, offset, payload, onFlushed) => this.peerFor(to).sendFrame(FrameType.Data, fields, step, offset, payload, this.flushed(to, onFlushed)),
        };
        this.p2p = new PointToPoint({
            rank,
            chunkElems,
            sendP2P: (to, h, payload, onFlushed) => this.peerFor(to).send(FrameType.P2P, h, payload, this.flushed(to, onFlushed)),
        });
        this.livenessTimer = setInterval(() => this.checkLiveness(), Math.max(1, Math.min(tuning.heartbeatMs, tuning.timeoutMs / 4)));
        this.livenessTimer.unref();
    }
    /** The error that broke this communicator, if any. */
    get error() {
        return this.failure;
    }
    /** In-place allreduce. Resolves with `buf`, which then holds the result on every rank. */
    allreduce(buf, op = 'sum', opts = {}) {
        const dtype = dtypeOf(buf);
        checkOp(op);
        const sig = this.sig(OpKind.Allreduce, dtype, op, buf.length, 0);
        return this.run(sig, opts, () => this.allreduceRun(sig, buf, op), buf);
    }
    allreduceRun(sig, buf, op) {
        const bytes = buf.byteLength;
        if (bytes <= this.tuning.smallBytes || this.world === 1)
            return this.smallAllreduce(sig, buf, op);
        if (bytes <= this.tuning.doublingMaxBytes && RecursiveDoublingRun.fits(this.world))
            return new RecursiveDoublingRun(this.ctx, sig, buf, op);
        if (bytes <= this.tuning.halvingMaxBytes && HalvingDoublingRun.fits(this.world))
            return new HalvingDoublingRun(this.ctx, sig, buf, op);
        return new RingRun(this.ctx, sig, buf, { reduce: op, gather: true });
    }
    smallAllreduce(sig, buf, op) {
        return RecursiveDoublingRun.fits(this.world) ? new RecursiveDoublingRun(this.ctx, sig, buf, op) : new DirectAllreduceRun(this.ctx, sig, buf, op);
    }
    /** In-place broadcast of `buf` from `root` to every rank. */
    broadcast(buf, root = 0, opts = {}) {
        const dtype = dtypeOf(buf);
        this.checkRank(root, 'root');
        const sig = this.sig(OpKind.Broadcast, dtype, undefined, buf.length, root);
        const chain = buf.byteLength > this.tuning.smallBytes;
        return this.run(sig, opts, () => (chain ? new ChainBroadcastRun(this.ctx, sig, buf, root) : new DirectBroadcastRun(this.ctx, sig, buf, root)), buf);
    }
    /** Gathers every rank's `input` into `output` (length world × input.length), in rank order. */
    allgather(input, output, opts = {}) {
        const dtype = dtypeOf(input);
        const n = input.length;
        const out = output ?? (new input.constructor(n * this.world));
        if (dtypeOf(out) !== dtype || out.length !== n * this.world) {
            throw new InvalidArgumentError(`allgather output must be a ${dtype} array of ${n * this.world} elements (world ${this.world} × ${n})`, { rank: this.rank });
        }
        const sig = this.sig(OpKind.Allgather, dtype, undefined, n, 0);
        const ring = out.byteLength > this.tuning.smallBytes && this.world > 1;
        return this.run(sig, opts, () => {
            if (!ring)
                return new DirectAllgatherRun(this.ctx, sig, input, out);
            out.set(input, this.rank * n);
            return new RingRun(this.ctx, { ...sig }, out, { reduce: undefined, gather: true });
        }, out);
    }
    /**
     * Reduces `buf` across ranks and leaves this rank's segment of the result in place: segment r
     * is [floor(r·n/world), floor((r+1)·n/world)). Resolves with a view of that segment.
     */
    reduceScatter(buf, op = 'sum', opts = {}) {
        const dtype = dtypeOf(buf);
        checkOp(op);
        const sig = this.sig(OpKind.ReduceScatter, dtype, op, buf.length, 0);
        const ring = buf.byteLength > this.tuning.smallBytes && this.world > 1;
        return this.run(sig, opts, () => (ring ? new RingRun(this.ctx, sig, buf, { reduce: op, gather: false }) : new DirectReduceScatterRun(this.ctx, sig, buf, op)), this.segmentOf(buf, this.rank));
    }
    /** This rank's segment of a reduce-scatter result: a view, not a copy. */
    segmentOf(buf, rank) {
        return buf.subarray(segStart(rank, buf.length, this.world), segStart(rank + 1, buf.length, this.world));
    }
    barrier(opts = {}) {
        const sig = this.sig(OpKind.Barrier, 'int32', undefined, 0, 0);
        return this.run(sig, opts, () => new BarrierRun(this.ctx, sig), undefined);
    }
    /** Sends `buf` to rank `to`. Resolves once the data no longer needs `buf`. */
    send(buf, to, opts = {}) {
        const dtype = dtypeOf(buf);
        this.checkRank(to, 'destination');
        if (this.departed.has(to))
            this.failDeparted([to]);
        return this.guard(opts, () => this.p2p.send(buf, dtype, to, opts.tag ?? 0));
    }
    /** Receives the next message from rank `from` into `buf`; its length, dtype and tag must match. */
    recv(buf, from, opts = {}) {
        const dtype = dtypeOf(buf);
        this.checkRank(from, 'source');
        const p = this.guard(opts, () => this.p2p.recv(buf, dtype, from, opts.tag ?? 0)).then(() => buf);
        this.checkDeparted();
        return p;
    }
    /** Cancels everything: pending and later operations reject with AbortedError, peers are told. */
    abort(reason = 'aborted by the caller') {
        this.fail(new AbortedError(`rank ${this.rank}: ${reason}`, { rank: this.rank }), [this.rank]);
    }
    /**
     * Drops every link at once with no final word, as a crash would. For a proxy being replaced:
     * a goodbye or ABORT queued behind a stopped peer's full socket would hold the process open.
     */
    destroy(reason = 'destroyed') {
        if (this.state === CommState.Ready) {
            this.state = CommState.Closed;
            clearInterval(this.livenessTimer);
            const err = new ClosedError(`communicator of rank ${this.rank} ${reason}`, { rank: this.rank });
            this.current?.fail(err);
            this.p2p.failAll(err);
        }
        for (const p of this.peers.values())
            p.destroy();
    }
    /** Closes the links gracefully. Pending operations reject with ClosedError. */
    close() {
        if (this.state === CommState.Closed)
            return;
        const wasReady = this.state === CommState.Ready;
        this.state = CommState.Closed;
        clearInterval(this.livenessTimer);
        const err = this.failure ?? new ClosedError(`communicator of rank ${this.rank} was closed`, { rank: this.rank });
        this.current?.fail(err);
        this.p2p.failAll(err);
        for (const p of this.peers.values()) {
            if (wasReady)
                p.bye();
            else
                p.destroy();
        }
        this.emit('closed');
    }
    // ---- internals ----
    sig(kind, dtype, redop, count, tag) {
        return { seq: this.seq++, kind, dtype, redop, count, tag };
    }
    /** A write that fails means the link is gone: that is a peer failure, reported as one. */
    flushed(to, onFlushed) {
        return (err) => {
            if (!err)
                return onFlushed();
            this.fail(new PeerFailedError([to], 'reset', this.rank, `write failed: ${err.message}`, { cause: err }), [to]);
            onFlushed(this.failure ?? err);
        };
    }
    checkRank(r, what) {
        if (!Number.isInteger(r) || r < 0 || r >= this.world) {
            throw new InvalidArgumentError(`${what} rank ${r} is out of range for world size ${this.world}`, { rank: this.rank });
        }
        if (what !== 'root' && r === this.rank)
            throw new InvalidArgumentError(`${what} rank ${r} is this rank itself`, { rank: this.rank });
    }
    peerFor(rank) {
        const p = this.peers.get(rank);
        if (!p)
            throw new ProtocolError(`no link to rank ${rank}`, { rank });
        return p;
    }
    /** Why an operation cannot start now (broken, closed, or its signal already aborted), if so. */
    refusal(signal) {
        if (this.failure)
            return this.failure;
        if (this.state === CommState.Closed)
            return new ClosedError(`communicator of rank ${this.rank} is closed`, { rank: this.rank });
        if (signal?.aborted) {
            this.abort('operation signal aborted');
            return this.failure;
        }
        return undefined;
    }
    guard(opts, work) {
        const signal = opts.signal;
        const refused = this.refusal(signal);
        if (refused)
            return Promise.reject(refused);
        const onAbort = () => this.abort('operation signal aborted');
        signal?.addEventListener('abort', onAbort, { once: true });
        let p;
        try {
            p = work();
        }
        catch (e) {
            p = Promise.reject(e);
        }
        return p.finally(() => signal?.removeEventListener('abort', onAbort));
    }
    /**
     * Queues a collective; it starts in a microtask if none is running (not synchronously, so
     * that a close() or abort() right after the call still finds nothing sent). The returned
     * promise is the only one made per call: no chain of promise hops per operation.
     */
    run(sig, opts, make, result) {
        const signal = opts.signal;
        const refused = this.refusal(signal);
        if (refused)
            return Promise.reject(refused);
        return new Promise((resolve, reject) => {
            const onAbort = () => this.abort('operation signal aborted');
            signal?.addEventListener('abort', onAbort, { once: true });
            const done = (err) => {
                signal?.removeEventListener('abort', onAbort);
                if (err)
                    reject(err);
                else
                    resolve(result);
            };
            this.queue.push({ sig, make, done });
            if (this.queue.length === 1 && !this.current)
                queueMicrotask(this.pumpTask);
        });
    }
    pumpTask = () => this.pump();
    /** Starts queued collectives while none is running; re-entered when one settles. */
    pump() {
        if (this.pumping)
            return;
        this.pumping = true;
        try {
            while (!this.current && this.queue.length > 0)
                this.startOp(this.queue.shift());
        }
        finally {
            this.pumping = false;
        }
    }
    startOp(op) {
        if (this.failure)
            return op.done(this.failure);
        if (this.state === CommState.Closed)
            return op.done(new ClosedError(`communicator of rank ${this.rank} is closed`, { rank: this.rank }));
        let run;
        try {
            run = op.make();
        }
        catch (e) {
            return op.done(e);
        }
        const sig = op.sig;
        this.current = run;
        this.lastStarted = sig.seq;
        this.recent.set(sig.seq, sig);
        this.recent.delete(sig.seq - 16);
        run.onSettled = (err) => {
            if (this.current === run)
                this.current = undefined;
            op.done(err);
            this.pump();
        };
        try {
            run.begin();
            // Not the large collectives: they are bound by copies, and a polling rank takes the CPU
            // they need (1 MiB, 2 ranks: 475 µs per call polling, 296 µs without; one run). The
            // window grows with the size, for the transfer itself.
            const bytes = sig.count * bytesPer(sig.dtype);
            if (!run.settled && bytes <= this.tuning.spinMaxBytes)
                this.spinner.watch(run, (bytes / 1024) * SPIN_US_PER_KIB);
            const queued = this.early.get(sig.seq);
            if (queued) {
                this.early.delete(sig.seq);
                for (const f of queued) {
                    this.deliver(run, f);
                    this.pool.release(f.payload);
                }
            }
            this.checkDeparted();
        }
        catch (e) {
            run.fail(e);
        }
    }
    onFrame(peer, h, payload) {
        if (this.state !== CommState.Ready)
            return;
        try {
            if (h.type === FrameType.Abort)
                return this.onRemoteAbort(peer, payload);
            if (h.type === FrameType.P2P)
                return this.p2p.onFrame(peer.rank, h, payload);
            const run = this.current;
            if (run && h.seq === run.sig.seq)
                return this.dispatch(run, h, payload, peer.rank);
            // A peer may run ahead by several collectives; keep its frames until we get there.
            if (h.seq > this.lastStarted) {
                const list = this.early.get(h.seq) ?? [];
                this.early.set(h.seq, list);
                // The decoder reuses payload memory once we return, so an early frame keeps a copy.
                list.push({ h, payload: this.pool.copy(payload), from: peer.rank });
                return;
            }
            // A late frame for a finished collective: if its call differed from ours, say so.
            const past = this.recent.get(h.seq);
            if (past)
                this.checkSignature(past, h, peer.rank);
            throw new ProtocolError(`rank ${peer.rank} sent a frame for collective #${h.seq}, which is already finished here`, { rank: peer.rank });
        }
        catch (e) {
            this.fail(asRollcall(e, peer.rank), [peer.rank]);
        }
    }
    deliver(run, f) {
        try {
            this.dispatch(run, f.h, f.payload, f.from);
        }
        catch (e) {
            this.fail(asRollcall(e, f.from), [f.from]);
        }
    }
    /**
     * A rank that said BYE has sent everything it ever will (BYE travels after its data), so an
     * operation still waiting on it can never finish: fail it now rather than at the timeout.
     */
    checkDeparted() {
        if (this.departed.size === 0 || this.state !== CommState.Ready)
            return;
        const needed = [...(this.current?.waitingOn() ?? []), ...this.p2p.waitingOn()];
        const gone = [...new Set(needed.filter((r) => this.departed.has(r)))];
        if (gone.length > 0)
            this.failDeparted(gone);
    }
    failDeparted(gone) {
        this.fail(new PeerFailedError(gone, 'closed', this.rank, 'the peer closed its communicator'), gone);
    }
    dispatch(run, h, payload, from) {
        this.checkSignature(run.sig, h, from);
        run.onFrame(from, h, payload);
    }
    checkSignature(s, h, from) {
        const dt = DTYPE_BY_CODE.get(h.dtype);
        const ro = h.redop === 0 ? undefined : REDUCE_BY_CODE.get(h.redop);
        if (h.kind !== s.kind || dt !== s.dtype || ro !== s.redop || h.count !== s.count || h.tag !== s.tag) {
            const theirs = describeCall(h.kind, dt ?? `dtype#${h.dtype}`, ro, h.count, h.tag);
            const ours = describeCall(s.kind, s.dtype, s.redop, s.count, s.tag);
            throw new CollectiveMismatchError(`collective #${s.seq}: rank ${from} called ${theirs} but rank ${this.rank} called ${ours}`, { rank: from });
        }
    }
    onRemoteAbort(peer, payload) {
        let a;
        try {
            a = AbortPayload.parse(JSON.parse(Buffer.from(payload).toString('utf8')));
        }
        catch {
            throw new ProtocolError(`rank ${peer.rank} sent a malformed ABORT frame`, { rank: peer.rank });
        }
        const reason = ['reset', 'closed', 'timeout'].find((r) => r === a.reason) ?? 'reported';
        const err = a.code === 'ERR_COLLECTIVE_MISMATCH'
            ? new CollectiveMismatchError(`reported by rank ${peer.rank}: ${a.message}`, { rank: peer.rank })
            : new PeerFailedError(a.failed, reason, a.detectedBy ?? peer.rank, `${a.detail ?? a.message} (relayed by rank ${peer.rank})`);
        // Passing the report on is harmless (duplicates are ignored) and beats a race: without
        // it, a rank could see our links drop before the reporter's ABORT and blame us.
        this.fail(err, a.failed);
    }
    onPeerLost(peer, err) {
        if (this.state !== CommState.Ready)
            return;
        if (peer.state === PeerState.Departed) {
            this.departed.add(peer.rank);
            this.checkDeparted();
            return;
        }
        if (err instanceof RollcallError && !(err instanceof PeerFailedError)) {
            this.fail(err, [peer.rank]);
            return;
        }
        const reason = err?.code === 'ECONNRESET' ? 'reset' : 'closed';
        this.fail(new PeerFailedError([peer.rank], reason, this.rank, err?.message, { cause: err }), [peer.rank]);
    }
    checkLiveness() {
        const now = Date.now();
        const interval = Math.min(this.tuning.heartbeatMs, this.tuning.timeoutMs / 4);
        const late = now - this.lastTick > 3 * interval;
        this.lastTick = now;
        if (this.state !== CommState.Ready)
            return;
        for (const p of this.peers.values()) {
            if (p.state === PeerState.Ready && now - p.lastSent >= this.tuning.heartbeatMs)
                p.send(FrameType.Ping, {});
        }
        // If our own event loop was blocked, incoming bytes are still waiting in socket buffers:
        // judging peers by lastHeard now would blame them for our stall.
        if (late) {
            for (const p of this.peers.values())
                p.lastHeard = Math.max(p.lastHeard, now - interval);
            return;
        }
        const waiting = new Set([...(this.current?.waitingOn() ?? []), ...this.p2p.waitingOn()]);
        if (waiting.size === 0)
            return;
        const silent = [...this.peers.values()].filter((p) => p.state === PeerState.Ready && now - p.lastHeard > this.tuning.timeoutMs).map((p) => p.rank);
        if (silent.length > 0) {
            this.fail(new PeerFailedError(silent, 'timeout', this.rank, `no frame or heartbeat for over ${this.tuning.timeoutMs} ms`), silent);
        }
    }
    /**
     * The single failure path: record, reject everything, tell the others why, drop the links.
     * Ranks believed dead or misbehaving get no final word; everyone else gets an ABORT.
     */
    fail(err, failed) {
        if (this.state !== CommState.Ready)
            return;
        this.state = CommState.Broken;
        this.failure = err;
        clearInterval(this.livenessTimer);
        this.current?.fail(err);
        this.p2p.failAll(err);
        const dead = err instanceof PeerFailedError || err instanceof ProtocolError ? failed : [];
        const pf = err instanceof PeerFailedError ? err : undefined;
        const payload = encodeJson({ code: err.code, message: err.message, detail: pf?.detail, failed, reason: pf?.reason ?? 'error', detectedBy: pf?.detectedBy ?? this.rank });
        for (const p of this.peers.values()) {
            if (dead.includes(p.rank))
                p.destroy();
            else
                p.sendFinal(FrameType.Abort, payload);
        }
        this.emit('broken', err);
    }
}
function checkOp(op) {
    if (!['sum', 'avg', 'min', 'max', 'prod'].includes(op))
        throw new InvalidArgumentError(`unknown reduce op "${String(op)}"; use sum, avg, min, max or prod`);
}
function describeCall(kind, dtype, redop, count, tag) {
    const name = OpKind[kind] ?? `op#${kind}`;
    return `${name}(${count} × ${dtype}${redop ? `, ${redop}` : ''}${kind === OpKind.Broadcast ? `, root ${tag}` : ''})`;
}
function asRollcall(e, rank) {
    if (e instanceof RollcallError)
        return e;
    return new ProtocolError(`while handling a frame from rank ${rank}: ${e?.message ?? String(e)}`, { rank, cause: e });
}
//# sourceMappingURL=communicator.js.map
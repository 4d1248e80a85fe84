import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { dtypeOf } from '../comm/dtype.js';
import { AbortedError, AuthError, ClosedError, CollectiveMismatchError, InvalidArgumentError, PeerFailedError, ProtocolError, RendezvousTimeoutError, RollcallError, StoreUnavailableError, TimeoutError, } from '../errors.js';
import { ProxyState } from './proxy.js';
const WORKER = fileURLToPath(new URL('./proxy-worker.js', import.meta.url));
/** Rebuilds a typed error that crossed the thread boundary, so callers can match on it. */
export function revive(e) {
    const opts = { rank: e.rank };
    switch (e.code) {
        case 'ERR_PEER_FAILED': {
            const reason = ['reset', 'closed', 'timeout', 'reported'].find((r) => r === e.reason) ?? 'reported';
            return new PeerFailedError(e.failedRanks ?? [], reason, e.detectedBy ?? -1, e.detail ?? e.message);
        }
        case 'ERR_ABORTED':
            return new AbortedError(e.message, opts);
        case 'ERR_COLLECTIVE_MISMATCH':
            return new CollectiveMismatchError(e.message, opts);
        case 'ERR_PROTOCOL':
            return new ProtocolError(e.message, opts);
        case 'ERR_AUTH':
            return new AuthError(e.message, opts);
        case 'ERR_TIMEOUT':
            return new TimeoutError(e.message, opts);
        case 'ERR_RENDEZVOUS_TIMEOUT':
            return new RendezvousTimeoutError(e.missingRanks ?? (e.rank === undefined ? [] : [e.rank]), e.message, opts);
        case 'ERR_INVALID_ARGUMENT':
            return new InvalidArgumentError(e.message, opts);
        case 'ERR_STORE_UNAVAILABLE':
            return new StoreUnavailableError(e.message, opts);
        default:
            return new ClosedError(`proxy failed: ${e.name}: ${e.message}`, opts);
    }
}
/** A typed array whose memory the proxy can use directly (no copy across the thread boundary). */
export function sharedArray(ctor, length, bytesPer) {
    return new ctor(new SharedArrayBuffer(length * bytesPer), 0, length);
}
/**
 * The program's side of one proxy generation. Operations on arrays that live in a
 * SharedArrayBuffer are zero-copy; other arrays are staged through shared memory and copied
 * back, which costs two memcpys.
 */
export class ProxyHandle extends EventEmitter {
    worker;
    state = ProxyState.Starting;
    nextId = 1;
    pending = new Map();
    constructor(worker) {
        super();
        this.worker = worker;
        worker.on('message', (m) => this.onMessage(m));
        worker.on('error', (e) => this.breakWith(new ClosedError(`proxy thread crashed: ${e.message}`)));
        worker.on('exit', () => this.breakWith(new ClosedError('proxy thread exited')));
    }
    /**
     * Starts a proxy thread ahead of need: modules loaded, store connected. Starting a thread
     * and loading the library took most of a relaunch (see docs/architecture.md), so the SDK keeps
     * one standby proxy and activates it when the membership changes.
     */
    static standby(store, secret, timeoutMs) {
        const proxy = new ProxyHandle(new Worker(WORKER));
        return proxy.request({ type: 'prepare', store, secret }, 'prepared', timeoutMs, 'proxy did not start').then(() => {
            proxy.state = ProxyState.Standby;
            return proxy;
        });
    }
    /** Joins a generation; resolves with the rendezvous time in ms. */
    activate(connect, timeoutMs) {
        if (this.state !== ProxyState.Standby)
            return Promise.reject(new ClosedError(`proxy is ${this.state}, not standby`));
        this.state = ProxyState.Starting;
        return this.request({ type: 'connect', ...connect }, 'ready', timeoutMs, `proxy for generation ${connect.generation} was not ready`, connect.rank).then((m) => {
            this.state = ProxyState.Ready;
            return m.type === 'ready' ? m.ms : 0;
        });
    }
    request(msg, want, timeoutMs, what, rank) {
        const worker = this.worker;
        return new Promise((resolve, reject) => {
            const done = () => {
                clearTimeout(timer);
                worker.off('message', onMessage);
                worker.off('exit', onExit);
            };
            // Terminated while waiting (a newer generation superseded this one): fail now, not at the timeout.
            const onExit = () => {
                done();
                reject(new ClosedError(`${what}: proxy thread ended`, { rank }));
            };
            worker.on('exit', onExit);
            const timer = setTimeout(() => {
                done();
                void worker.terminate();
                reject(new TimeoutError(`${what} within ${timeoutMs} ms`, { rank }));
            }, timeoutMs);
            const onMessage = (m) => {
                if (m.type === want) {
                    done();
                    resolve(m);
                }
                else if (m.type === 'connect_failed') {
                    done();
                    void worker.terminate();
                    reject(revive(m.error));
                }
            };
            worker.on('message', onMessage);
            worker.postMessage(msg);
        });
    }
    allreduce(buf, redop = 'sum') {
        return this.staged(buf, (v) => ({ type: 'op', id: 0, op: 'allreduce', buf: v, redop }));
    }
    broadcast(buf, root = 0) {
        return this.staged(buf, (v) => ({ type: 'op', id: 0, op: 'broadcast', buf: v, root }));
    }
    barrier() {
        return this.call({ type: 'op', id: 0, op: 'barrier' });
    }
    send(buf, peer, tag = 0) {
        return this.staged(buf, (v) => ({ type: 'op', id: 0, op: 'send', buf: v, peer, tag }));
    }
    recv(buf, peer, tag = 0) {
        return this.staged(buf, (v) => ({ type: 'op', id: 0, op: 'recv', buf: v, peer, tag }));
    }
    /**
     * Ends the proxy at the end of the job: the communicator says BYE after its last data, so peers
     * still finishing see a departure, not a reset that their FMS would take for a fault. A
     * thread that lingers past graceMs is terminated.
     */
    async close(graceMs = 1000) {
        if (this.state !== ProxyState.Ready)
            return this.terminate();
        const exited = new Promise((r) => this.worker.once('exit', () => r()));
        this.worker.postMessage({ type: 'close' });
        const t = setTimeout(() => void this.worker.terminate(), graceMs);
        await exited;
        clearTimeout(t);
        this.breakWith(new ClosedError('proxy closed'), ProxyState.Closed);
    }
    /** Ends the thread at once: a relaunch must not wait for a proxy stuck on a dead peer. */
    async terminate() {
        this.breakWith(new ClosedError('proxy terminated'), ProxyState.Closed);
        await this.worker.terminate();
    }
    async staged(buf, make) {
        const dtype = dtypeOf(buf);
        if (buf.buffer instanceof SharedArrayBuffer) {
            await this.call(make({ sab: buf.buffer, byteOffset: buf.byteOffset, length: buf.length, dtype }));
            return buf;
        }
        // One staging area, grown as needed: a fresh SharedArrayBuffer per call cost more than the
        // collective itself at 4 MiB. Calls are serialised per proxy, so one area is the usual case;
        // overlapping calls (send and recv together) each take their own.
        const sab = this.takeStaging(buf.byteLength);
        try {
            new Uint8Array(sab, 0, buf.byteLength).set(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
            await this.call(make({ sab, byteOffset: 0, length: buf.length, dtype }));
            new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength).set(new Uint8Array(sab, 0, buf.byteLength));
        }
        finally {
            this.staging.push(sab);
        }
        return buf;
    }
    staging = [];
    takeStaging(bytes) {
        const i = this.staging.findIndex((s) => s.byteLength >= bytes);
        if (i >= 0)
            return this.staging.splice(i, 1)[0];
        return new SharedArrayBuffer(Math.max(bytes, 4096));
    }
    call(m) {
        if (this.state !== ProxyState.Ready)
            return Promise.reject(new ClosedError(`proxy is ${this.state}`));
        const id = this.nextId++;
        return new Promise((resolve, reject) => {
            this.pending.set(id, { resolve, reject });
            this.worker.postMessage({ ...m, id });
        });
    }
    onMessage(m) {
        if (m.type === 'done' || m.type === 'failed') {
            const p = this.pending.get(m.id);
            this.pending.delete(m.id);
            if (m.type === 'done')
                p?.resolve();
            else
                p?.reject(revive(m.error));
        }
        else if (m.type === 'broken') {
            this.breakWith(revive(m.error));
        }
    }
    breakWith(err, state = ProxyState.Broken) {
        if (this.state === ProxyState.Broken || this.state === ProxyState.Closed)
            return;
        this.state = state;
        for (const p of this.pending.values())
            p.reject(err);
        this.pending.clear();
        if (state === ProxyState.Broken)
            this.emit('broken', err);
    }
}
//# sourceMappingURL=proxy-handle.js.map
import { EventEmitter } from 'node:events';
import { createCommunicator } from '../comm/rendezvous.js';
import { ClosedError, TimeoutError } from '../errors.js';
import { connectStore } from '../store/tcp-store-client.js';
import { ProxyState } from './proxy.js';
/**
 * The communication proxy run on the program's own thread. An operation is a direct call on the
 * communicator, with no message to another thread: measured, that hand-off cost ~1 ms per 4 MiB
 * allreduce on 2 cores (docs/benchmarks.md). The proxy stays disposable: a relaunch destroys this
 * communicator and builds the next generation's, and the program keeps its pid and its memory.
 */
export class InlineProxy extends EventEmitter {
    store;
    state = ProxyState.Starting;
    comm;
    abort = new AbortController();
    constructor(store) {
        super();
        this.store = store;
    }
    /** Connects to the store ahead of need, so a relaunch pays only the rendezvous. */
    static async standby(store, secret, timeoutMs) {
        const s = await connectStore(store, { secret, requestTimeoutMs: timeoutMs });
        const p = new InlineProxy(s);
        p.state = ProxyState.Standby;
        return p;
    }
    async activate(connect, timeoutMs) {
        if (this.state !== ProxyState.Standby)
            throw new ClosedError(`proxy is ${this.state}, not standby`);
        this.state = ProxyState.Starting;
        const t0 = Date.now();
        const made = createCommunicator({
            job: connect.job,
            generation: connect.generation,
            rank: connect.rank,
            world: connect.world,
            secret: connect.secret,
            store: this.store,
            tuning: connect.tuning ?? {},
            rendezvousTimeoutMs: Math.min(timeoutMs, connect.rendezvousTimeoutMs ?? timeoutMs),
            signal: this.abort.signal,
        });
        // Terminated while joining: the communicator may still complete; it must not outlive us.
        made.then((c) => this.state === ProxyState.Closed && c.destroy('superseded'), () => undefined);
        let timer;
        const deadline = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new TimeoutError(`proxy for generation ${connect.generation} was not ready within ${timeoutMs} ms`, { rank: connect.rank })), timeoutMs);
        });
        try {
            const comm = await Promise.race([made, deadline]);
            if (this.state !== ProxyState.Starting) {
                comm.destroy('superseded');
                throw new ClosedError(`proxy for generation ${connect.generation} ended while joining`, { rank: connect.rank });
            }
            this.comm = comm;
            comm.on('broken', (err) => {
                if (this.state !== ProxyState.Ready)
                    return;
                this.state = ProxyState.Broken;
                this.emit('broken', err);
            });
            this.state = ProxyState.Ready;
            return Date.now() - t0;
        }
        catch (e) {
            if (this.state === ProxyState.Starting)
                void this.terminate();
            throw e;
        }
        finally {
            clearTimeout(timer);
        }
    }
    // async, so that a proxy that is not ready rejects rather than throws.
    async allreduce(buf, redop = 'sum') {
        return this.ready().allreduce(buf, redop);
    }
    async broadcast(buf, root = 0) {
        return this.ready().broadcast(buf, root);
    }
    async barrier() {
        return this.ready().barrier();
    }
    async send(buf, peer, tag = 0) {
        await this.ready().send(buf, peer, { tag });
        return buf;
    }
    async recv(buf, peer, tag = 0) {
        return this.ready().recv(buf, peer, { tag });
    }
    close() {
        if (this.state === ProxyState.Ready) {
            this.state = ProxyState.Closed;
            this.comm?.close();
            return this.store.close();
        }
        return this.terminate();
    }
    terminate() {
        if (this.state === ProxyState.Closed)
            return Promise.resolve();
        this.state = ProxyState.Closed;
        this.abort.abort();
        this.comm?.destroy('terminated: its proxy is being relaunched');
        return this.store.close();
    }
    ready() {
        if (this.state !== ProxyState.Ready || !this.comm)
            throw new ClosedError(`proxy is ${this.state}`);
        return this.comm;
    }
}
//# sourceMappingURL=inline-proxy.js.map
import { TimeoutError } from '../errors.js';
/** Where in-memory listeners are found; transports sharing one can reach each other. */
export class MemoryNetwork {
    nextPort = 1;
    open = 0;
    keepAlive;
    listeners = new Map();
    newAddress() {
        return `mem://${this.nextPort++}`;
    }
    /** Open connections hold the process open, as sockets do, so waits behave as on TCP. */
    track(delta) {
        this.open += delta;
        if (this.open > 0 && !this.keepAlive)
            this.keepAlive = setInterval(() => undefined, 1 << 30);
        if (this.open === 0 && this.keepAlive) {
            clearInterval(this.keepAlive);
            this.keepAlive = undefined;
        }
    }
}
/**
 * An in-process transport for tests. Delivery is asynchronous and ordered, writes are copied
 * (so `onFlushed` means what it means on TCP), and a process's death (kill), a hang
 * (silence) or raw bytes from the wire can be injected. Give each simulated process its own
 * transport on a shared network to inject faults into one of them.
 */
export class MemoryTransport {
    opts;
    network;
    /** Connection ends owned by this transport's side. */
    conns = [];
    constructor(opts = {}, network = new MemoryNetwork()) {
        this.opts = opts;
        this.network = network;
    }
    listen(onConn) {
        const address = this.network.newAddress();
        this.network.listeners.set(address, { owner: this, onConn });
        return Promise.resolve({ address, close: () => this.network.listeners.delete(address) });
    }
    dial(address, _deadline) {
        const l = this.network.listeners.get(address);
        if (!l)
            return Promise.reject(new TimeoutError(`connect to ${address}: nothing listens there`));
        const a = new MemoryConn(`${address}/client`, this.opts, this.network);
        const b = new MemoryConn(address, l.owner.opts, this.network);
        a.other = b;
        b.other = a;
        this.conns.push(a);
        l.owner.conns.push(b);
        setImmediate(() => l.onConn(b));
        return Promise.resolve(a);
    }
    /** Like SIGKILL of the process: every connection is reset. */
    kill() {
        for (const c of this.conns)
            c.destroy(new Error('killed'));
    }
    /** Like SIGSTOP: nothing this side sends reaches anyone any more, connections stay open. */
    silence() {
        for (const c of this.conns)
            c.other.pause();
    }
}
export class MemoryConn {
    remote;
    opts;
    network;
    other;
    reader;
    inbox = [];
    paused = false;
    closed = false;
    scheduled = false;
    constructor(remote, opts, network) {
        this.remote = remote;
        this.opts = opts;
        this.network = network;
        network.track(1);
    }
    write(chunks, onFlushed) {
        if (this.closed) {
            setImmediate(() => onFlushed?.(new Error('write after close')));
            return;
        }
        let total = 0;
        for (const c of chunks)
            total += c.byteLength;
        const copy = new Uint8Array(total);
        let at = 0;
        for (const c of chunks) {
            copy.set(c, at);
            at += c.byteLength;
        }
        this.other.deliver(copy);
        if (onFlushed)
            setImmediate(onFlushed);
    }
    /** Bytes as if they came off the wire from the other end: for malformed-input tests. */
    injectRaw(bytes) {
        this.deliver(bytes.slice());
    }
    start(reader) {
        this.reader = reader;
        this.schedule();
    }
    /** Stop delivering what the other end sends (it looks silent, like a SIGSTOPped process). */
    pause() {
        this.paused = true;
    }
    resume() {
        this.paused = false;
        this.schedule();
    }
    end() {
        this.close(undefined);
    }
    destroy(err) {
        this.close(err ?? new Error('connection destroyed'));
    }
    close(err) {
        if (this.closed)
            return;
        this.closed = true;
        this.network.track(-1);
        const peerErr = err ? Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) : undefined;
        setImmediate(() => this.other.remoteClosed(peerErr));
        setImmediate(() => this.reader?.closed(err));
    }
    remoteClosed(err) {
        if (this.closed)
            return;
        // Data already sent arrives before the close, as on TCP.
        this.inbox.push(new Uint8Array(0));
        this.pendingClose = { err };
        this.schedule();
    }
    pendingClose;
    deliver(bytes) {
        if (this.closed)
            return;
        const max = this.opts.maxChunk ?? Infinity;
        for (let at = 0; at < bytes.byteLength; at += max) {
            this.inbox.push(bytes.subarray(at, Math.min(bytes.byteLength, at + max)));
        }
        this.schedule();
    }
    schedule() {
        if (this.scheduled || this.paused || !this.reader)
            return;
        this.scheduled = true;
        setImmediate(() => {
            this.scheduled = false;
            if (this.paused || this.closed)
                return;
            while (this.inbox.length > 0 && !this.paused && !this.closed) {
                const chunk = this.inbox.shift();
                if (chunk.byteLength > 0)
                    this.reader.data(chunk);
            }
            if (this.inbox.length === 0 && this.pendingClose && !this.paused && !this.closed) {
                const { err } = this.pendingClose;
                this.closed = true;
                this.network.track(-1);
                this.reader?.closed(err);
            }
        });
    }
}
//# sourceMappingURL=memory-transport.js.map
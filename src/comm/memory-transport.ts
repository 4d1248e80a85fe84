import type { Deadline } from '../util/deadline.js';
import type { Conn, ConnReader, Listener, Transport } from './transport.js';

export interface MemoryTransportOptions {
  /** Split every write into pieces of at most this many bytes, to exercise frame reassembly. */
  maxChunk?: number;
}

/** Where in-memory listeners are found; transports sharing one can reach each other. */
export class MemoryNetwork {
  private nextPort = 1;
  private open = 0;
  private keepAlive: NodeJS.Timeout | undefined;
  readonly listeners = new Map<string, { owner: MemoryTransport; onConn: (conn: Conn) => void }>();
  newAddress(): string {
    return `mem://${this.nextPort++}`;
  }

  /** Open connections hold the process open, as sockets do, so waits behave as on TCP. */
  track(delta: number): void {
    this.open += delta;
    if (this.open > 0 && !this.keepAlive) this.keepAlive = setInterval(() => undefined, 1 << 30);
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
export class MemoryTransport implements Transport {
  /** Connection ends owned by this transport's side. */
  readonly conns: MemoryConn[] = [];
  /** Addresses dialed from this side, in order: what tests compare with the partners used. */
  readonly dialed: string[] = [];
  private readonly addresses: string[] = [];
  private silenced = false;
  private dead = false;

  constructor(
    readonly opts: MemoryTransportOptions = {},
    readonly network = new MemoryNetwork(),
  ) {}

  listen(onConn: (conn: Conn) => void, _host?: string, again?: string): Promise<Listener> {
    if (again !== undefined && this.network.listeners.has(again)) {
      return Promise.reject(Object.assign(new Error(`listen EADDRINUSE ${again}`), { code: 'EADDRINUSE' }));
    }
    const address = again ?? this.network.newAddress();
    this.addresses.push(address);
    if (!this.dead) this.network.listeners.set(address, { owner: this, onConn });
    return Promise.resolve({ address, close: () => this.network.listeners.delete(address) });
  }

  dial(address: string, _deadline: Deadline): Promise<Conn> {
    const l = this.network.listeners.get(address);
    if (this.dead) return Promise.reject(new Error('this side was killed'));
    this.dialed.push(address);
    // As TCP says when nothing listens on a port.
    if (!l) return Promise.reject(Object.assign(new Error(`connect ECONNREFUSED ${address}: nothing listens there`), { code: 'ECONNREFUSED' }));
    const a = new MemoryConn(`${address}/client`, this.opts, this.network);
    const b = new MemoryConn(address, l.owner.opts, this.network);
    a.other = b;
    b.other = a;
    // A stopped process still has its connections completed by the kernel, and says nothing.
    if (this.silenced) b.pause();
    if (l.owner.silenced) a.pause();
    this.conns.push(a);
    l.owner.conns.push(b);
    setImmediate(() => l.onConn(b));
    return Promise.resolve(a);
  }

  /** Like SIGKILL of the process: every connection is reset, nothing listens any more. */
  kill(): void {
    this.dead = true;
    for (const a of this.addresses) if (this.network.listeners.get(a)?.owner === this) this.network.listeners.delete(a);
    for (const c of this.conns) c.destroy(new Error('killed'));
  }

  /** Like SIGSTOP: nothing this side sends reaches anyone any more, connections stay open (new ones too). */
  silence(): void {
    this.silenced = true;
    for (const c of this.conns) c.other.pause();
  }
}

export class MemoryConn implements Conn {
  other!: MemoryConn;
  private reader: ConnReader | undefined;
  private readonly inbox: Uint8Array[] = [];
  private paused = false;
  private closed = false;
  private scheduled = false;

  constructor(
    readonly remote: string,
    private readonly opts: MemoryTransportOptions,
    private readonly network: MemoryNetwork,
  ) {
    network.track(1);
  }

  write(chunks: readonly Uint8Array[], onFlushed?: (err?: Error) => void): void {
    if (this.closed) {
      setImmediate(() => onFlushed?.(new Error('write after close')));
      return;
    }
    let total = 0;
    for (const c of chunks) total += c.byteLength;
    const copy = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      copy.set(c, at);
      at += c.byteLength;
    }
    this.other.deliver(copy);
    if (onFlushed) setImmediate(onFlushed);
  }

  /** Bytes as if they came off the wire from the other end: for malformed-input tests. */
  injectRaw(bytes: Uint8Array): void {
    this.deliver(bytes.slice());
  }

  start(reader: ConnReader): void {
    this.reader = reader;
    this.schedule();
  }

  /** Stop delivering what the other end sends (it looks silent, like a SIGSTOPped process). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  end(): void {
    this.close(undefined);
  }

  destroy(err?: Error): void {
    this.close(err ?? new Error('connection destroyed'));
  }

  private close(err: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.network.track(-1);
    const peerErr = err ? Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) : undefined;
    setImmediate(() => this.other.remoteClosed(peerErr));
    setImmediate(() => this.reader?.closed(err));
  }

  private remoteClosed(err: Error | undefined): void {
    if (this.closed) return;
    // Data already sent arrives before the close, as on TCP.
    this.inbox.push(new Uint8Array(0));
    this.pendingClose = { err };
    this.schedule();
  }

  private pendingClose: { err: Error | undefined } | undefined;

  private deliver(bytes: Uint8Array): void {
    if (this.closed) return;
    const max = this.opts.maxChunk ?? Infinity;
    for (let at = 0; at < bytes.byteLength; at += max) {
      this.inbox.push(bytes.subarray(at, Math.min(bytes.byteLength, at + max)));
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.paused || !this.reader) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.paused || this.closed) return;
      while (this.inbox.length > 0 && !this.paused && !this.closed) {
        const chunk = this.inbox.shift()!;
        if (chunk.byteLength > 0) this.reader!.data(chunk);
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

import type { Deadline } from '../util/deadline.js';
import type { Conn, ConnReader, Listener, Transport } from './transport.js';
export interface MemoryTransportOptions {
    /** Split every write into pieces of at most this many bytes, to exercise frame reassembly. */
    maxChunk?: number;
}
/** Where in-memory listeners are found; transports sharing one can reach each other. */
export declare class MemoryNetwork {
    private nextPort;
    private open;
    private keepAlive;
    readonly listeners: Map<string, {
        owner: MemoryTransport;
        onConn: (conn: Conn) => void;
    }>;
    newAddress(): string;
    /** Open connections hold the process open, as sockets do, so waits behave as on TCP. */
    track(delta: number): void;
}
/**
 * An in-process transport for tests. Delivery is asynchronous and ordered, writes are copied
 * (so `onFlushed` means what it means on TCP), and a process's death (kill), a hang
 * (silence) or raw bytes from the wire can be injected. Give each simulated process its own
 * transport on a shared network to inject faults into one of them.
 */
export declare class MemoryTransport implements Transport {
    readonly opts: MemoryTransportOptions;
    readonly network: MemoryNetwork;
    /** Connection ends owned by this transport's side. */
    readonly conns: MemoryConn[];
    constructor(opts?: MemoryTransportOptions, network?: MemoryNetwork);
    listen(onConn: (conn: Conn) => void): Promise<Listener>;
    dial(address: string, _deadline: Deadline): Promise<Conn>;
    /** Like SIGKILL of the process: every connection is reset. */
    kill(): void;
    /** Like SIGSTOP: nothing this side sends reaches anyone any more, connections stay open. */
    silence(): void;
}
export declare class MemoryConn implements Conn {
    readonly remote: string;
    private readonly opts;
    private readonly network;
    other: MemoryConn;
    private reader;
    private readonly inbox;
    private paused;
    private closed;
    private scheduled;
    constructor(remote: string, opts: MemoryTransportOptions, network: MemoryNetwork);
    write(chunks: readonly Uint8Array[], onFlushed?: (err?: Error) => void): void;
    /** Bytes as if they came off the wire from the other end: for malformed-input tests. */
    injectRaw(bytes: Uint8Array): void;
    start(reader: ConnReader): void;
    /** Stop delivering what the other end sends (it looks silent, like a SIGSTOPped process). */
    pause(): void;
    resume(): void;
    end(): void;
    destroy(err?: Error): void;
    private close;
    private remoteClosed;
    private pendingClose;
    private deliver;
    private schedule;
}

import { rmSync } from 'node:fs';
import net from 'node:net';
import { InvalidArgumentError, TimeoutError } from '../errors.js';
import { remaining, type Deadline } from '../util/deadline.js';
import type { Conn, ConnReader, Listener, Transport } from './transport.js';
import { LOOPBACK, advertisedHost, joinHostPort } from '../util/host.js';

/**
 * Where a dialed socket reads before its reader is attached: one for the process, not two
 * 64 KiB buffers per connection (every generation opens new ones: seen in a recovery's profile).
 * Shared safely because what lands in it is copied (or parsed into the reader's memory) within
 * the read callback, before the event loop reads any other socket.
 */
const SCRATCH = new Uint8Array(64 * 1024);

/**
 * A TCP connection. Sockets we dial read with `onread` straight into the reader's memory:
 * large reads, no per-read allocation. Node offers `onread` only for sockets it creates on
 * connect, so the communicator receives on connections it dialed and sends on accepted ones.
 * Measured, a 16 MiB exchange is much faster with `onread` into a 1 MiB buffer than with 'data'
 * events (docs/benchmarks.md, "Allreduce (float32 sum), 2026-11-27").
 */
class TcpConn implements Conn {
  readonly remote: string;
  private reader: ConnReader | undefined;
  /** Bytes read before start() (possible only in a race with the handshake). */
  private readonly early: Uint8Array[] = [];
  private readonly scratch: Uint8Array | undefined;

  constructor(
    private readonly socket: net.Socket,
    remote: string,
    byob: boolean,
    /** A Unix domain socket: it has no reset to send (Node throws ERR_INVALID_HANDLE_TYPE if asked). */
    private readonly unix = false,
  ) {
    this.remote = remote;
    // Collectives are latency-bound at small sizes; Nagle would add up to 40 ms per message.
    // (A Unix socket has no Nagle; setNoDelay is then a no-op.)
    socket.setNoDelay(true);
    if (byob) this.scratch = SCRATCH;
  }

  private handed: Uint8Array | undefined;

  /** For `onread`: where Node should read to next. */
  nextBuffer(): Uint8Array {
    this.handed = this.reader ? this.reader.readBuffer() : this.scratch!;
    return this.handed;
  }

  /** For `onread`: `n` bytes landed in `buf`. */
  onRead(n: number, buf: Uint8Array): void {
    if (!this.reader) {
      this.early.push(buf.slice(0, n));
    } else if (buf === this.handed && buf !== this.scratch) {
      this.reader.filled(n);
    } else {
      this.reader.data(buf.subarray(0, n));
    }
  }

  write(chunks: readonly Uint8Array[], onFlushed?: (err?: Error) => void): void {
    const s = this.socket;
    const cb = onFlushed ? (e?: Error | null): void => onFlushed(e ?? undefined) : undefined;
    if (chunks.length === 1) {
      s.write(chunks[0]!, cb);
      return;
    }
    // Corking makes Node hand all chunks to one writev() call: one syscall, no concatenation.
    s.cork();
    for (let i = 0; i < chunks.length - 1; i++) s.write(chunks[i]!);
    s.write(chunks[chunks.length - 1]!, cb);
    s.uncork();
  }

  start(reader: ConnReader): void {
    this.reader = reader;
    for (const c of this.early.splice(0)) reader.data(c);
    let closed = false;
    let lastErr: Error | undefined;
    if (!this.scratch) this.socket.on('data', (d: Buffer) => reader.data(d));
    this.socket.on('error', (e) => {
      lastErr = e;
    });
    this.socket.on('close', () => {
      if (closed) return;
      closed = true;
      reader.closed(lastErr);
    });
  }

  end(): void {
    this.socket.end();
  }

  destroy(err?: Error): void {
    // resetAndDestroy sends RST so the peer learns at once, instead of waiting for a FIN. Not
    // after end(): libuv cannot reset a socket that was shut down, and the handle then never
    // closed here, spinning a core and holding the process open.
    // A Unix domain socket's peer sees the close as at once without one.
    if (err && !this.unix && !this.socket.writableEnded && typeof this.socket.resetAndDestroy === 'function') this.socket.resetAndDestroy();
    else this.socket.destroy();
  }
}

/** Addresses of Unix domain sockets: `unix:<path>`; listening on such a "host" makes one. */
export const UNIX_PREFIX = 'unix:';

/**
 * Streams over TCP, or over Unix domain sockets for addresses `unix:<path>` (ranks on one host;
 * the same framing and the same `onread` reads, see docs/benchmarks.md "Connections on demand"
 * for how they compare with loopback TCP).
 */
export class TcpTransport implements Transport {
  listen(onConn: (conn: Conn) => void, host = LOOPBACK, again?: string): Promise<Listener> {
    return new Promise((resolve, reject) => {
      const unix = host.startsWith(UNIX_PREFIX);
      const server = net.createServer((socket) => onConn(new TcpConn(socket, `${socket.remoteAddress ?? 'unix'}:${socket.remotePort ?? '?'}`, false, unix)));
      server.once('error', reject);
      const ready = (address: string): void => {
        server.off('error', reject);
        server.unref();
        resolve({ address, close: () => server.close() });
      };
      if (unix) {
        const path = host.slice(UNIX_PREFIX.length);
        // A socket file left by a killed process would refuse the bind; nothing else may own it.
        rmSync(path, { force: true });
        server.listen(path, () => ready(host));
      } else {
        // libuv sets SO_REUSEADDR: a port whose last listener closed binds again at once, its old
        // connections in TIME_WAIT or not.
        const port = again === undefined ? 0 : parseHostPort(again).port;
        server.listen(port, host, () => ready(joinHostPort(advertisedHost(host), (server.address() as net.AddressInfo).port)));
      }
    });
  }

  dial(address: string, deadline: Deadline): Promise<Conn> {
    const unix = address.startsWith(UNIX_PREFIX);
    const where = unix ? { path: address.slice(UNIX_PREFIX.length) } : parseHostPort(address);
    return new Promise((resolve, reject) => {
      let conn: TcpConn | undefined = undefined;
      // Node asks for the first buffer inside connect(), before `conn` exists.
      const first = SCRATCH;
      const socket = net.connect({
        ...where,
        onread: {
          buffer: () => (conn ? conn.nextBuffer() : first),
          callback: (n: number, buf: Uint8Array): boolean => {
            if (conn) conn.onRead(n, buf);
            return true;
          },
        },
      });
      conn = new TcpConn(socket, address, true, unix);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TimeoutError(`connect to ${address}: deadline passed`));
      }, remaining(deadline));
      timer.unref();
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(conn);
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }
}

export function parseHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new InvalidArgumentError(`bad address "${address}": expected host:port`);
  }
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port };
}

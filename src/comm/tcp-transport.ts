import net from 'node:net';
import { InvalidArgumentError, TimeoutError } from '../errors.js';
import { remaining, type Deadline } from '../util/deadline.js';
import type { Conn, Listener, Transport } from './transport.js';

class TcpConn implements Conn {
  readonly remote: string;
  constructor(private readonly socket: net.Socket) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    // Collectives are latency-bound at small sizes; Nagle would add up to 40 ms per message.
    socket.setNoDelay(true);
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

  start(onData: (chunk: Uint8Array) => void, onClose: (err: Error | undefined) => void): void {
    let closed = false;
    let lastErr: Error | undefined;
    this.socket.on('data', onData);
    this.socket.on('error', (e) => {
      lastErr = e;
    });
    this.socket.on('close', () => {
      if (closed) return;
      closed = true;
      onClose(lastErr);
    });
  }

  end(): void {
    this.socket.end();
  }

  destroy(err?: Error): void {
    // resetAndDestroy sends RST so the peer learns at once, instead of waiting for a FIN.
    if (err && typeof this.socket.resetAndDestroy === 'function') this.socket.resetAndDestroy();
    else this.socket.destroy();
  }
}

export class TcpTransport implements Transport {
  listen(onConn: (conn: Conn) => void, host = '127.0.0.1'): Promise<Listener> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => onConn(new TcpConn(socket)));
      server.once('error', reject);
      server.listen(0, host, () => {
        server.off('error', reject);
        server.unref();
        const a = server.address() as net.AddressInfo;
        resolve({ address: `${host}:${a.port}`, close: () => server.close() });
      });
    });
  }

  dial(address: string, deadline: Deadline): Promise<Conn> {
    const { host, port } = parseHostPort(address);
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TimeoutError(`connect to ${address}: deadline passed`));
      }, remaining(deadline));
      timer.unref();
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new TcpConn(socket));
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

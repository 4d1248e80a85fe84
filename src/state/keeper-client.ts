import { connect as netConnect, type Socket } from 'node:net';
import { InvalidArgumentError, ProtocolError, TimeoutError } from '../errors.js';
import { frame, MessageReader, type WireMessage } from '../protocol/keeper-wire.js';
import { splitHostPort } from '../util/host.js';

/**
 * A connection to another node's keeper, one request at a time, each with a deadline. Any error
 * closes it; the next request reconnects.
 */
export class KeeperClient {
  private sock: Socket | undefined;
  private reader = new MessageReader();
  private waiting: ((m: WireMessage | Error) => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly address: string,
    private readonly token: string,
  ) {}

  request(head: Record<string, unknown>, body: Uint8Array | undefined, timeoutMs: number): Promise<WireMessage> {
    const run = (): Promise<WireMessage> => this.exchange(head, body, timeoutMs);
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async exchange(head: Record<string, unknown>, body: Uint8Array | undefined, timeoutMs: number): Promise<WireMessage> {
    const sock = await this.connected(timeoutMs);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close();
        reject(new TimeoutError(`keeper ${this.address} did not answer ${String(head.op)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = (m) => {
        clearTimeout(timer);
        this.waiting = undefined;
        if (m instanceof Error) reject(m);
        else resolve(m);
      };
      sock.cork();
      for (const b of frame(head, body)) sock.write(b);
      sock.uncork();
    });
  }

  private connected(timeoutMs: number): Promise<Socket> {
    if (this.sock && !this.sock.destroyed) return Promise.resolve(this.sock);
    const to = splitHostPort(this.address);
    if (!to) return Promise.reject(new InvalidArgumentError(`bad keeper address ${JSON.stringify(this.address)}: want host:port`));
    return new Promise((resolve, reject) => {
      const sock = netConnect({ host: to.host, port: to.port });
      sock.setNoDelay(true);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new TimeoutError(`could not connect to keeper ${this.address} within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        this.sock = sock;
        this.reader = new MessageReader();
        sock.cork();
        for (const b of frame({ op: 'auth', token: this.token })) sock.write(b);
        sock.uncork();
        resolve(sock);
      });
      sock.on('data', (d: Buffer) => {
        try {
          this.reader.push(d, (m) => this.waiting?.(m));
        } catch (e) {
          this.waiting?.(e as Error);
          sock.destroy();
        }
      });
      const fail = (e?: Error): void => {
        clearTimeout(timer);
        if (this.sock === sock) this.sock = undefined;
        this.waiting?.(e ?? new ProtocolError(`keeper ${this.address} closed the connection`));
        reject(e ?? new Error('closed'));
      };
      sock.on('error', fail);
      sock.on('close', () => fail());
    });
  }

  close(): void {
    this.sock?.destroy();
    this.sock = undefined;
  }
}

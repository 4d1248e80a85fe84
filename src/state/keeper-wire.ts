import { createHmac, timingSafeEqual } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { InvalidArgumentError, ProtocolError, TimeoutError } from '../errors.js';
import { splitHostPort } from '../util/host.js';

/**
 * Keeper to keeper messages over TCP: `u32 json length | json | u32 body length | body`. Small
 * and binary-safe: a version travels as its encoded bytes, never as JSON.
 */
export interface WireMessage {
  head: Record<string, unknown>;
  body: Uint8Array;
}

const MAX_HEAD = 1 << 20;
const MAX_BODY = 2 ** 31 - 1;

export function frame(head: Record<string, unknown>, body: Uint8Array = new Uint8Array(0)): Buffer[] {
  const h = Buffer.from(JSON.stringify(head));
  const a = Buffer.alloc(4);
  a.writeUInt32LE(h.length);
  const b = Buffer.alloc(4);
  b.writeUInt32LE(body.byteLength);
  return [a, h, b, Buffer.from(body.buffer, body.byteOffset, body.byteLength)];
}

/**
 * Splits a byte stream into messages; throws ProtocolError on nonsense (the caller drops the
 * peer). Chunks are joined once per message, when all of it has arrived: joining on every chunk
 * copied a 4 MiB replica many times over (docs/benchmarks.md, "Tuning choices and the figures
 * behind them").
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private have = 0;
  /** Bytes the message at the front needs before anything more can be parsed. */
  private need = 4;

  push(chunk: Buffer, onMessage: (m: WireMessage) => void): void {
    this.chunks.push(chunk);
    this.have += chunk.length;
    while (this.have >= this.need) {
      const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.have);
      this.chunks = [all];
      const hl = all.readUInt32LE(0);
      if (hl > MAX_HEAD) throw new ProtocolError(`state message header of ${hl} bytes`);
      if (all.length < 8 + hl) {
        this.need = 8 + hl;
        continue;
      }
      const bl = all.readUInt32LE(4 + hl);
      if (bl > MAX_BODY) throw new ProtocolError(`state message body of ${bl} bytes`);
      if (all.length < 8 + hl + bl) {
        this.need = 8 + hl + bl;
        continue;
      }
      let head: Record<string, unknown>;
      try {
        head = JSON.parse(all.subarray(4, 4 + hl).toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new ProtocolError('state message header is not JSON');
      }
      const body = new Uint8Array(all.buffer, all.byteOffset + 8 + hl, bl);
      const rest = all.subarray(8 + hl + bl);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.have = rest.length;
      this.need = 4;
      onMessage({ head, body });
    }
  }
}

export function keeperToken(secret: string, job: string): string {
  return createHmac('sha256', secret).update(`rollcall-state\n${job}`).digest('hex');
}

export function tokenOk(expected: string, got: unknown): boolean {
  if (typeof got !== 'string' || got.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(expected), Buffer.from(got));
}

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

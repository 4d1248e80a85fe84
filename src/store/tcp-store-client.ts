import { connect, type Socket } from 'node:net';
import type { z } from 'zod';
import {
  AuthError,
  ClosedError,
  InvalidArgumentError,
  LeaseExpiredError,
  ProtocolError,
  StoreUnavailableError,
  type RollcallError,
} from '../errors.js';
import { deadlineIn, withDeadline, type Deadline } from '../util/deadline.js';
import type { KeyValue, Lease, PutOptions, Store, Watcher, WatchEvent, WatchOptions } from './store.js';
import {
  MAX_REPLY_BYTES,
  MAX_REQUEST_BYTES,
  PROTOCOL_VERSION,
  LineSplitter,
  Replies,
  authToken,
  checkCount,
  checkKey,
  checkPrefix,
  checkTtl,
  checkValue,
  describeIssues,
  parseAddress,
  parseServerMessage,
  type ServerMessage,
  type WireError,
} from './wire.js';
import { NO_JIT } from '../protocol/no-jit.js';

export interface ConnectStoreOptions {
  secret?: string;
  /** Absolute time (ms since the epoch) by which the connection must be up and authenticated. */
  deadline?: Deadline;
  /** Per request; a request with no reply by then rejects with StoreUnavailableError. */
  requestTimeoutMs?: number;
}

/** The one place store error codes from the wire become error classes. */
function fromWire(e: WireError, address: string): RollcallError {
  switch (e.code) {
    case 'ERR_INVALID_ARGUMENT':
      return new InvalidArgumentError(e.message);
    case 'ERR_LEASE_EXPIRED':
      return new LeaseExpiredError(e.message);
    case 'ERR_AUTH':
      return new AuthError(`store at ${address}: ${e.message}`);
    case 'ERR_PROTOCOL':
      return new ProtocolError(`store at ${address} refused a request: ${e.message}`);
    default:
      return new StoreUnavailableError(`store at ${address}: ${e.message} (${e.code})`);
  }
}

export async function connectStore(address: string, opts: ConnectStoreOptions = {}): Promise<Store> {
  const { host, port } = parseAddress(address);
  const timeoutMs = opts.requestTimeoutMs ?? 5000;
  checkTtl(timeoutMs);
  if (opts.secret !== undefined && (typeof opts.secret !== 'string' || opts.secret === '')) throw new InvalidArgumentError('store secret must be a non-empty string');
  const client = new TcpStoreClient(address, timeoutMs, connect({ host, port }));
  try {
    await withDeadline(client.handshake(opts.secret), opts.deadline ?? deadlineIn(timeoutMs), `connecting to store at ${address}`, {
      onTimeout: () => new StoreUnavailableError(`store at ${address} did not answer before the connect deadline`),
    });
    return client;
  } catch (e) {
    await client.close();
    throw e;
  }
}

interface Pending {
  resolve(reply: Record<string, unknown>): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

interface WatchEntry {
  onEvent(ev: WatchEvent): void;
  onError: ((err: Error) => void) | undefined;
  /** Set once the server confirmed it; before that a lost connection rejects watch() instead. */
  active: boolean;
}

class TcpStoreClient implements Store {
  private readonly splitter = new LineSplitter(MAX_REPLY_BYTES);
  private readonly pending = new Map<number, Pending>();
  private readonly watches = new Map<number, WatchEntry>();
  private readonly socketClosed: Promise<void>;
  private nextId = 1;
  /** Why the connection is unusable; set once. */
  private broken: Error | undefined;
  private helloWaiter: { resolve(h: { nonce: string; version: number; auth: boolean }): void; reject(e: Error): void } | undefined;

  constructor(
    private readonly address: string,
    private readonly timeoutMs: number,
    private readonly socket: Socket,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.fail(new StoreUnavailableError(`store at ${address}: ${e.message}`, { cause: e })));
    this.socketClosed = new Promise((resolve) =>
      socket.on('close', () => {
        this.fail(new StoreUnavailableError(`connection to store at ${address} was lost`));
        resolve();
      }),
    );
  }

  async handshake(secret: string | undefined): Promise<void> {
    const hello = await new Promise<{ nonce: string; version: number; auth: boolean }>((resolve, reject) => {
      if (this.broken) reject(this.broken);
      else this.helloWaiter = { resolve, reject };
    });
    if (hello.version !== PROTOCOL_VERSION) throw new ProtocolError(`store at ${this.address} speaks protocol version ${hello.version}, not ${PROTOCOL_VERSION}`);
    if (hello.auth && secret === undefined) throw new AuthError(`store at ${this.address} requires a secret and none was given`);
    if (secret !== undefined) await this.call({ op: 'auth', token: authToken(secret, hello.nonce) }, Replies.empty);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    checkKey(key);
    return (await this.call({ op: 'get', key }, Replies.get)).kv;
  }

  async list(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    checkPrefix(prefix);
    return this.call({ op: 'list', prefix }, Replies.list);
  }

  async put(key: string, value: string, opts: PutOptions = {}): Promise<number> {
    checkKey(key);
    checkValue(value);
    if (opts.lease !== undefined) checkCount(opts.lease, 'lease');
    return (await this.call({ op: 'put', key, value, lease: opts.lease }, Replies.put)).revision;
  }

  async compareAndSet(key: string, expectedRevision: number, value: string, opts: PutOptions = {}): Promise<{ ok: boolean; current: KeyValue | undefined }> {
    checkKey(key);
    checkCount(expectedRevision, 'expectedRevision');
    checkValue(value);
    if (opts.lease !== undefined) checkCount(opts.lease, 'lease');
    const r = await this.call({ op: 'cas', key, expectedRevision, value, lease: opts.lease }, Replies.cas);
    return { ok: r.written, current: r.current };
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    return (await this.call({ op: 'delete', key }, Replies.delete)).deleted;
  }

  async grantLease(ttlMs: number): Promise<Lease> {
    checkTtl(ttlMs);
    const { lease: id } = await this.call({ op: 'grant', ttlMs }, Replies.grant);
    return {
      id,
      ttlMs,
      keepAlive: async () => void (await this.call({ op: 'keepAlive', lease: id }, Replies.empty)),
      revoke: async () => void (await this.call({ op: 'revoke', lease: id }, Replies.empty)),
    };
  }

  async watch(prefix: string, onEvent: (ev: WatchEvent) => void, opts: WatchOptions = {}): Promise<Watcher> {
    checkPrefix(prefix);
    if (opts.fromRevision !== undefined) checkCount(opts.fromRevision, 'fromRevision');
    const wid = this.nextId++;
    const entry: WatchEntry = { onEvent, onError: opts.onError, active: false };
    // Registered before asking, because replayed events can arrive ahead of the reply.
    this.watches.set(wid, entry);
    try {
      await this.call({ op: 'watch', watch: wid, prefix, fromRevision: opts.fromRevision }, Replies.empty);
    } catch (e) {
      this.watches.delete(wid);
      throw e;
    }
    entry.active = true;
    return {
      close: () => {
        if (this.watches.delete(wid) && !this.broken) this.call({ op: 'unwatch', watch: wid }, Replies.empty).catch(() => {});
      },
    };
  }

  async close(): Promise<void> {
    this.fail(new ClosedError(`store client for ${this.address} closed`));
    this.socket.destroy();
    await this.socketClosed;
  }

  private async call<S extends z.ZodType>(req: { op: string } & Record<string, unknown>, schema: S): Promise<z.infer<S>> {
    const reply = await this.request(req);
    const parsed = schema.safeParse(reply, NO_JIT);
    if (!parsed.success) throw new ProtocolError(`store at ${this.address} sent a bad ${req.op} reply: ${describeIssues(parsed.error)}`);
    return parsed.data;
  }

  private request(req: { op: string } & Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.broken) {
      const err = this.broken instanceof ClosedError ? new ClosedError(this.broken.message) : new StoreUnavailableError(`store at ${this.address} is unavailable: ${this.broken.message}`, { cause: this.broken });
      return Promise.reject(err);
    }
    const id = this.nextId++;
    const line = JSON.stringify({ ...req, id }) + '\n';
    if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) {
      return Promise.reject(new InvalidArgumentError(`store ${req.op} request is ${Buffer.byteLength(line)} bytes, over the ${MAX_REQUEST_BYTES}-byte limit`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new StoreUnavailableError(`store at ${this.address} did not answer ${req.op} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      this.socket.write(line);
    });
  }

  private onData(chunk: Buffer): void {
    let lines: string[];
    try {
      lines = this.splitter.push(chunk);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    for (const line of lines) if (!this.broken) this.onLine(line);
  }

  private onLine(line: string): void {
    let msg: ServerMessage;
    try {
      msg = parseServerMessage(JSON.parse(line));
    } catch (e) {
      this.fail(new ProtocolError(`store at ${this.address} sent a malformed message: ${(e as Error).message}`));
      return;
    }
    if (msg.kind === 'hello') {
      this.helloWaiter?.resolve(msg.hello);
      this.helloWaiter = undefined;
    } else if (msg.kind === 'watch') {
      const entry = this.watches.get(msg.watch);
      if (!entry) return;
      if ('event' in msg) this.deliver(msg.watch, entry, msg.event);
      else this.breakWatch(msg.watch, entry, fromWire(msg.error, this.address));
    } else if (msg.id === null) {
      // The server could not tell which request it objected to, so none of them can be trusted.
      if (!msg.ok) this.fail(fromWire(msg.error, this.address));
    } else {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.reply);
      else p.reject(fromWire(msg.error, this.address));
    }
  }

  private deliver(wid: number, entry: WatchEntry, ev: WatchEvent): void {
    try {
      entry.onEvent(ev);
    } catch (e) {
      // A throwing callback must not take the connection down; its watch breaks instead.
      this.breakWatch(wid, entry, e instanceof Error ? e : new Error(String(e)));
      if (!this.broken) this.call({ op: 'unwatch', watch: wid }, Replies.empty).catch(() => {});
    }
  }

  private breakWatch(wid: number, entry: WatchEntry, err: Error): void {
    if (this.watches.get(wid) !== entry) return;
    this.watches.delete(wid);
    entry.onError?.(err);
  }

  /** Everything waiting on this connection learns at once that it is gone. */
  private fail(err: Error): void {
    if (this.broken) return;
    this.broken = err;
    this.helloWaiter?.reject(err);
    this.helloWaiter = undefined;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    const watches = [...this.watches];
    this.watches.clear();
    for (const [, entry] of watches) if (entry.active) entry.onError?.(err);
    this.socket.destroy();
  }
}

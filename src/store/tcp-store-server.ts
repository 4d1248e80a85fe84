import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { z } from 'zod';
import { AuthError, InvalidArgumentError, ProtocolError } from '../errors.js';
import { MemoryStore } from './memory-store.js';
import type { Watcher } from './store.js';
import {
  MAX_REQUEST_BYTES,
  PROTOCOL_VERSION,
  LineSplitter,
  RequestSchema,
  authToken,
  describeIssues,
  formatAddress,
  toWireError,
  tokenMatches,
  type Request,
} from './wire.js';
import { NO_JIT } from '../protocol/no-jit.js';

const OptionsSchema = z.object({
  host: z.string().min(1).optional(),
  port: z.number().int().min(0).max(65535).optional(),
  secret: z.string().min(1, 'secret must not be empty').optional(),
  historyLimit: z.number().int().nonnegative().optional(),
});
export type StoreServerOptions = z.input<typeof OptionsSchema>;

export interface StoreServer {
  /** "host:port" as clients should dial it. */
  readonly address: string;
  close(): Promise<void>;
}

const AUTH_TIMEOUT_MS = 10_000;
/** A client that stops reading its watch events is cut off rather than grow our memory without bound. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
/** How long a connection we are ending gets to read our last words before it is destroyed. */
const LINGER_MS = 2_000;

/** Serves one MemoryStore over TCP (newline-delimited JSON; see wire.ts). */
export async function startStoreServer(options: StoreServerOptions = {}): Promise<StoreServer> {
  const parsed = OptionsSchema.safeParse(options);
  if (!parsed.success) throw new InvalidArgumentError(`bad store server options: ${describeIssues(parsed.error)}`);
  const opts = parsed.data;
  const store = new MemoryStore({ historyLimit: opts.historyLimit });
  const conns = new Set<Connection>();
  const server = createServer((socket) => {
    const conn = new Connection(socket, store, opts.secret);
    conns.add(conn);
    socket.on('close', () => conns.delete(conn));
  });
  // Loopback unless asked: an unauthenticated store should not appear on the network by accident.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    address: formatAddress(addr.address, addr.port),
    close: () =>
      (closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const c of conns) c.destroy();
        await stopped;
        await store.close();
      })()),
  };
}

class Connection {
  private readonly splitter = new LineSplitter(MAX_REQUEST_BYTES);
  /** undefined while the watch is being set up, so a duplicate id is still refused. */
  private readonly watches = new Map<number, Watcher | undefined>();
  private readonly nonce = randomBytes(32).toString('hex');
  private authed: boolean;
  private authTimer: NodeJS.Timeout | undefined;
  private ending = false;

  constructor(
    private readonly socket: Socket,
    private readonly store: MemoryStore,
    private readonly secret: string | undefined,
  ) {
    this.authed = secret === undefined;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // A client reset is routine; 'close' follows and cleans up.
    socket.on('error', () => {});
    socket.on('close', () => this.cleanup());
    this.send({ hello: { nonce: this.nonce, version: PROTOCOL_VERSION, auth: !this.authed } });
    if (!this.authed) {
      this.authTimer = setTimeout(() => this.fail(null, new AuthError(`no auth within ${AUTH_TIMEOUT_MS} ms`)), AUTH_TIMEOUT_MS);
      this.authTimer.unref();
    }
  }

  destroy(): void {
    this.socket.destroy();
    this.cleanup();
  }

  private onData(chunk: Buffer): void {
    if (this.ending) return;
    let lines: string[];
    try {
      lines = this.splitter.push(chunk);
    } catch (e) {
      this.fail(null, e);
      return;
    }
    for (const line of lines) {
      if (this.ending) return;
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    if (line.trim() === '') return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      this.reject(null, new ProtocolError(`request is not valid JSON: ${JSON.stringify(line.slice(0, 80))}`));
      return;
    }
    const parsed = RequestSchema.safeParse(raw, NO_JIT);
    if (!parsed.success) {
      const maybeId = (raw as { id?: unknown } | null)?.id;
      const id = Number.isSafeInteger(maybeId) && (maybeId as number) >= 0 ? (maybeId as number) : null;
      this.reject(id, new ProtocolError(`bad request: ${describeIssues(parsed.error)}`));
      return;
    }
    const req = parsed.data;
    if (req.op === 'auth') this.authenticate(req.id, req.token);
    else if (!this.authed) this.fail(req.id, new AuthError('this store requires authentication before any request'));
    else this.execute(req).then((res) => this.send({ id: req.id, ok: true, ...res }), (e: unknown) => this.reject(req.id, e));
  }

  private authenticate(id: number, token: string): void {
    if (this.secret !== undefined && !tokenMatches(authToken(this.secret, this.nonce), token)) {
      this.fail(id, new AuthError('store authentication failed: wrong secret'));
      return;
    }
    this.authed = true;
    clearTimeout(this.authTimer);
    this.send({ id, ok: true });
  }

  private async execute(req: Exclude<Request, { op: 'auth' }>): Promise<object> {
    const s = this.store;
    switch (req.op) {
      case 'get':
        return { kv: await s.get(req.key) };
      case 'list':
        return s.list(req.prefix);
      case 'put':
        return { revision: await s.put(req.key, req.value, { lease: req.lease }) };
      case 'cas': {
        const r = await s.compareAndSet(req.key, req.expectedRevision, req.value, { lease: req.lease });
        return { written: r.ok, current: r.current };
      }
      case 'delete':
        return { deleted: await s.delete(req.key) };
      case 'grant': {
        const lease = await s.grantLease(req.ttlMs);
        return { lease: lease.id, ttlMs: lease.ttlMs };
      }
      case 'keepAlive':
        await s.keepAliveLease(req.lease);
        return {};
      case 'revoke':
        await s.revokeLease(req.lease);
        return {};
      case 'watch':
        return this.watch(req.watch, req.prefix, req.fromRevision);
      case 'unwatch':
        this.watches.get(req.watch)?.close();
        this.watches.delete(req.watch);
        return {};
    }
  }

  private async watch(wid: number, prefix: string, fromRevision: number | undefined): Promise<object> {
    if (this.watches.has(wid)) throw new ProtocolError(`watch id ${wid} is already in use on this connection`);
    this.watches.set(wid, undefined);
    let broken = false;
    try {
      const w = await this.store.watch(prefix, (event) => this.send({ watch: wid, event }), {
        fromRevision,
        onError: (e) => {
          broken = true;
          this.watches.delete(wid);
          this.send({ watch: wid, error: toWireError(e) });
        },
      });
      if (broken || this.socket.destroyed) w.close();
      else this.watches.set(wid, w);
      return {};
    } catch (e) {
      this.watches.delete(wid);
      throw e;
    }
  }

  private send(msg: object): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    if (this.socket.writableLength > MAX_BUFFERED_BYTES) {
      this.destroy();
      return;
    }
    this.socket.write(JSON.stringify(msg) + '\n');
  }

  private reject(id: number | null, err: unknown): void {
    // Before auth, anything unexpected ends the connection: we owe a stranger no second chance.
    if (!this.authed) this.fail(id, err);
    else this.send({ id, ok: false, error: toWireError(err) });
  }

  /** Replies with the error, then ends the connection; never throws. */
  private fail(id: number | null, err: unknown): void {
    if (this.ending) return;
    this.send({ id, ok: false, error: toWireError(err) });
    this.ending = true;
    this.cleanup();
    // end() rather than destroy() so the peer reads the reason before it sees the close.
    this.socket.end();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  private cleanup(): void {
    clearTimeout(this.authTimer);
    for (const w of this.watches.values()) w?.close();
    this.watches.clear();
  }
}

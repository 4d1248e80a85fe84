import { randomInt } from 'node:crypto';
import {
  Etcd3,
  EtcdLeaseInvalidError,
  GRPCDeadlineExceededError,
  GRPCInvalidArgumentError,
  GRPCUnauthenticatedError,
  Range,
  type IKeyValue,
  type Watcher as EtcdWatcher,
} from 'etcd3';
import { AuthError, ClosedError, InvalidArgumentError, LeaseExpiredError, RollcallError, StoreUnavailableError, TlsError } from '../errors.js';
import type { StoreAccess } from '../protocol/store-access.js';
import { deadlineIn, withDeadline } from '../util/deadline.js';
import type { KeyValue, Lease, PutOptions, Store, Watcher, WatchEvent, WatchOptions } from './store.js';
import { checkTls } from './tls-check.js';
import { checkCount, checkKey, checkPrefix, checkTtl, checkValue, parseAddress } from './wire.js';

export interface EtcdStoreOptions {
  /** TLS material and a user, for `etcds://` (protocol/store-access.ts). */
  access?: StoreAccess;
  /** Per request, retries included; a request with no answer by then rejects with StoreUnavailableError. */
  requestTimeoutMs?: number;
  /**
   * How long a watch may stay disconnected before it reports an error. etcd3 re-attaches a
   * broken watch stream to another member and replays from the last revision it saw, so a lost
   * member or a leader election is invisible to the watcher unless it lasts longer than this.
   */
  watchGraceMs?: number;
}

/**
 * `etcd://h1:2379,h2:2379` → the endpoints, each checked as host:port; `etcds://` is the same
 * cluster over TLS.
 */
export function parseEtcdUrl(url: string): string[] {
  const m = /^etcd(s?):\/\/(.+)$/.exec(url);
  if (!m) throw new InvalidArgumentError(`bad etcd URL ${JSON.stringify(url)}: want "etcd://host:port[,host:port...]" or "etcds://..." (TLS)`);
  const scheme = m[1] === 's' ? 'https' : 'http';
  return m[2]!.split(',').map((ep) => {
    const { host, port } = parseAddress(ep.trim());
    return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  });
}

/**
 * Lease IDs are chosen here, below 2^53, because etcd's own are 64-bit and would not survive
 * being a JS number. etcd refuses an ID already in use, and we draw again.
 */
function newLeaseId(): number {
  return randomInt(1, 2 ** 47);
}

/** The one place etcd3's errors become ours. */
function fromEtcd(e: unknown, what: string, endpoints: string): RollcallError {
  if (e instanceof RollcallError) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  const msg = `etcd at ${endpoints}: ${what}: ${err.message}`;
  if (err instanceof EtcdLeaseInvalidError || /lease not found/.test(err.message)) return new LeaseExpiredError(msg, { cause: err });
  if (err instanceof GRPCUnauthenticatedError || /authentication failed|permission denied/i.test(err.message)) return new AuthError(msg, { cause: err });
  if (err instanceof GRPCInvalidArgumentError && !/lease/.test(err.message)) return new InvalidArgumentError(msg, { cause: err });
  if (/client has already been closed|ClientClosedError/.test(err.message) || err.name === 'ClientClosedError') return new ClosedError(msg, { cause: err });
  if (err instanceof GRPCDeadlineExceededError) return new StoreUnavailableError(`${msg} (deadline exceeded)`, { cause: err });
  return new StoreUnavailableError(msg, { cause: err });
}

function toKeyValue(kv: IKeyValue): KeyValue {
  return { key: kv.key.toString(), value: kv.value.toString(), modRevision: Number(kv.mod_revision), lease: Number(kv.lease) };
}

/**
 * Opens an etcd-backed store and checks that a quorum answers before returning, so a wrong or
 * dead endpoint list fails here, within the request deadline, rather than at first use.
 */
export async function connectEtcdStore(url: string, opts: EtcdStoreOptions = {}): Promise<Store> {
  const endpoints = parseEtcdUrl(url);
  const timeoutMs = opts.requestTimeoutMs ?? 5000;
  checkTtl(timeoutMs);
  const access = opts.access ?? {};
  const tls = endpoints[0]!.startsWith('https:');
  const deadline = Date.now() + timeoutMs;
  const pem = (s: string | undefined): Buffer | undefined => (s === undefined ? undefined : Buffer.from(s));
  const client = new Etcd3({
    hosts: endpoints,
    dialTimeout: timeoutMs,
    // Without a CA of ours etcd3 uses the system's (https hosts), as a browser would.
    ...(tls && access.ca !== undefined ? { credentials: { rootCertificate: pem(access.ca)!, certChain: pem(access.cert), privateKey: pem(access.key) } } : {}),
    ...(access.user !== undefined ? { auth: { username: access.user, password: access.password ?? '', callOptions: () => ({ deadline: Date.now() + timeoutMs }) } } : {}),
    // Every call carries an absolute deadline; without one a call to a partitioned member waits forever.
    defaultCallOptions: () => ({ deadline: Date.now() + timeoutMs }),
  });
  const store = new EtcdStore(client, endpoints.join(','), timeoutMs, opts.watchGraceMs ?? timeoutMs);
  // gRPC reports a failed TLS handshake as "UNAVAILABLE: No connection established. Last error:
  // null", which names no cause; a handshake of our own, alongside, finds it (tls-check.ts).
  const tlsCheck = new AbortController();
  const diagnosis = tls ? checkTls(endpoints, access, deadline, tlsCheck.signal) : undefined;
  try {
    // A linearizable read needs the leader and a quorum: the honest test that the store works.
    const probe = store.get('rollcall/.probe');
    // Every member failing its handshake is an answer at once; otherwise the read decides.
    const failFast = diagnosis?.then((d) => {
      if (d.allFailed) throw tlsFailure(url, d.failures);
      return probe;
    });
    await Promise.race(failFast ? [probe, failFast] : [probe]);
    tlsCheck.abort();
    await warmUp(client, deadline);
    return store;
  } catch (e) {
    tlsCheck.abort();
    await store.close();
    if (e instanceof TlsError) throw e;
    // The read failed: if some member's handshake did too, that is the cause worth naming.
    const d = await diagnosis?.catch(() => undefined);
    if (e instanceof StoreUnavailableError && d && d.failures.length > 0) throw tlsFailure(url, d.failures, e);
    throw e instanceof StoreUnavailableError ? new StoreUnavailableError(`no etcd quorum answered at ${url} within ${timeoutMs} ms: ${e.message}`, { cause: e }) : e;
  }
}

function tlsFailure(url: string, failures: readonly string[], cause?: unknown): TlsError {
  return new TlsError(`etcd at ${url}: TLS failed: ${failures.join('; ')}`, { cause });
}

/**
 * Connects to every member now. etcd3 picks a member at random per call and connects to it on
 * first use, so the first call to each member pays a TCP and HTTP/2 set-up, and on the recovery
 * path (a compare-and-set, a rendezvous) that is time lost (docs/benchmarks.md, "Recovery with the
 * runtime environment in etcd"). etcd3 does not
 * expose its per-member clients; if a later version hides them differently, this does nothing.
 */
async function warmUp(client: Etcd3, deadline: number): Promise<void> {
  type GrpcClient = { waitForReady(deadline: number, cb: (err?: Error) => void): void };
  const hosts = (client as unknown as { pool?: { hosts?: { getServiceClient?(name: string): GrpcClient }[] } }).pool?.hosts ?? [];
  const ready = hosts.flatMap((h) =>
    ['KV', 'Watch', 'Lease'].map(
      (service) =>
        new Promise<void>((resolve) => {
          try {
            h.getServiceClient?.(service).waitForReady(deadline, () => resolve());
          } catch {
            resolve();
          }
        }),
    ),
  );
  await Promise.all(ready);
}

class EtcdStore implements Store {
  private closed = false;
  private readonly watchers = new Set<Watcher>();

  constructor(
    private readonly client: Etcd3,
    private readonly endpoints: string,
    private readonly timeoutMs: number,
    private readonly watchGraceMs: number,
  ) {}

  /** Bounds a call, etcd3's own retries included, and maps its failure. */
  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    if (this.closed) throw new ClosedError(`etcd store at ${this.endpoints} is closed`);
    try {
      return await withDeadline(run(), deadlineIn(this.timeoutMs), what, {
        onTimeout: () => new StoreUnavailableError(`etcd at ${this.endpoints}: ${what}: no answer within ${this.timeoutMs} ms`),
      });
    } catch (e) {
      throw fromEtcd(e, what, this.endpoints);
    }
  }

  async get(key: string): Promise<KeyValue | undefined> {
    checkKey(key);
    const res = await this.call(`get ${key}`, () => this.client.kv.range({ key: Buffer.from(key) }));
    const kv = res.kvs[0];
    return kv ? toKeyValue(kv) : undefined;
  }

  async list(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    checkPrefix(prefix);
    const r = Range.prefix(prefix);
    const res = await this.call(`list ${prefix}`, () => this.client.kv.range({ key: r.start, range_end: r.end, sort_target: 'Key', sort_order: 'Ascend' }));
    return { kvs: res.kvs.map(toKeyValue), revision: Number(res.header.revision) };
  }

  async put(key: string, value: string, opts: PutOptions = {}): Promise<number> {
    checkKey(key);
    checkValue(value);
    if (opts.lease !== undefined) checkCount(opts.lease, 'lease');
    const res = await this.call(`put ${key}`, () => this.client.kv.put({ key: Buffer.from(key), value: Buffer.from(value), lease: opts.lease ?? 0 }));
    return Number(res.header.revision);
  }

  async compareAndSet(key: string, expectedRevision: number, value: string, opts: PutOptions = {}): Promise<{ ok: boolean; current: KeyValue | undefined }> {
    checkKey(key);
    checkCount(expectedRevision, 'expectedRevision');
    checkValue(value);
    if (opts.lease !== undefined) checkCount(opts.lease, 'lease');
    const k = Buffer.from(key);
    const res = await this.call(`compare-and-set ${key}`, () =>
      this.client.kv.txn({
        // A key that does not exist has create_revision 0; an existing one has mod_revision > 0.
        compare: [expectedRevision === 0 ? { key: k, target: 'Create', result: 'Equal', create_revision: 0 } : { key: k, target: 'Mod', result: 'Equal', mod_revision: expectedRevision }],
        success: [{ request_put: { key: k, value: Buffer.from(value), lease: opts.lease ?? 0 } }],
        failure: [{ request_range: { key: k } }],
      }),
    );
    if (res.succeeded) return { ok: true, current: { key, value, modRevision: Number(res.header.revision), lease: opts.lease ?? 0 } };
    const kv = res.responses[0]?.response_range.kvs[0];
    const current = kv ? toKeyValue(kv) : undefined;
    // etcd3 re-sends a request whose answer was lost (a member died mid-call); if the first send
    // committed, the re-send finds our own write and fails. The key holding exactly what we wrote
    // is the outcome the caller asked for, so it is reported as written.
    if (current && current.value === value && current.lease === (opts.lease ?? 0) && current.modRevision > expectedRevision) return { ok: true, current };
    return { ok: false, current };
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    const res = await this.call(`delete ${key}`, () => this.client.kv.deleteRange({ key: Buffer.from(key) }));
    return Number(res.deleted) > 0;
  }

  async grantLease(ttlMs: number): Promise<Lease> {
    checkTtl(ttlMs);
    // etcd counts TTLs in whole seconds and raises short ones to its minimum (1.5 × election timeout).
    const ttlSeconds = Math.max(1, Math.ceil(ttlMs / 1000));
    for (let attempt = 0; ; attempt++) {
      const id = newLeaseId();
      try {
        const res = await this.call('grant lease', () => this.client.leaseClient.leaseGrant({ ID: id, TTL: ttlSeconds }));
        return this.lease(id, Number(res.TTL) * 1000);
      } catch (e) {
        if (attempt < 3 && e instanceof RollcallError && /lease already exists/.test(e.message)) continue;
        throw e;
      }
    }
  }

  private lease(id: number, ttlMs: number): Lease {
    let revoked = false;
    return {
      id,
      ttlMs,
      keepAlive: async () => {
        if (revoked) throw new LeaseExpiredError(`lease ${id} was revoked`);
        const res = await this.call(`keep lease ${id} alive`, async () => {
          const stream = await this.client.leaseClient.leaseKeepAlive();
          let timer: NodeJS.Timeout | undefined;
          try {
            return await new Promise<{ TTL: string }>((resolve, reject) => {
              stream.on('data', resolve);
              stream.on('error', reject);
              stream.on('end', () => reject(new StoreUnavailableError('keep-alive stream ended without an answer')));
              // Settles on its own, so the stream is ended even when no member answers (a
              // partitioned node renews every few hundred ms and must not leak a stream each time).
              timer = setTimeout(() => reject(new StoreUnavailableError(`no answer to the keep-alive within ${this.timeoutMs} ms`)), this.timeoutMs);
              stream.write({ ID: id });
            });
          } finally {
            clearTimeout(timer);
            stream.end();
          }
        });
        // etcd answers an expired lease with TTL 0 rather than an error.
        if (Number(res.TTL) <= 0) throw new LeaseExpiredError(`lease ${id} has expired`);
      },
      revoke: async () => {
        if (revoked) return;
        try {
          await this.call(`revoke lease ${id}`, () => this.client.leaseClient.leaseRevoke({ ID: id }));
        } catch (e) {
          if (!(e instanceof LeaseExpiredError)) throw e;
        }
        revoked = true;
      },
    };
  }

  async watch(prefix: string, onEvent: (ev: WatchEvent) => void, opts: WatchOptions = {}): Promise<Watcher> {
    checkPrefix(prefix);
    if (opts.fromRevision !== undefined) checkCount(opts.fromRevision, 'fromRevision');
    let builder = this.client.watch().prefix(prefix);
    if (opts.fromRevision !== undefined && opts.fromRevision > 0) builder = builder.startRevision(String(opts.fromRevision));
    let ended = false;
    let grace: NodeJS.Timeout | undefined;
    let etcdWatcher: EtcdWatcher | undefined;
    const handle: Watcher = {
      close: () => {
        if (ended) return;
        ended = true;
        clearTimeout(grace);
        this.watchers.delete(handle);
        etcdWatcher?.removeAllListeners();
        // Cancelling needs the stream; a store already gone has nothing left to cancel.
        etcdWatcher?.cancel().catch(() => {});
      },
    };
    const fail = (err: Error): void => {
      if (ended) return;
      handle.close();
      opts.onError?.(err);
    };
    const compacted = (e: unknown): boolean => e instanceof Error && /compacted/.test(e.message);
    const historyError = (e: unknown): StoreUnavailableError =>
      new StoreUnavailableError(`etcd at ${this.endpoints}: watch of ${prefix} from revision ${opts.fromRevision}: that revision is no longer in the store's history (${(e as Error).message})`);
    try {
      etcdWatcher = await this.call(`watch ${prefix}`, () => builder.create());
    } catch (e) {
      // A watch from a compacted revision is refused by etcd; the interface reports it as a broken watch.
      const cause = e instanceof RollcallError && e.cause !== undefined ? e.cause : e;
      if (!compacted(cause)) throw e;
      queueMicrotask(() => fail(historyError(cause)));
      return handle;
    }
    this.watchers.add(handle);
    etcdWatcher.on('put', (kv) => {
      if (!ended) onEvent({ type: 'put', kv: toKeyValue(kv) });
    });
    etcdWatcher.on('delete', (kv) => {
      if (!ended) onEvent({ type: 'delete', key: kv.key.toString(), modRevision: Number(kv.mod_revision) });
    });
    etcdWatcher.on('error', (e: Error) => {
      if (compacted(e)) return fail(historyError(e));
      // etcd cancels a watch from a compacted revision with an empty reason (the compaction is
      // only in a field etcd3 does not pass on), so ask: a read at that revision says so.
      const from = opts.fromRevision;
      if (from === undefined || from <= 0) return fail(fromEtcd(e, `watch of ${prefix}`, this.endpoints));
      this.client.kv.range({ key: Buffer.from(prefix || '\u0000'), revision: from }).then(
        () => fail(fromEtcd(e, `watch of ${prefix}`, this.endpoints)),
        (re: unknown) => fail(compacted(re) ? historyError(re) : fromEtcd(e, `watch of ${prefix}`, this.endpoints)),
      );
    });
    etcdWatcher.on('disconnected', (e: Error) => {
      if (grace !== undefined || ended) return;
      grace = setTimeout(() => fail(new StoreUnavailableError(`etcd at ${this.endpoints}: watch of ${prefix} disconnected for ${this.watchGraceMs} ms: ${e.message}`)), this.watchGraceMs);
      grace.unref();
    });
    etcdWatcher.on('connected', () => {
      clearTimeout(grace);
      grace = undefined;
    });
    return handle;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const w of [...this.watchers]) w.close();
    this.closed = true;
    this.client.close();
  }
}

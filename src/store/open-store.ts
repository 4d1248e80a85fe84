import { InvalidArgumentError } from '../errors.js';
import { StoreAccessSchema, type StoreAccess } from '../protocol/store-access.js';
import type { Deadline } from '../util/deadline.js';
import type { Store } from './store.js';
import { connectStore } from './tcp-store-client.js';

export interface OpenStoreOptions {
  /** The job secret; the embedded TCP store checks it. etcd's own access control is `access`. */
  secret?: string;
  /** For `etcds://`: TLS material (PEM) and a user; refused for any other store (protocol/store-access.ts). */
  access?: StoreAccess;
  requestTimeoutMs?: number;
  deadline?: Deadline;
}

/**
 * The one place a store address becomes a client: `etcd://h1:2379,h2:2379` is an etcd cluster,
 * `etcds://...` one over TLS, `host:port` the embedded TCP store a launcher started.
 */
export async function openStore(address: string, opts: OpenStoreOptions = {}): Promise<Store> {
  if (typeof address !== 'string' || address === '') throw new InvalidArgumentError('store address must be a non-empty string');
  const { access, ...rest } = opts;
  checkAccess(address, access);
  if (address.startsWith('etcd://') || address.startsWith('etcds://')) {
    // Loaded only when asked for: loading gRPC costs every program's start-up CPU it need not pay on
    // one machine (docs/benchmarks.md, "Recovery with the runtime environment in etcd").
    const { connectEtcdStore } = await import('./etcd-store.js');
    return connectEtcdStore(address, { requestTimeoutMs: opts.requestTimeoutMs, access });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address)) throw new InvalidArgumentError(`store ${JSON.stringify(address)}: unknown scheme; use etcd://host:port[,host:port...], etcds://... (TLS) or host:port`);
  return connectStore(address, rest);
}

/**
 * TLS material and a password make sense only over TLS: a password sent to `etcd://` would
 * cross the network in clear, so it is refused rather than sent.
 */
function checkAccess(address: string, access: StoreAccess | undefined): void {
  const given = Object.entries(access ?? {}).filter(([, v]) => v !== undefined);
  if (given.length === 0) return;
  const parsed = StoreAccessSchema.safeParse(access);
  if (!parsed.success) throw new InvalidArgumentError(`store access: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  if (!address.startsWith('etcds://')) {
    throw new InvalidArgumentError(`store ${JSON.stringify(address)}: ${given.map(([k]) => k).join(', ')} given, but these are for etcd over TLS only; use etcds://host:port[,...]`);
  }
  const a = parsed.data;
  if ((a.cert === undefined) !== (a.key === undefined)) throw new InvalidArgumentError('store access: a client certificate needs its key, and a key its certificate');
  if ((a.user === undefined) !== (a.password === undefined)) throw new InvalidArgumentError('store access: a user needs a password, and a password a user');
}

import { InvalidArgumentError } from '../errors.js';
import type { Deadline } from '../util/deadline.js';
import type { Store } from './store.js';
import { connectStore } from './tcp-store-client.js';

export interface OpenStoreOptions {
  /** The job secret; the embedded TCP store checks it. etcd's own access control is the operator's. */
  secret?: string;
  requestTimeoutMs?: number;
  deadline?: Deadline;
}

/**
 * The one place a store address becomes a client: `etcd://h1:2379,h2:2379` is an etcd cluster,
 * `host:port` the embedded TCP store a launcher started.
 */
export async function openStore(address: string, opts: OpenStoreOptions = {}): Promise<Store> {
  if (typeof address !== 'string' || address === '') throw new InvalidArgumentError('store address must be a non-empty string');
  if (address.startsWith('etcd://')) {
    // Loaded only when asked for: loading gRPC costs every program's start-up CPU it need not pay on
    // one machine (docs/benchmarks.md, "Recovery with the runtime environment in etcd").
    const { connectEtcdStore } = await import('./etcd-store.js');
    return connectEtcdStore(address, { requestTimeoutMs: opts.requestTimeoutMs });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address)) throw new InvalidArgumentError(`store ${JSON.stringify(address)}: unknown scheme; use etcd://host:port[,host:port...] or host:port`);
  return connectStore(address, opts);
}

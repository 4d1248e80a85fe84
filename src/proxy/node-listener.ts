import { Endpoint } from '../comm/endpoint.js';
import { AddressBook, nodeAddressKey } from '../comm/roster.js';
import { TcpTransport } from '../comm/tcp-transport.js';
import type { Transport } from '../comm/transport.js';
import type { Store } from '../store/store.js';

export interface NodeListenerOptions {
  store: Store;
  job: string;
  node: number;
  host?: string;
  transport?: Transport;
  /** How long a dialer ahead of this node (its generation not joined here yet) is held. */
  admitWaitMs?: number;
}

/**
 * A node's one listening address for its whole life, published once when it starts (a spare's
 * too, so bringing it in costs no write), and the book of the other nodes' addresses. Every
 * generation's communicator of this node is built on it: a recovery writes nothing to the
 * store (docs/architecture.md, "Connections on demand").
 */
export class NodeListener {
  private constructor(
    readonly endpoint: Endpoint,
    readonly book: AddressBook,
    readonly store: Store,
    readonly node: number,
  ) {}

  static async open(opts: NodeListenerOptions): Promise<NodeListener> {
    const endpoint = await Endpoint.open({ transport: opts.transport ?? new TcpTransport(), host: opts.host, admitWaitMs: opts.admitWaitMs, job: opts.job });
    try {
      await opts.store.put(nodeAddressKey(opts.job, opts.node), endpoint.address);
    } catch (e) {
      endpoint.close();
      throw e;
    }
    return new NodeListener(endpoint, new AddressBook(opts.store, opts.job), opts.store, opts.node);
  }

  get address(): string {
    return this.endpoint.address;
  }

  close(): void {
    this.endpoint.close();
  }
}

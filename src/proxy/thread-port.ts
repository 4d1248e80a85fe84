import net from 'node:net';
import { formatNodeAddress } from '../comm/node-address.js';
import { AddressBook, nodeAddressKey } from '../comm/roster.js';
import type { Store, Watcher } from '../store/store.js';
import { LOOPBACK, advertisedHost, joinHostPort } from '../util/host.js';

export interface ThreadPortOptions {
  store: Store;
  job: string;
  node: number;
  /** The host to bind (as for the inline proxy's listener); loopback by default. */
  host?: string;
}

/**
 * The one address of a node whose proxies are threads (`--proxy thread`), for the node's life:
 * a port chosen when the program starts and published once (a spare's too), which every
 * generation's proxy thread listens on again, and the book of the other nodes' addresses from
 * which the SDK builds each generation's roster. So a recovery writes nothing to the store
 * besides the membership, as with the inline proxy's listener (node-listener.ts).
 *
 * Why not one listener: Node cannot hand a listening socket (nor an accepted one) to another
 * thread, and a relaunched proxy is a new thread. So the port is let go by one generation's
 * thread and bound by the next's (proxy-worker.ts); in between, a dialer is refused, and
 * dialers of thread proxies take a refusal for "not yet" for a grace (rendezvous.ts,
 * peersRebind). TCP only: a Unix domain socket bound again would send every dialer that met
 * the gap to TCP for good (roster.ts, moved()).
 *
 * The port is found by binding port 0 and letting go of it at once, so another process could
 * take it before our first thread binds it (or between two generations). Then that thread
 * listens on a new port and this class publishes it (moved()): a write, on a path that does not
 * happen otherwise.
 */
export class ThreadPort {
  private following: Promise<Watcher | undefined> | undefined;

  private constructor(
    private addr: string,
    readonly book: AddressBook,
    readonly store: Store,
    readonly node: number,
    private readonly job: string,
  ) {}

  /** Store writes made (the first publication, then each move): what a test of the recovery path counts. */
  private written = 1;
  get writes(): number {
    return this.written;
  }

  static async open(opts: ThreadPortOptions): Promise<ThreadPort> {
    const host = opts.host ?? LOOPBACK;
    const port = await freePort(host);
    const address = joinHostPort(advertisedHost(host), port);
    await opts.store.put(nodeAddressKey(opts.job, opts.node), formatNodeAddress({ tcp: address }));
    return new ThreadPort(address, new AddressBook(opts.store, opts.job), opts.store, opts.node, opts.job);
  }

  /** No Unix domain socket (see above); as NodeListener's, for the comm_listening event. */
  readonly socketPath: string | undefined = undefined;
  readonly socketSkipped = 'thread proxies listen on TCP only: each generation binds the port again';

  /** The node's address: what its proxy threads listen at. */
  get address(): string {
    return this.addr;
  }

  /** A proxy thread had to listen elsewhere: that is the node's address from now on, published. */
  async moved(address: string): Promise<void> {
    if (address === this.addr) return;
    this.addr = address;
    this.written++;
    await this.store.put(nodeAddressKey(this.job, this.node), formatNodeAddress({ tcp: address }));
  }

  /** As NodeListener.followAddresses(): a spare's book kept filled, so being brought in reads nothing. */
  followAddresses(): void {
    this.following ??= this.book.follow(() => undefined).catch(() => undefined);
  }

  close(): void {
    void this.following?.then((w) => w?.close());
  }
}

/** A port on `host` that nothing listens on now. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

import { RendezvousTimeoutError } from '../errors.js';
import { waitForPrefix, type Store } from '../store/store.js';
import type { Deadline } from '../util/deadline.js';

/** Where a node's listening address lives: written once, when the node starts. */
export function nodeAddressKey(job: string, node?: number): string {
  return node === undefined ? `rollcall/${job}/comm/node/` : `rollcall/${job}/comm/node/${node}/addr`;
}

/** Up to this many unknown nodes are read one by one; more (generation 0) with one list and watch. */
const SINGLE_READS = 8;

/**
 * Nodes' listening addresses, read from the store once and cached: a generation's roster is its
 * members (node ids in rank order, from the membership record) mapped through this book. After
 * a recovery only a node never seen before (a spare brought in) costs a store read; nothing is
 * written.
 */
export class AddressBook {
  private readonly known = new Map<number, string>();
  /** Store reads made (gets and lists): what a test of the recovery path counts. */
  reads = 0;

  constructor(
    private readonly store: Store,
    private readonly job: string,
  ) {}

  /** The addresses of `nodes`, in that order, waiting (until `deadline`) for any not published yet. */
  async roster(nodes: readonly number[], deadline: Deadline, signal?: AbortSignal): Promise<string[]> {
    let missing = nodes.filter((n) => !this.known.has(n));
    if (missing.length > 0 && missing.length <= SINGLE_READS) {
      this.reads += missing.length;
      const got = await Promise.all(missing.map((n) => this.store.get(nodeAddressKey(this.job, n))));
      got.forEach((kv, i) => kv && this.known.set(missing[i]!, kv.value));
      missing = missing.filter((n) => !this.known.has(n));
    }
    if (missing.length > 0) await this.await(missing, (n) => nodes.indexOf(n), deadline, signal);
    return nodes.map((n) => this.known.get(n)!);
  }

  /**
   * A node's address after `stale` refused a connection: a restarted program (policy restart)
   * listens elsewhere and publishes its new address when it starts. Waits for a different one.
   */
  async moved(node: number, rank: number, stale: string, deadline: Deadline, signal?: AbortSignal): Promise<string> {
    this.reads++;
    const kv = await this.store.get(nodeAddressKey(this.job, node));
    if (kv && kv.value !== stale) {
      this.known.set(node, kv.value);
      return kv.value;
    }
    this.known.delete(node);
    await this.await([node], () => rank, deadline, signal, stale);
    return this.known.get(node)!;
  }

  /** Waits for `nodes`' addresses; a timeout names them by rank (`rankOf`), as every communicator error does. */
  private async await(nodes: readonly number[], rankOf: (node: number) => number, deadline: Deadline, signal: AbortSignal | undefined, stale?: string): Promise<void> {
    this.reads++;
    const prefix = nodes.length === 1 ? nodeAddressKey(this.job, nodes[0]).replace(/addr$/, '') : nodeAddressKey(this.job);
    const fresh = (kv: { value: string } | undefined): kv is { value: string } => kv !== undefined && kv.value !== stale;
    await waitForPrefix(
      this.store,
      prefix,
      (kvs) => {
        for (const n of nodes) if (!fresh(kvs.get(nodeAddressKey(this.job, n)))) return undefined;
        for (const n of nodes) this.known.set(n, kvs.get(nodeAddressKey(this.job, n))!.value);
        return true;
      },
      deadline,
      (kvs) => {
        const absent = nodes.filter((n) => !fresh(kvs.get(nodeAddressKey(this.job, n))));
        return new RendezvousTimeoutError(absent.map(rankOf), `node(s) ${absent.join(',')} never published a listening address`);
      },
      signal,
    );
  }
}

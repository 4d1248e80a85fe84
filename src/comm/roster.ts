import { RendezvousTimeoutError, type CorruptRecordError } from '../errors.js';
import { listAndWatch, waitForPrefix, type KeyValue, type Store, type Watcher } from '../store/store.js';
import type { Deadline } from '../util/deadline.js';
import { addressesOf, dialAddress, parseNodeAddress, type NodeAddress } from './node-address.js';
import { UNIX_PREFIX } from './tcp-transport.js';

/** Where a node's listening address lives: written once, when the node starts (node-address.ts says what). */
export function nodeAddressKey(job: string, node?: number): string {
  return node === undefined ? `rollcall/${job}/comm/node/` : `rollcall/${job}/comm/node/${node}/addr`;
}

/** Up to this many unknown nodes are read one by one; more (generation 0) with one list and watch. */
const SINGLE_READS = 8;

/**
 * Nodes' listening addresses, read from the store once and cached: a generation's roster is its
 * members (node ids in rank order, from the membership record) mapped through this book. After
 * a recovery only a node never seen before (a spare brought in) costs a store read; nothing is
 * written. A node on this book's own host (`local`, util/host-identity.ts) is dialed at its Unix
 * domain socket, any other at its TCP address (docs/benchmarks.md, "Unix domain sockets against
 * loopback TCP").
 */
export class AddressBook {
  private readonly known = new Map<number, NodeAddress>();
  /** Socket paths that refused us although their node had not moved: such a node is dialed over TCP from then on. */
  private readonly failedSockets = new Set<string>();
  /** Store reads made (gets and lists): what a test of the recovery path counts. */
  reads = 0;

  constructor(
    private readonly store: Store,
    private readonly job: string,
    /** This process's host identity; undefined: every node over TCP. */
    private readonly local?: string,
  ) {}

  /** Whether `node`'s address is in the book (read, or followed). */
  has(node: number): boolean {
    return this.known.has(node);
  }

  /** The addresses to dial `nodes` at, in that order, waiting (until `deadline`) for any not published yet. */
  async roster(nodes: readonly number[], deadline: Deadline, signal?: AbortSignal): Promise<string[]> {
    let missing = nodes.filter((n) => !this.known.has(n));
    if (missing.length > 0 && missing.length <= SINGLE_READS) {
      this.reads += missing.length;
      const got = await Promise.all(missing.map((n) => this.store.get(nodeAddressKey(this.job, n))));
      got.forEach((kv, i) => kv && this.known.set(missing[i]!, this.parse(kv, missing[i]!)));
      missing = missing.filter((n) => !this.known.has(n));
    }
    if (missing.length > 0) await this.await(missing, (n) => nodes.indexOf(n), deadline, signal);
    return nodes.map((n) => this.dialable(n));
  }

  /**
   * A node's address after `stale` refused a connection. Its socket refused while its record is
   * unchanged (the file removed under a live node, say, or a host that shares our network but
   * not our filesystem): its TCP address, at once, and TCP for it from then on. Otherwise a
   * restarted program (policy restart), which listens elsewhere and publishes its new address
   * when it starts: waits for a record without the stale address.
   */
  async moved(node: number, rank: number, stale: string, deadline: Deadline, signal?: AbortSignal): Promise<string> {
    this.reads++;
    const kv = await this.store.get(nodeAddressKey(this.job, node));
    const now = kv && this.parse(kv, node);
    if (now && stale.startsWith(UNIX_PREFIX) && now.unix && UNIX_PREFIX + now.unix.path === stale) {
      this.failedSockets.add(now.unix.path);
      this.known.set(node, now);
      return now.tcp;
    }
    if (now && !addressesOf(now).includes(stale)) {
      this.known.set(node, now);
      return this.dialable(node);
    }
    this.known.delete(node);
    await this.await([node], () => rank, deadline, signal, stale);
    return this.dialable(node);
  }

  /**
   * Keeps the book filled from the store until the watcher is closed: one list and one watch.
   * For a spare, which is brought in only after a fault and would otherwise read every member's
   * address then (a list and a watch of the whole prefix, on a store busy with the recovery).
   * Spares only: every node following every other would be O(N^2) deliveries at a job's start.
   * A record that does not parse is skipped here; roster() reads it again and reports it.
   */
  follow(onError: (e: Error) => void): Promise<Watcher> {
    const learn = (kv: KeyValue): void => {
      const m = /\/(\d+)\/addr$/.exec(kv.key);
      if (!m) return;
      try {
        this.known.set(Number(m[1]), this.parse(kv, Number(m[1])));
      } catch {
        // left unknown: roster() reads and reports it
      }
    };
    this.reads++;
    return listAndWatch(
      this.store,
      nodeAddressKey(this.job),
      (kvs) => kvs.forEach(learn),
      (ev) => {
        if (ev.type === 'put') learn(ev.kv);
        else {
          const m = /\/(\d+)\/addr$/.exec(ev.key);
          if (m) this.known.delete(Number(m[1]));
        }
      },
      onError,
    );
  }

  private dialable(node: number): string {
    return dialAddress(this.known.get(node)!, this.local, this.failedSockets);
  }

  private parse(kv: KeyValue, node: number): NodeAddress {
    return parseNodeAddress(kv.value, kv.key, node);
  }

  /** Waits for `nodes`' addresses; a timeout names them by rank (`rankOf`), as every communicator error does. */
  private async await(nodes: readonly number[], rankOf: (node: number) => number, deadline: Deadline, signal: AbortSignal | undefined, stale?: string): Promise<void> {
    this.reads++;
    const prefix = nodes.length === 1 ? nodeAddressKey(this.job, nodes[0]).replace(/addr$/, '') : nodeAddressKey(this.job);
    const found = new Map<number, NodeAddress>();
    let corrupt: CorruptRecordError | undefined;
    const fresh = (n: number, kvs: ReadonlyMap<string, KeyValue>): boolean => {
      if (found.has(n)) return true;
      const kv = kvs.get(nodeAddressKey(this.job, n));
      if (!kv) return false;
      // A record that does not parse ends the wait (below): waiting on would only time out.
      const a = this.parse(kv, n);
      if (stale !== undefined && addressesOf(a).includes(stale)) return false;
      found.set(n, a);
      return true;
    };
    await waitForPrefix(
      this.store,
      prefix,
      (kvs) => {
        // Every node is looked at (found ones cost nothing), so that a timeout knows which are missing.
        let all = true;
        try {
          for (const n of nodes) if (!fresh(n, kvs)) all = false;
        } catch (e) {
          corrupt = e as CorruptRecordError;
          return true;
        }
        return all || undefined;
      },
      deadline,
      (kvs) => {
        const waited = nodes.filter((n) => !found.has(n));
        const absent = waited.filter((n) => !kvs.has(nodeAddressKey(this.job, n)));
        const moved = stale !== undefined && absent.length < waited.length ? ` (node(s) ${waited.filter((n) => !absent.includes(n)).join(',')} still at ${stale})` : '';
        return new RendezvousTimeoutError(waited.map(rankOf), `node(s) ${waited.join(',')} never published a listening address${stale === undefined ? '' : ` other than ${stale}`}${moved}`);
      },
      signal,
    );
    if (corrupt) throw corrupt;
    for (const [n, a] of found) this.known.set(n, a);
  }
}

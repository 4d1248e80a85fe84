import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Endpoint } from '../comm/endpoint.js';
import { MAX_SOCKET_PATH_BYTES, formatNodeAddress, type NodeAddress } from '../comm/node-address.js';
import { AddressBook, nodeAddressKey } from '../comm/roster.js';
import { TcpTransport, UNIX_PREFIX } from '../comm/tcp-transport.js';
import type { Transport } from '../comm/transport.js';
import type { Store, Watcher } from '../store/store.js';
import { hostIdentity } from '../util/host-identity.js';

export interface NodeListenerOptions {
  store: Store;
  job: string;
  node: number;
  host?: string;
  transport?: Transport;
  /** How long a dialer ahead of this node (its generation not joined here yet) is held. */
  admitWaitMs?: number;
  /**
   * Listen on a Unix domain socket as well, for the nodes on this host (default: yes, on the
   * TCP transport where this host has an identity; `false` is for benchmarks comparing both).
   */
  localSocket?: boolean;
  /**
   * Where the socket's private directory is made (default the system's temporary directory).
   * The SDK passes the job's state directory: a launcher removes that when the job ends, so a
   * killed node's socket does not outlive the job.
   */
  socketParent?: string;
  /** This host's identity (default util/host-identity.ts's): tests give two listeners different ones. */
  hostId?: string;
}

/** A socket, its private directory, and why a node has none (kept for reports). */
interface LocalSocket {
  dir?: string;
  path?: string;
  skipped?: string;
}

/**
 * A node's one listening address for its whole life, published once when it starts (a spare's
 * too, so bringing it in costs no write), and the book of the other nodes' addresses. Every
 * generation's communicator of this node is built on it: a recovery writes nothing to the
 * store (docs/architecture.md, "Connections on demand").
 *
 * Nodes on the same host reach it at a Unix domain socket (docs/benchmarks.md, "Unix domain
 * sockets against loopback TCP"), others at its TCP address; one endpoint serves both, so the
 * handshake and everything above it are the same. The one record carries both (node-address.ts).
 */
export class NodeListener {
  private constructor(
    readonly endpoint: Endpoint,
    readonly book: AddressBook,
    readonly store: Store,
    readonly node: number,
    private readonly socket: LocalSocket,
  ) {}

  static async open(opts: NodeListenerOptions): Promise<NodeListener> {
    const transport = opts.transport ?? new TcpTransport();
    const endpoint = await Endpoint.open({ transport, host: opts.host, admitWaitMs: opts.admitWaitMs, job: opts.job });
    const hostId = opts.hostId ?? hostIdentity();
    let socket: LocalSocket = {};
    try {
      const wanted = opts.localSocket ?? true;
      if (!wanted) socket.skipped = 'not asked for';
      else if (!(transport instanceof TcpTransport)) socket.skipped = 'the transport has no Unix domain sockets';
      else if (endpoint.address.startsWith(UNIX_PREFIX)) socket.skipped = 'the node listens on a Unix domain socket already';
      else if (hostId === undefined) socket.skipped = 'this host has no identity (not Linux, or /proc unreadable): every peer over TCP';
      else socket = await listenLocally(endpoint, opts.node, opts.socketParent);
      const record: NodeAddress = { tcp: endpoint.address, unix: socket.path && hostId !== undefined ? { path: socket.path, host: hostId } : undefined };
      await opts.store.put(nodeAddressKey(opts.job, opts.node), formatNodeAddress(record));
    } catch (e) {
      endpoint.close();
      removeSocketDir(socket);
      throw e;
    }
    return new NodeListener(endpoint, new AddressBook(opts.store, opts.job, hostId), opts.store, opts.node, socket);
  }

  /** The TCP address (what a node on another host dials). */
  get address(): string {
    return this.endpoint.address;
  }

  /** The Unix domain socket's path, if this node has one. */
  get socketPath(): string | undefined {
    return this.socket.path;
  }

  /** Why this node has no Unix domain socket, if it has none. */
  get socketSkipped(): string | undefined {
    return this.socket.skipped;
  }

  private following: Promise<Watcher | undefined> | undefined;

  /**
   * A spare's listener keeps its book filled (AddressBook.follow) until closed, so that being
   * brought in reads nothing from the store. Once; a watch that cannot start or breaks leaves the
   * book to read what it lacks when the roster is built, as a member's does.
   */
  followAddresses(): void {
    this.following ??= this.book.follow(() => undefined).catch(() => undefined);
  }

  close(): void {
    this.endpoint.close();
    removeSocketDir(this.socket);
    void this.following?.then((w) => w?.close());
  }
}

/**
 * The socket goes in a directory made for it alone (mkdtemp: mode 0700, a name no other process
 * has), so a file left by a killed node can never be in the way of a new one, and no other
 * user's process can connect to it. A socket that cannot be made leaves the node on TCP only.
 */
async function listenLocally(endpoint: Endpoint, node: number, parent: string | undefined): Promise<LocalSocket> {
  const file = `node-${node}.sock`;
  const errors: string[] = [];
  for (const where of parent === undefined ? [tmpdir()] : [parent, tmpdir()]) {
    let dir: string | undefined;
    try {
      mkdirSync(where, { recursive: true });
      dir = mkdtempSync(join(where, 'sock-'));
      const path = join(dir, file);
      // sun_path's limit: a long state directory falls back to the temporary one.
      if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) throw new Error(`${path} is longer than a socket path may be (${MAX_SOCKET_PATH_BYTES} bytes)`);
      await endpoint.listenAlso(UNIX_PREFIX + path);
      liveDirs.add(dir);
      if (liveDirs.size === 1) process.once('exit', removeLiveDirs);
      return { dir, path };
    } catch (e) {
      if (dir) rmSync(dir, { recursive: true, force: true });
      errors.push((e as Error).message);
    }
  }
  return { skipped: `no Unix domain socket: ${errors.join('; ')}` };
}

/**
 * Socket directories of this process's open listeners: a program that exits without closing its
 * listener (process.exit after an error) still removes them. One killed leaves its directory,
 * which no later node uses (and a launcher's state directory, their usual parent, goes at the
 * job's end).
 */
const liveDirs = new Set<string>();

function removeLiveDirs(): void {
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  liveDirs.clear();
}

function removeSocketDir(s: LocalSocket): void {
  if (!s.dir) return;
  rmSync(s.dir, { recursive: true, force: true });
  liveDirs.delete(s.dir);
  if (liveDirs.size === 0) process.off('exit', removeLiveDirs);
}

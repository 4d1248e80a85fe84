import { AuthError, ClosedError, TimeoutError } from '../errors.js';
import { realClock, type Clock } from '../util/clock.js';
import { deadlineIn, type Deadline } from '../util/deadline.js';
import type { Hello } from './handshake.js';
import { Link, type Admission, type GroupIdentity } from './link.js';
import { LinkPark } from './link-park.js';
import type { FrameHeader } from './frame.js';
import type { Conn, Listener, Transport } from './transport.js';

export interface EndpointOptions {
  transport: Transport;
  /** Address to listen on (the transport's default if unset). */
  host?: string;
  /** Listen at exactly this address (a port this node had before), not a new one: Transport.listen's `again`. */
  again?: string;
  clock?: Clock;
  /** Largest handshake frame a dialer not yet known may send. */
  maxFrameBytes?: number;
  /**
   * How long a dialer that is ahead of us (its generation not joined here yet) is held before
   * its connection is dropped; it then retries until its own deadline.
   */
  admitWaitMs?: number;
  /** The one job this endpoint serves: a dialer for another is refused at once (AuthError). */
  job?: string;
}

interface Waiter {
  key: string;
  resolve: (port: Port) => void;
  reject: (e: Error) => void;
}

const key = (job: string, generation: number): string => `${job}\n${generation}`;

/**
 * One listening address for the life of a node (or of one library communicator): dialers of any
 * generation reach it, and each accepted connection goes to this node's communicator of the
 * generation its HELLO names. So a recovery publishes nothing: the address a node published
 * when it started still reaches its next communicator. A dialer whose generation is not joined
 * here yet is held (it may simply be ahead of us); one whose generation has ended here is
 * refused with ERR_CLOSED, which it takes as this rank having failed.
 */
export class Endpoint {
  private readonly ports = new Map<string, Port>();
  /** Newest generation joined per job: a dialer for an older one that is not joined is too late. */
  private readonly newest = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();
  private closed = false;
  /** Why the last dialer was refused, for a report if a rank never connects. */
  lastRefusal: Error | undefined;
  /** Connections accepted (authenticated or not): what tests count. */
  accepted = 0;

  /** Further listeners of this endpoint (listenAlso()): a node's Unix domain socket beside its TCP port. */
  private readonly extra: Listener[] = [];

  /**
   * Links kept between generations (link-park.ts): a communicator opened with `reuseLinks` parks
   * its live links here when it ends, and the next generation's takes them back.
   */
  readonly park = new LinkPark((link, h, p) => this.reaccept(link, h, p));

  private constructor(
    private readonly listener: Listener,
    readonly transport: Transport,
    private readonly admitWaitMs: number,
    private readonly job: string | undefined,
    private readonly clock: Clock,
    private readonly maxFrameBytes: number,
  ) {}

  get address(): string {
    return this.listener.address;
  }

  static async open(opts: EndpointOptions): Promise<Endpoint> {
    const clock = opts.clock ?? realClock;
    const maxFrameBytes = opts.maxFrameBytes ?? 64 * 1024 * 1024;
    const admitWaitMs = opts.admitWaitMs ?? 30_000;
    // The listener exists before the endpoint does; connections only reach it once it is set.
    const made: { ep?: Endpoint } = {};
    const listener = await opts.transport.listen((conn) => (made.ep ? made.ep.accept(conn) : conn.destroy(new ClosedError('endpoint closed'))), opts.host, opts.again);
    made.ep = new Endpoint(listener, opts.transport, admitWaitMs, opts.job, clock, maxFrameBytes);
    return made.ep;
  }

  /**
   * One more address this endpoint is reached at (on the same transport, e.g. `unix:<path>`):
   * its connections are accepted exactly as the first address's. Closed with the endpoint.
   */
  async listenAlso(host: string): Promise<string> {
    if (this.closed) throw new ClosedError('endpoint closed');
    const l = await this.transport.listen((conn) => this.accept(conn), host);
    if (this.closed) {
      l.close();
      throw new ClosedError('endpoint closed');
    }
    this.extra.push(l);
    return l.address;
  }

  private accept(conn: Conn): void {
    if (this.closed) return conn.destroy(new ClosedError('endpoint closed'));
    this.accepted++;
    this.admitted((admit, deadline) => Link.accept(conn, admit, deadline, this.clock, this.maxFrameBytes));
  }

  /** A parked link's dialer opened a new generation on it: admitted as a new connection would be. */
  private reaccept(link: Link, hello: FrameHeader, payload: Uint8Array): void {
    if (this.closed) return link.destroy(new ClosedError('endpoint closed'));
    this.admitted((admit, deadline) => link.acceptAgain(admit, deadline, hello, payload));
  }

  /** Runs an acceptor's handshake with this endpoint's admission, and hands the link to the generation its dialer named. */
  private admitted(handshake: (admit: (hello: Hello) => Promise<Admission>, deadline: Deadline) => Promise<Link>): void {
    let port: Port | undefined;
    const admit = async (hello: Hello): Promise<Admission> => {
      port = await this.admit(hello);
      return port.admission;
    };
    handshake(admit, deadlineIn(this.admitWaitMs)).then(
      (link) => (port ? port.deliver(link) : link.destroy(new ClosedError('no generation'))),
      // A stray, late or unauthenticated dialer must not bring anything down; kept for reports.
      (e: Error) => (this.lastRefusal = e),
    );
  }

  /**
   * This node's place in one generation: connections for it are accepted from now on (and held
   * until its communicator takes them). Joining a generation ends the wait of dialers held for it.
   */
  join(me: GroupIdentity): Port {
    if (this.closed) throw new ClosedError('endpoint closed');
    const k = key(me.job, me.generation);
    if (this.ports.has(k)) throw new ClosedError(`generation ${me.generation} of job ${me.job} is already joined here`);
    const port = new Port(me, () => this.ports.get(k) === port && this.ports.delete(k));
    this.ports.set(k, port);
    this.newest.set(me.job, Math.max(this.newest.get(me.job) ?? -1, me.generation));
    for (const w of this.waiters) {
      if (w.key === k) {
        this.waiters.delete(w);
        w.resolve(port);
      } else if (w.key.startsWith(`${me.job}\n`) && Number(w.key.slice(me.job.length + 1)) < me.generation) {
        // Held for a generation we skipped: it will never be joined here.
        this.waiters.delete(w);
        w.reject(new ClosedError(`this node has moved on to generation ${me.generation}`));
      }
    }
    return port;
  }

  private admit(hello: Hello): Promise<Port> {
    const k = key(hello.job, hello.generation);
    const port = this.ports.get(k);
    if (port) return Promise.resolve(port);
    if (this.closed) return Promise.reject(new ClosedError('endpoint closed'));
    if (this.job !== undefined && hello.job !== this.job) return Promise.reject(new AuthError(`dialer is for job "${hello.job}", this is job "${this.job}"`));
    if (hello.generation <= (this.newest.get(hello.job) ?? -1)) {
      return Promise.reject(new ClosedError(`generation ${hello.generation} has ended here`));
    }
    return new Promise<Port>((resolve, reject) => {
      const w: Waiter = { key: k, resolve, reject };
      this.waiters.add(w);
      // The link's handshake deadline drops the connection; this only forgets the waiter.
      setTimeout(() => this.waiters.delete(w), this.admitWaitMs).unref();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listener.close();
    for (const l of this.extra.splice(0)) l.close();
    for (const w of this.waiters) w.reject(new TimeoutError('endpoint closed while the dialer waited'));
    this.waiters.clear();
    this.park.close();
    for (const p of [...this.ports.values()]) p.leave();
  }

  /** Generations joined and not left (tests, reports). */
  get joined(): number {
    return this.ports.size;
  }

}

/**
 * A node's place in one generation at its endpoint. Links accepted for it are held until the
 * communicator takes them (a dialer can finish its handshake before our communicator exists).
 */
export class Port {
  private handler: ((link: Link) => void) | undefined;
  private readonly held: Link[] = [];
  private left = false;
  /** Which dialing ranks are wanted; the communicator narrows it (one receive link per rank). */
  isWanted: (rank: number) => boolean;
  readonly admission: Admission;

  constructor(
    readonly me: GroupIdentity,
    private readonly onLeave: () => void,
  ) {
    this.isWanted = (r) => r !== me.rank;
    this.admission = { me, isWanted: (r) => !this.left && this.isWanted(r) };
  }

  /** Where accepted links go from now on; those held so far go first. */
  onLink(handler: (link: Link) => void): void {
    this.handler = handler;
    for (const l of this.held.splice(0)) handler(l);
  }

  deliver(link: Link): void {
    if (this.left) link.destroy(new ClosedError('generation left'));
    else if (this.handler) this.handler(link);
    else this.held.push(link);
  }

  /** The communicator is over: later dialers for this generation are refused (ERR_CLOSED). */
  leave(): void {
    if (this.left) return;
    this.left = true;
    this.onLeave();
    for (const l of this.held.splice(0)) l.destroy(new ClosedError('generation left'));
  }
}

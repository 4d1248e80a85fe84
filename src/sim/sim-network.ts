import { InvalidArgumentError } from '../errors.js';
import type { DatagramEndpoint } from '../fms/datagram-endpoint.js';
import { cachingDecoder, cachingEncoder, type Datagram } from '../protocol/datagram.js';
import type { Clock } from '../util/clock.js';
import type { Rng } from './rng.js';

export interface NetworkOptions {
  /** One-way delay of every FMS-to-FMS datagram. */
  latencyMs: number;
  /** Plus a uniform extra delay in [0, jitterMs): datagrams overtake one another, as on a real link. */
  jitterMs: number;
  /** Probability that an FMS-to-FMS datagram is lost, in [0, 1). */
  loss: number;
  rng: Rng;
  /**
   * Round-trip every datagram through the job's codec (HMAC, JSON, zod: protocol/datagram.ts)
   * as the UDP endpoint does, and count the bytes. Off by default: it is the endpoint's cost, not
   * the protocol's, and it triples the run time.
   */
  wire?: { job: string; secret: string } | undefined;
}

/** What the network counted; the cluster resets it after the warm-up. */
export interface NetworkCounts {
  /** FMS-to-FMS datagrams handed to the network by a live node. */
  sent: number;
  delivered: number;
  lost: number;
  /** Dropped because sender and receiver were on different sides of a partition. */
  cut: number;
  /** Dropped because either end had crashed. */
  dead: number;
  /** Program heartbeat thread -> its own FMS (loopback: never lost). */
  local: number;
  /** Encoded bytes of the FMS-to-FMS datagrams (with `wire` only). */
  bytes: number;
}

const zero = (): NetworkCounts => ({ sent: 0, delivered: 0, lost: 0, cut: 0, dead: 0, local: 0, bytes: 0 });

interface Port {
  node: number;
  onDatagram(d: Datagram): void;
  decode: ((b: Buffer) => Datagram) | undefined;
  encode: ((d: Datagram) => Buffer) | undefined;
}

/**
 * An in-memory datagram network on the simulator's clock. Each FMS gets a DatagramEndpoint
 * (the interface of fms/datagram-endpoint.ts, which the FMS cannot tell from the UDP one);
 * every datagram is a timer on the clock, delayed by latency and jitter, lost with the given
 * probability, dropped across a partition or to or from a crashed node.
 */
export class SimNetwork {
  private readonly ports = new Map<string, Port>();
  private readonly crashed = new Set<number>();
  /** node -> the partition it is on; absent: the main side. */
  private readonly side = new Map<number, number>();
  counts: NetworkCounts = zero();

  constructor(
    private readonly clock: Clock,
    private readonly opts: NetworkOptions,
  ) {
    if (!(opts.loss >= 0 && opts.loss < 1)) throw new InvalidArgumentError(`loss must be in [0, 1), got ${opts.loss}`);
    if (!(opts.latencyMs >= 0) || !(opts.jitterMs >= 0)) throw new InvalidArgumentError('latency and jitter must be >= 0 ms');
  }

  static address(node: number): string {
    return `sim-${node}:7946`;
  }

  resetCounts(): void {
    this.counts = zero();
  }

  endpoint(node: number, onDatagram: (d: Datagram) => void): DatagramEndpoint {
    const address = SimNetwork.address(node);
    const wire = this.opts.wire;
    const port: Port = {
      node,
      onDatagram,
      decode: wire && cachingDecoder(wire.job, wire.secret),
      encode: wire && cachingEncoder(wire.job, wire.secret),
    };
    this.ports.set(address, port);
    return {
      address,
      send: (to, d) => this.send(port, to, d),
      close: () => {
        if (this.ports.get(address) === port) this.ports.delete(address);
      },
    };
  }

  /**
   * What a program's heartbeat thread sends its own FMS: loopback, so neither lost nor cut, and
   * not counted as network load; delivered on a later timer turn like any datagram.
   */
  local(node: number, to: string, d: Datagram): void {
    if (this.crashed.has(node)) return;
    this.counts.local++;
    this.clock.setTimeout(() => {
      const port = this.ports.get(to);
      if (port && !this.crashed.has(port.node)) port.onDatagram(d);
    }, 0);
  }

  /** The node is gone: nothing leaves it or reaches it any more. */
  crash(node: number): void {
    this.crashed.add(node);
  }

  /** `nodes` hear only one another until heal(id). */
  partition(id: number, nodes: readonly number[]): void {
    if (id === 0) throw new InvalidArgumentError('partition id 0 is the main side');
    for (const n of nodes) this.side.set(n, id);
  }

  heal(id: number): void {
    for (const [n, s] of this.side) if (s === id) this.side.delete(n);
  }

  /** Whether `from` and `to` are on different sides of a partition (none: nobody is cut off). */
  private cutOff(from: number, to: Port | undefined): boolean {
    if (this.side.size === 0 || to === undefined) return false;
    return (this.side.get(from) ?? 0) !== (this.side.get(to.node) ?? 0);
  }

  private send(from: Port, to: string, d: Datagram): void {
    if (this.crashed.has(from.node)) return;
    this.counts.sent++;
    let packet: Buffer | undefined;
    if (from.encode) {
      packet = from.encode(d);
      this.counts.bytes += packet.length;
    }
    const { loss, latencyMs, jitterMs, rng } = this.opts;
    if (this.cutOff(from.node, this.ports.get(to))) {
      this.counts.cut++;
      return;
    }
    if (loss > 0 && rng() < loss) {
      this.counts.lost++;
      return;
    }
    const delay = latencyMs + (jitterMs > 0 ? rng() * jitterMs : 0);
    this.clock.setTimeout(() => {
      const port = this.ports.get(to);
      // A datagram already in flight when its sender crashed still arrives.
      if (!port || this.crashed.has(port.node)) {
        this.counts.dead++;
        return;
      }
      // Judged again on arrival: a datagram in flight when the link is cut is lost.
      if (this.cutOff(from.node, port)) {
        this.counts.cut++;
        return;
      }
      this.counts.delivered++;
      port.onDatagram(packet && port.decode ? port.decode(packet) : d);
    }, delay);
  }
}

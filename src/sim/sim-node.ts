import { Fms, type FmsConfig, type FmsDeps, type FmsEvent } from '../fms/fms.js';
import type { Datagram } from '../protocol/datagram.js';
import type { MemoryStore } from '../store/memory-store.js';
import type { WatchEvent } from '../store/store.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { SimNetwork } from './sim-network.js';
import { SimProgram, type SimProgramTiming } from './sim-program.js';
import { NodeStore, type StoreCounts } from './sim-store.js';

/**
 * One node's view of the cluster's clock: the same time and timers, except that once the node
 * has crashed none of its timers fire and nothing it defers runs. A crashed process does nothing.
 */
class NodeClock implements Clock {
  alive = true;
  constructor(private readonly shared: Clock) {}
  now(): number {
    return this.shared.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.shared.setTimeout(() => {
      if (this.alive) fn();
    }, ms);
  }
  clearTimeout(handle: TimerHandle): void {
    this.shared.clearTimeout(handle);
  }
  defer(fn: () => void): void {
    this.shared.defer(() => {
      if (this.alive) fn();
    });
  }
}

export interface SimNodeWorld {
  clock: Clock;
  network: SimNetwork;
  store: MemoryStore;
  storeCounts(): StoreCounts;
  timing: SimProgramTiming;
  /** The run's seeded random source. */
  rng(): number;
  /** An event the node's FMS logged, at the simulated time it happened. */
  onEvent(node: number, e: FmsEvent, at: number): void;
  /** A store watch event delivered to (and handled by) the node's FMS. */
  onDelivered(node: number, ev: WatchEvent): void;
}

/**
 * A node of the simulated cluster: the real Fms class (fms/fms.ts) with its store, datagram
 * endpoint and program supplied by the simulator (FmsDeps), on the simulator's clock.
 */
export class SimNode {
  readonly fms: Fms;
  private readonly clock: NodeClock;
  private readonly store: NodeStore;
  program: SimProgram | undefined;
  crashedAt: number | undefined;

  constructor(
    readonly node: number,
    cfg: FmsConfig,
    private readonly world: SimNodeWorld,
  ) {
    this.clock = new NodeClock(world.clock);
    this.store = new NodeStore(world.store, world.storeCounts, (ev) => world.onDelivered(node, ev));
    const deps: FmsDeps = {
      openStore: () => Promise.resolve(this.store),
      openEndpoint: (o) => Promise.resolve(world.network.endpoint(node, o.onDatagram)),
      startProgram: () => {
        // One frozen datagram per program, sent at every beat: what the UDP endpoint's decoder
        // hands the FMS too (protocol/datagram.ts caches a heartbeat's packet and its datagram).
        let beat: Datagram | undefined;
        this.program = new SimProgram(
          this.clock,
          world.timing,
          (to, pid) => {
            if (beat?.type !== 'program_heartbeat' || beat.pid !== pid) beat = Object.freeze({ type: 'program_heartbeat', node, pid });
            world.network.local(node, to, beat);
          },
          world.rng,
        );
        return this.program;
      },
    };
    const hooks = {
      event: (e: FmsEvent) => world.onEvent(node, e, world.clock.now()),
      progress: () => undefined,
      finished: () => undefined,
    };
    this.fms = new Fms(cfg, hooks, this.clock, deps);
  }

  get alive(): boolean {
    return this.crashedAt === undefined;
  }

  start(): Promise<void> {
    return this.fms.start();
  }

  /** The node's machine dies: FMS and program vanish at once, mid-whatever they were doing. */
  crash(): void {
    if (this.crashedAt !== undefined) return;
    this.crashedAt = this.world.clock.now();
    this.clock.alive = false;
    this.world.network.crash(this.node);
    this.store.kill();
    if (this.program) this.program.running = false;
  }
}

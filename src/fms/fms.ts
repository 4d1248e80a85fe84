import type { FmsEventName, LogEvent, NodeEventFields } from '../protocol/events.js';
import type { Store } from '../store/store.js';
import { openStore } from '../store/open-store.js';
import { realClock, type Clock } from '../util/clock.js';
import { isLegalMove, type Moves } from '../util/state-moves.js';
import type { Datagram } from '../protocol/datagram.js';
import { openDatagramEndpoint, type DatagramEndpoint } from './datagram-endpoint.js';
import { FmsState, type Emit, type FmsConfig, type FmsHooks, type ProgramHandle } from './fms-shared.js';
import { MembershipReactor } from './membership-reactor.js';
import { PeerWatch } from './peer-watch.js';
import { ProgramProcess } from './program-process.js';
import { ProgramSupervisor } from './program-supervisor.js';
import { StragglerWatch } from './straggler-watch.js';
import { EventLoopStallMeter, SteadyMeter, type StallMeter } from './stall-meter.js';

export { FmsState } from './fms-shared.js';
export type { FmsConfig, FmsEvent, FmsHooks, ProgramHandle } from './fms-shared.js';

/**
 * The FMS's moves (util/state-moves.ts; a refused one is logged as fms_error). A fenced node
 * has left the job for good and may only stop; a stopped one is done with everything. Anything
 * else may follow anything: recoveries overlap, and a spare or a finished node is still told of
 * every generation.
 */
const FMS_MOVES: Moves<FmsState> = {
  [FmsState.Starting]: [FmsState.Spare, FmsState.Running, FmsState.Recovering, FmsState.Fenced, FmsState.Done, FmsState.Stopped],
  [FmsState.Spare]: [FmsState.Spare, FmsState.Running, FmsState.Recovering, FmsState.Fenced, FmsState.Done, FmsState.Stopped],
  [FmsState.Running]: [FmsState.Running, FmsState.Recovering, FmsState.Spare, FmsState.Fenced, FmsState.Done, FmsState.Stopped],
  [FmsState.Recovering]: [FmsState.Recovering, FmsState.Running, FmsState.Spare, FmsState.Fenced, FmsState.Done, FmsState.Stopped],
  [FmsState.Done]: [FmsState.Done, FmsState.Recovering, FmsState.Running, FmsState.Fenced, FmsState.Stopped],
  [FmsState.Fenced]: [FmsState.Stopped],
  [FmsState.Stopped]: [],
};

/** Everything an FMS reaches outside itself, passed in so that a test can supply its own. */
export interface FmsDeps {
  openStore(cfg: FmsConfig): Promise<Store>;
  openEndpoint(opts: { job: string; secret: string; host: string; onDatagram(d: Datagram): void }): Promise<DatagramEndpoint>;
  startProgram(command: readonly string[], env: NodeJS.ProcessEnv): ProgramHandle;
  /** How long this process could not run lately, for its heartbeats (default: never). */
  stallMeter?(): StallMeter;
}

/** A real node: the configured store, a UDP endpoint, the program as a child process. */
export const processDeps: FmsDeps = {
  openStore: (cfg) => openStore(cfg.store, { secret: cfg.secret, access: cfg.storeAccess }),
  openEndpoint: (opts) => openDatagramEndpoint(opts),
  startProgram: (command, env) => new ProgramProcess(command, env),
  stallMeter: () => new EventLoopStallMeter(),
};

interface Parts {
  program: ProgramSupervisor;
  peers: PeerWatch;
  membership: MembershipReactor;
}

/**
 * The fault management service of one node. It supervises its own program (exit, heartbeat
 * thread), watches K other FMSes on a ring by heartbeat datagrams and confirms a silence by an
 * indirect probe, and on a fault: idles its program, reports it to the one FMS that writes the
 * next membership (compare-and-set) and, for every new generation, has the program relaunch its
 * communication proxy. It never restarts the
 * program, except in `restart` mode, which exists as the baseline to compare against.
 *
 * Each concern is a part of its own (ProgramSupervisor, PeerWatch, MembershipReactor), built
 * once the store and the datagram endpoint are open; this class wires them together, routes the
 * datagrams and owns the state.
 */
export class Fms {
  private current = FmsState.Starting;

  get state(): FmsState {
    return this.current;
  }
  private store: Store | undefined;
  private endpoint: DatagramEndpoint | undefined;
  private stall: StallMeter | undefined;
  private parts: Parts | undefined;
  private stopping = false;

  constructor(
    private readonly cfg: FmsConfig,
    private readonly hooks: FmsHooks,
    private readonly clock: Clock = realClock,
    private readonly deps: FmsDeps = processDeps,
  ) {}

  /** The one place the state changes; an illegal move is refused and logged, never made. */
  private moveTo(to: FmsState): boolean {
    if (to === this.current) return true;
    if (!isLegalMove(FMS_MOVES, this.current, to)) {
      this.emit('fms_error', { message: `refused the move from ${this.current} to ${to}` });
      return false;
    }
    this.current = to;
    return true;
  }

  private emit<N extends FmsEventName>(event: N, fields: NodeEventFields<N>, ts = Date.now()): void {
    this.hooks.event({ ts, event, node: this.cfg.node, ...fields } as LogEvent);
  }

  async start(): Promise<void> {
    const { job, secret } = this.cfg;
    // Measuring from the start: the stalls of a loaded start-up are the first the watchers should hear of.
    this.stall = this.deps.stallMeter?.() ?? new SteadyMeter();
    this.store = await this.deps.openStore(this.cfg);
    this.endpoint = await this.deps.openEndpoint({ job, secret, host: this.cfg.host, onDatagram: (d) => this.onDatagram(d) });
    const parts = this.assemble(this.store, this.endpoint);
    this.parts = parts;
    await parts.peers.register();
    parts.program.start();
    await parts.peers.start();
    await parts.membership.start();
  }

  private assemble(store: Store, endpoint: DatagramEndpoint): Parts {
    const { cfg, clock, hooks } = this;
    const emit: Emit = (event, fields, ts) => this.emit(event, fields, ts);
    const common = {
      emit,
      state: () => this.current,
      moveTo: (to: FmsState) => this.moveTo(to),
      stopping: () => this.stopping,
      record: () => membership.record,
    };
    const program: ProgramSupervisor = new ProgramSupervisor(cfg, clock, store, endpoint.address, (command, env) => this.deps.startProgram(command, env), hooks, {
      ...common,
      connected: () => membership.sendGeneration(),
      fault: (cause, detail) => peers.declareFault([cfg.node], cause, detail),
      proxyBroken: (generation, error) => peers.onProxyBroken(generation, error),
      slowdown: () => peers.healthMultiplier(),
      compute: (m) => stragglers.onCompute(m),
    });
    // A straggler is a fault of this node, declared like the others; not its program's (the
    // program is fine, only slow), so `restart` mode replaces the node too.
    const stragglers = new StragglerWatch(cfg, clock, { emit, record: () => membership.record, declare: (detail) => void peers.declareFault([cfg.node], 'slow', detail) });
    const stall = this.stall ?? new SteadyMeter();
    const peers: PeerWatch = new PeerWatch(cfg, clock, store, endpoint, hooks, {
      ...common,
      stallMs: () => stall.recentMs(),
      idle: (generation) => membership.idle(generation),
      propose: (failed, cause, programFault, generation) => membership.propose(failed, cause, programFault, generation),
      rejoin: (generation) => membership.rejoin(generation),
    });
    const membership: MembershipReactor = new MembershipReactor(cfg, store, hooks, {
      ...common,
      program,
      forget: (nodes) => peers.forget(nodes),
      silence: () => this.silence(),
    });
    return { program, peers, membership };
  }

  private onDatagram(d: Datagram): void {
    const parts = this.parts;
    // Before the parts exist nothing is watched and no record is known: a datagram changes nothing.
    if (!parts) return;
    if (d.type === 'heartbeat') parts.peers.onHeartbeat(d.node, d.stall ?? 0);
    // Our beat to the others rides on our program's (peer-watch.ts), only on one that counted.
    else if (d.type === 'program_heartbeat') {
      if (parts.program.onHeartbeat(d)) parts.peers.programBeat();
    } else if (d.type === 'fault') parts.peers.onFaultNotice(d);
    else parts.peers.onProbeDatagram(d);
  }

  /** `--chaos slow`: tells the program to compute `factor` times slower (a straggler, on purpose). */
  slowProgram(factor: number): void {
    this.parts?.program.send({ type: 'slow', factor });
  }

  /** Stops every judgement and heartbeat of ours. */
  private silence(): void {
    this.parts?.peers.silence();
    this.parts?.program.silence();
  }

  /** This FMS's own health score (Lifeguard, fms/local-health.ts): 0 while it has no evidence against itself. */
  get healthScore(): number {
    return this.parts?.peers.healthScore ?? 0;
  }

  /** Ends the program (SIGTERM, then SIGKILL) and everything of ours. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.moveTo(FmsState.Stopped);
    this.silence();
    await this.parts?.membership.stop();
    await this.parts?.program.stop(graceMs);
    this.endpoint?.close();
    this.stall?.stop();
    await this.store?.close().catch(() => undefined);
  }
}

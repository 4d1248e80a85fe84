import { JobFailedError, TimeoutError } from '../errors.js';
import type { FmsEventName, LogEvent, NodeEventFields } from '../protocol/events.js';
import type { FromProgram, ProgramConfig, ProgramStats, ToProgram } from '../sdk/ipc.js';
import type { Store, Watcher } from '../store/store.js';
import { waitForPrefix } from '../store/store.js';
import { openStore } from '../store/open-store.js';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import { openDatagramEndpoint, type Datagram, type DatagramEndpoint, type FaultCause } from './datagram.js';
import { HeartbeatMonitor } from './failure-detector.js';
import { applyFault, applyRestart, failJob, membershipUpdatedEvent, slotOf, watchMembership, type MembershipRecord, type MembershipPolicy } from './membership.js';
import { ProgramProcess, type ProgramExit } from './program-process.js';

export interface FmsConfig {
  job: string;
  node: number;
  secret: string;
  /** Store address: host:port (the embedded store) or etcd://host:port[,host:port...]. */
  store: string;
  /** Address every listening socket of this node binds to; a wildcard advertises this host's address. */
  host: string;
  command: string[];
  /** Every node of the job, members and spares. */
  nodes: number[];
  policy: MembershipPolicy;
  heartbeatMs: number;
  /** Silence after which a node or program is declared failed. */
  faultTimeoutMs: number;
  rendezvousTimeoutMs: number;
  startTimeoutMs: number;
  /** Sent verbatim to the program when it connects, with this FMS's datagram address added. */
  program: Omit<ProgramConfig, 'fms'>;
}

export enum FmsState {
  Starting = 'starting',
  Spare = 'spare',
  Running = 'running',
  Recovering = 'recovering',
  /** This node was declared failed; it has left the job. */
  Fenced = 'fenced',
  Done = 'done',
  Stopped = 'stopped',
}

/**
 * The FMS's moves. A fenced node has left the job for good and may only stop; a stopped one is
 * done with everything. Anything else may follow anything: recoveries overlap, and a spare or a
 * finished node is still told of every generation.
 */
const FMS_MOVES: Record<FmsState, readonly FmsState[]> = {
  [FmsState.Starting]: [FmsState.Spare, FmsState.Running, FmsState.Recovering, FmsState.Fenced, FmsState.Done, FmsState.Stopped],
  [FmsState.Spare]: [FmsState.Spare, FmsState.Running, FmsState.Recovering, FmsState.Fenced, FmsState.Done, FmsState.Stopped],
  [FmsState.Running]: [FmsState.Running, FmsState.Recovering, FmsState.Spare, FmsState.Fenced, FmsState.Done, FmsState.Stopped],
  [FmsState.Recovering]: [FmsState.Recovering, FmsState.Running, FmsState.Spare, FmsState.Fenced, FmsState.Done, FmsState.Stopped],
  [FmsState.Done]: [FmsState.Done, FmsState.Recovering, FmsState.Running, FmsState.Fenced, FmsState.Stopped],
  [FmsState.Fenced]: [FmsState.Stopped],
  [FmsState.Stopped]: [],
};

/** One event-log line (src/protocol/events.ts); `ts` is set where the thing happened, not where it is written. */
export type FmsEvent = LogEvent;

export interface FmsHooks {
  event(e: FmsEvent): void;
  progress(node: number, step: number, stats?: ProgramStats): void;
  /** The node's program finished successfully, or the node has left the job. */
  finished(outcome: { node: number; state: FmsState; result?: unknown }): void;
  /** About once a second: how much this FMS suspects each other node (phi accrual). */
  health?(node: number, phi: Record<string, number>): void;
}

/** How often the FMS reports its suspicion of the others (shown by the dashboard). */
const HEALTH_EVERY_MS = 1000;

/** What an FMS's program is to it: a child process in production, a fake in unit tests. */
export interface ProgramHandle {
  readonly pid: number;
  readonly running: boolean;
  send(m: ToProgram): void;
  kill(signal?: NodeJS.Signals): void;
  stop(graceMs: number): Promise<ProgramExit>;
  on(event: 'message', listener: (m: FromProgram) => void): unknown;
  on(event: 'bad', listener: (why: string) => void): unknown;
  on(event: 'exit', listener: (exit: ProgramExit) => void): unknown;
}

/** Everything an FMS reaches outside itself, passed in so that a test can supply its own. */
export interface FmsDeps {
  openStore(cfg: FmsConfig): Promise<Store>;
  openEndpoint(opts: { job: string; secret: string; host: string; onDatagram(d: Datagram): void }): Promise<DatagramEndpoint>;
  startProgram(command: readonly string[], env: NodeJS.ProcessEnv): ProgramHandle;
}

/** A real node: the configured store, a UDP endpoint, the program as a child process. */
export const processDeps: FmsDeps = {
  openStore: (cfg) => openStore(cfg.store, { secret: cfg.secret }),
  openEndpoint: (opts) => openDatagramEndpoint(opts),
  startProgram: (command, env) => new ProgramProcess(command, env),
};

const fmsKey = (job: string, node: number): string => `rollcall/${job}/fms/${node}`;
/** Written when a node's program has finished its work: its departure is not a fault. */
const doneKey = (job: string, node: number): string => `rollcall/${job}/done/${node}`;

/**
 * The fault management service of one node. It supervises its own program (exit, heartbeat
 * thread), watches every other FMS by heartbeat datagrams, and on a fault: tells the other FMSes,
 * idles its program, writes the next membership (compare-and-set; any FMS may win) and, for every
 * new generation, has the program relaunch its communication proxy. It never restarts the
 * program, except in `restart` mode, which exists as the baseline to compare against.
 */
export class Fms {
  private current = FmsState.Starting;

  get state(): FmsState {
    return this.current;
  }
  private store!: Store;
  private endpoint!: DatagramEndpoint;
  private watcher: Watcher | undefined;
  private program: ProgramHandle | undefined;
  private programConnected = false;
  private programBeating = false;
  private record: MembershipRecord | undefined;
  /** The store revision of `record`, for a compare-and-set without a read first. */
  private recordRevision = 0;
  private peers = new Map<number, string>();
  private stopBeats: (() => void) | undefined;
  private stopHealth: (() => void) | undefined;
  private readonly peerMonitor: HeartbeatMonitor;
  private programMonitor: HeartbeatMonitor | undefined;
  /** Generation whose failure we already idled the program for. */
  private idledFor = -1;
  /** Generation the program was last told to join. */
  private sentGeneration = -1;
  private result: { value: unknown } | undefined;
  private readonly declared = new Set<string>();
  private stopping = false;
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly cfg: FmsConfig,
    private readonly hooks: FmsHooks,
    private readonly clock: Clock = realClock,
    private readonly deps: FmsDeps = processDeps,
  ) {
    this.peerMonitor = new HeartbeatMonitor({
      clock,
      intervalMs: cfg.heartbeatMs,
      maxSilenceMs: cfg.faultTimeoutMs,
      onSuspect: (n, info) => void this.declareFault([n], 'heartbeat', `FMS of node ${n} silent for ${Math.round(info.silenceMs)} ms (${info.reason})`),
    });
  }

  /** The one place the state changes; an illegal move is refused and logged, never made. */
  private moveTo(to: FmsState): boolean {
    if (to === this.current) return true;
    if (!FMS_MOVES[this.current].includes(to)) {
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
    const { job, node, secret } = this.cfg;
    this.store = await this.deps.openStore(this.cfg);
    this.endpoint = await this.deps.openEndpoint({ job, secret, host: this.cfg.host, onDatagram: (d) => this.onDatagram(d) });
    await this.store.put(fmsKey(job, node), this.endpoint.address);
    this.startProgram();
    const others = this.cfg.nodes.filter((n) => n !== node);
    const kvs = await waitForPrefix(
      this.store,
      `rollcall/${job}/fms/`,
      (list) => (others.every((n) => list.has(fmsKey(job, n))) ? [...list.values()] : undefined),
      Date.now() + this.cfg.startTimeoutMs,
      (list) => new TimeoutError(`node ${node}: FMS of node(s) ${others.filter((n) => !list.has(fmsKey(job, n))).join(',')} did not register within ${this.cfg.startTimeoutMs} ms`),
    );
    for (const kv of kvs) {
      const n = Number(kv.key.slice(kv.key.lastIndexOf('/') + 1));
      if (n !== node) this.peers.set(n, kv.value);
    }
    for (const n of this.peers.keys()) this.peerMonitor.watch(n);
    this.peerMonitor.start();
    this.beat();
    this.stopBeats = this.every(this.cfg.heartbeatMs, () => this.beat());
    this.stopHealth = this.every(HEALTH_EVERY_MS, () => this.hooks.health?.(this.cfg.node, this.peerMonitor.phis()));
    this.watcher = await watchMembership(this.store, job, (ev) => {
      if (ev.kind === 'record') {
        if (ev.record.generation >= (this.record?.generation ?? -1)) this.recordRevision = ev.modRevision;
        this.onRecord(ev.record);
      }
      else if (ev.ended) this.emit('fms_error', { message: ev.error.message });
    });
  }

  /** A repeating timer on the injected clock (which unref()s real timers). */
  private every(ms: number, fn: () => void): () => void {
    let handle: TimerHandle;
    const tick = (): void => {
      handle = this.clock.setTimeout(tick, ms);
      fn();
    };
    handle = this.clock.setTimeout(tick, ms);
    return () => this.clock.clearTimeout(handle);
  }

  private beat(): void {
    for (const [n, addr] of this.peers) if (!this.record?.failed.includes(n)) this.endpoint.send(addr, { type: 'heartbeat', node: this.cfg.node });
  }

  // ---- the program ----

  private startProgram(): void {
    const env = { ...process.env, ROLLCALL_JOB: this.cfg.job, ROLLCALL_NODE: String(this.cfg.node) };
    const p = this.deps.startProgram(this.cfg.command, env);
    this.program = p;
    this.programConnected = false;
    this.programBeating = false;
    this.result = undefined;
    // On the injected clock (the real one unref()s its timers), like every other timer here.
    const startTimer = this.clock.setTimeout(() => {
      if (this.program === p && (!this.programConnected || !this.programBeating) && p.running) {
        p.kill('SIGKILL');
        void this.programBug(`program on node ${this.cfg.node} did not connect within ${this.cfg.startTimeoutMs} ms (does it call connect()?)`);
      }
    }, this.cfg.startTimeoutMs);
    p.on('message', (m) => this.onProgramMessage(p, m));
    p.on('bad', (why) => this.emit('program_error', { message: why }));
    p.on('exit', (exit) => {
      this.clock.clearTimeout(startTimer);
      this.onProgramExit(p, exit);
    });
  }

  private onProgramMessage(p: ProgramHandle, m: FromProgram): void {
    if (p !== this.program) return;
    switch (m.type) {
      case 'hello': {
        this.programConnected = true;
        p.send({ type: 'config', ...this.cfg.program, fms: this.endpoint.address });
        this.emit('program_started', { pid: p.pid, fmsPid: process.pid, generation: this.record?.generation ?? 0 });
        this.watchProgram(p);
        this.sendGeneration();
        return;
      }
      case 'warm':
        this.emit('program_warm', { pid: p.pid });
        return;
      case 'proxy_ready':
        this.emit(m.generation === 0 || this.cfg.policy === 'restart' ? 'proxy_started' : 'proxy_relaunched', { generation: m.generation, ms: m.ms });
        if (m.generation === this.record?.generation && this.state === FmsState.Recovering) this.moveTo(FmsState.Running);
        return;
      case 'resumed':
        if (m.generation > 0) {
          const redone = { ...(m.stepsRedone === undefined ? {} : { steps_redone: m.stepsRedone }), ...(m.msRedone === undefined ? {} : { ms_redone: m.msRedone }) };
          this.emit('program_resumed', { generation: m.generation, pid: p.pid, ...redone }, m.ts);
        }
        return;
      case 'event':
        this.emit(m.event, m.fields);
        return;
      case 'proxy_broken':
        this.onProxyBroken(m.generation, m.error);
        return;
      case 'progress':
        this.hooks.progress(this.cfg.node, m.step, m.stats);
        return;
      case 'result':
        this.result = { value: m.value };
        return;
      case 'closing': {
        // Its heartbeats stop now; silence from here on is an exit in progress, not a hang. But
        // it must actually exit: one that hangs on the way out is ended, keeping its result.
        this.programMonitor?.stop();
        void this.store.put(doneKey(this.cfg.job, this.cfg.node), String(p.pid)).catch(() => undefined);
        this.clock.setTimeout(() => {
          if (this.program === p && p.running) {
            this.emit('program_error', { message: `program pid ${p.pid} did not exit within ${this.cfg.startTimeoutMs} ms of closing; killed` });
            p.kill('SIGKILL');
            this.finishProgram(p);
          }
        }, this.cfg.startTimeoutMs);
        return;
      }
    }
  }

  /** Heartbeats from the program's own thread: silence means a hung (stopped, frozen) process. */
  private watchProgram(p: ProgramHandle): void {
    this.programMonitor?.stop();
    const mon = new HeartbeatMonitor({
      clock: this.clock,
      intervalMs: this.cfg.heartbeatMs,
      maxSilenceMs: this.cfg.faultTimeoutMs,
      onSuspect: (_n, info) => {
        if (this.program !== p || !p.running) return;
        // Fenced before anything else: a hung program that wakes up later must not act in a
        // generation that has moved on without it.
        p.kill('SIGKILL');
        void this.declareFault([this.cfg.node], 'heartbeat', `program pid ${p.pid} silent for ${Math.round(info.silenceMs)} ms`, true);
      },
    });
    this.programMonitor = mon;
    // Judged from its first heartbeat on: starting a thread can take a while on a loaded machine,
    // and a program that never gets that far is caught by the start timeout instead.
    mon.start();
  }

  private onProgramExit(p: ProgramHandle, exit: ProgramExit): void {
    if (p !== this.program) return;
    this.programMonitor?.stop();
    if (exit.expected || this.stopping) return;
    if (exit.signal !== null) {
      void this.declareFault([this.cfg.node], 'exit', `program pid ${p.pid} killed by ${exit.signal}`, true);
    } else if (exit.code === 0) {
      this.finishProgram(p);
    } else {
      // Exiting with an error code is the program's own decision: a bug, not a node fault.
      // Relaunching it would only repeat the bug, so the job ends with the reason.
      this.emit('program_failed', { pid: p.pid, code: exit.code });
      void this.programBug(`program on node ${this.cfg.node} exited with code ${exit.code} (a failure of the program itself, not a node fault)`);
    }
  }

  private finishProgram(p: ProgramHandle): void {
    if (this.state === FmsState.Done || !this.moveTo(FmsState.Done)) return;
    void this.store.put(doneKey(this.cfg.job, this.cfg.node), String(p.pid)).catch(() => undefined);
    this.emit('program_completed', { pid: p.pid, result: this.result?.value ?? null });
    this.hooks.finished({ node: this.cfg.node, state: this.state, result: this.result?.value ?? null });
  }

  private async programBug(reason: string): Promise<void> {
    try {
      await failJob(this.store, this.cfg.job, reason, { deadline: Date.now() + 10_000 });
    } catch (e) {
      if (!this.stopping) this.emit('fms_error', { message: `could not record the job's failure: ${(e as Error).message}` });
    }
  }

  // ---- faults ----

  /**
   * A proxy saw a peer fail (reset, silence) or could not rendezvous. The failed node's own FMS
   * usually reports first (it sees its program exit within milliseconds), so we wait one
   * heartbeat interval before blaming the node ourselves.
   */
  private onProxyBroken(generation: number, error: { failedRanks?: readonly number[]; missingRanks?: readonly number[]; message: string }): void {
    const record = this.record;
    if (!record || generation !== record.generation) return;
    const ranks = error.failedRanks ?? error.missingRanks ?? [];
    const nodes = ranks.map((r) => record.members[r]).filter((n): n is number => n !== undefined && n !== this.cfg.node);
    this.emit('proxy_broken', { generation, failed: nodes, message: error.message });
    this.idleProgram(generation);
    if (nodes.length === 0) return;
    this.clock.setTimeout(() => {
      if (this.record?.generation !== generation) return;
      void this.stillRunning(nodes).then((running) => {
        if (running.length > 0 && this.record?.generation === generation) void this.declareFault(running, 'connection', error.message);
      });
    }, this.cfg.heartbeatMs);
  }

  /** The nodes whose programs have not finished: a finished one closing its links is no fault. */
  private async stillRunning(nodes: number[]): Promise<number[]> {
    const done = await Promise.all(nodes.map((n) => this.store.get(doneKey(this.cfg.job, n)).then((kv) => kv !== undefined, () => false)));
    return nodes.filter((_, i) => !done[i]);
  }

  private onDatagram(d: Datagram): void {
    if (d.type === 'heartbeat') this.peerMonitor.heartbeat(d.node);
    else if (d.type === 'program_heartbeat') {
      if (d.node === this.cfg.node && d.pid === this.program?.pid && this.programMonitor) {
        this.programBeating = true;
        this.programMonitor.watch(d.node);
        this.programMonitor.heartbeat(d.node);
      }
    } else if (d.type === 'fault') this.onFaultNotice(d);
  }

  private onFaultNotice(d: Extract<Datagram, { type: 'fault' }>): void {
    const record = this.record;
    if (!record || d.generation < record.generation || this.state === FmsState.Fenced) return;
    if (d.failed.some((n) => record.members.includes(n))) this.idleProgram(d.generation);
    // The detector may die before it writes the membership; so we propose the same change
    // ourselves if it has not appeared shortly. The compare-and-set makes it happen once.
    this.clock.setTimeout(() => {
      if (this.record && this.record.generation <= d.generation) void this.propose(d.failed, d.cause, d.by === d.failed[0] && d.failed.length === 1, d.generation);
    }, this.cfg.heartbeatMs / 2);
  }

  /**
   * @param ownProgram the fault is this node's program (exit or hang), not the node itself: in
   * `restart` mode the node stays and every program is restarted.
   */
  private async declareFault(failed: number[], cause: FaultCause, detail: string, ownProgram = false): Promise<void> {
    const record = this.record;
    if (!record || this.stopping || this.state === FmsState.Fenced || record.failed.includes(this.cfg.node)) return;
    const fresh = failed.filter((n) => (record.members.includes(n) || record.spares.includes(n)) && !this.declared.has(`${record.generation}:${n}`));
    if (fresh.length === 0) return;
    for (const n of fresh) this.declared.add(`${record.generation}:${n}`);
    this.emit('fault_detected', { by: this.cfg.node, failed: fresh, cause, generation: record.generation, detail });
    const to: number[] = [];
    for (const [n, addr] of this.peers) {
      if (fresh.includes(n) || record.failed.includes(n)) continue;
      this.endpoint.send(addr, { type: 'fault', by: this.cfg.node, failed: fresh, cause, generation: record.generation });
      to.push(n);
    }
    this.emit('fault_notified', { by: this.cfg.node, failed: fresh, to });
    if (fresh.some((n) => record.members.includes(n)) && !fresh.includes(this.cfg.node)) this.idleProgram(record.generation);
    await this.propose(fresh, cause, ownProgram, record.generation);
  }

  private propose(failed: number[], cause: FaultCause, programFault: boolean, generation: number): Promise<void> {
    // Tracked so that stop() lets a proposal in flight finish and report, even when its own
    // write is what fenced this node.
    const p = this.proposeNow(failed, cause, programFault, generation).finally(() => this.inflight.delete(p));
    this.inflight.add(p);
    return p;
  }

  private async proposeNow(failed: number[], cause: FaultCause, programFault: boolean, generation: number): Promise<void> {
    const known = this.record && this.recordRevision > 0 ? { record: this.record, modRevision: this.recordRevision } : undefined;
    const opts = { deadline: Date.now() + this.cfg.rendezvousTimeoutMs, proposer: this.cfg.node, known };
    try {
      const res =
        this.cfg.policy === 'restart' && programFault
          ? await applyRestart(this.store, this.cfg.job, generation, opts)
          : await applyFault(this.store, this.cfg.job, failed, opts);
      if (res.bumped) this.emit('membership_updated', { ...membershipUpdatedEvent(res), by: this.cfg.node, cause });
    } catch (e) {
      if (e instanceof JobFailedError) return; // the launcher reports it from the record
      this.emit('fms_error', { message: `could not update the membership: ${(e as Error).message}` });
    }
  }

  private idleProgram(generation: number): void {
    if (this.idledFor >= generation || this.record?.members.includes(this.cfg.node) !== true) return;
    this.idledFor = generation;
    this.moveTo(FmsState.Recovering);
    if (this.programConnected) this.program?.send({ type: 'idle', generation });
    this.emit('program_idle', { generation });
  }

  // ---- membership ----

  private onRecord(record: MembershipRecord): void {
    const prev = this.record;
    if (prev && record.generation < prev.generation) return;
    this.record = record;
    for (const n of record.failed) this.peerMonitor.unwatch(n);
    if (record.state === 'failed') {
      this.moveTo(FmsState.Stopped);
      return;
    }
    const me = this.cfg.node;
    if (record.failed.includes(me)) {
      if (this.state !== FmsState.Fenced && this.moveTo(FmsState.Fenced)) {
        // Out of the job for good: a node that was declared failed must not judge the others
        // (they stop heartbeating it, so it would see them all as silent: a split brain).
        this.silence();
        this.program?.kill('SIGKILL');
        this.emit('node_fenced', { generation: record.generation });
        this.hooks.finished({ node: me, state: this.state });
      }
      return;
    }
    if (!record.members.includes(me)) {
      this.moveTo(FmsState.Spare);
      return;
    }
    if (prev && record.generation > prev.generation) {
      this.idleProgram(prev.generation);
      if (this.cfg.policy === 'restart' && this.program) {
        // The baseline: tear the program down and start it again, as torchrun does.
        this.program.kill('SIGKILL');
        this.startProgram();
        return;
      }
    }
    if (this.state !== FmsState.Done) this.moveTo(prev ? FmsState.Recovering : FmsState.Running);
    this.sendGeneration();
  }

  private sendGeneration(): void {
    const record = this.record;
    if (!record || !this.programConnected || record.state !== 'running' || record.generation <= this.sentGeneration) return;
    const rank = record.members.indexOf(this.cfg.node);
    if (rank < 0) return;
    this.sentGeneration = record.generation;
    this.program?.send({ type: 'generation', generation: record.generation, rank, world: record.members.length, members: record.members, slot: slotOf(record, this.cfg.node) });
  }

  /** Stops every judgement and heartbeat of ours. */
  private silence(): void {
    this.peerMonitor.stop();
    this.programMonitor?.stop();
    this.stopBeats?.();
    this.stopBeats = undefined;
    this.stopHealth?.();
    this.stopHealth = undefined;
  }

  /** Ends the program (SIGTERM, then SIGKILL) and everything of ours. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.moveTo(FmsState.Stopped);
    this.silence();
    this.watcher?.close();
    await Promise.all([...this.inflight]);
    await this.program?.stop(graceMs);
    this.endpoint?.close();
    await this.store?.close().catch(() => undefined);
  }
}

import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Collectives } from '../comm/communicator.js';
import { dtypeOf, type NumericArray, type ReduceOp } from '../comm/dtype.js';
import { loadCpuYield } from '../comm/cpu-yield.js';
import {
  AbortedError,
  ClosedError,
  CorruptionDetectedError,
  CorruptionUnresolvedError,
  NoCommonStateError,
  InvalidArgumentError,
  MembershipChangedError,
  PeerFailedError,
  RollcallError,
  TimeoutError,
} from '../errors.js';
import { encodeDatagram, type HeartbeatThreadConfig } from '../protocol/datagram.js';
import { serializeError } from '../protocol/error-wire.js';
import { programEventMessage } from '../protocol/program-events.js';
import { IPC_VERSION, ToProgramSchema, newProgramStats, type FromProgram, type ProgramStats, type ToProgram } from '../protocol/program-ipc.js';
import { InlineProxy } from '../proxy/inline-proxy.js';
import { NodeListener } from '../proxy/node-listener.js';
import { ThreadPort } from '../proxy/thread-port.js';
import { openStore } from '../store/open-store.js';
import { ProxyHandle } from '../proxy/proxy-handle.js';
import { ProxyState, type CommProxy } from '../proxy/proxy.js';
import { deadlineIn, retryUntil } from '../util/deadline.js';
import { isLegalMove, type Moves } from '../util/state-moves.js';

/** How often progress carries the program's running totals. */
const STATS_EVERY_MS = 1000;
import { REPLICA_BASE } from '../state/replica-cadence.js';
import { replicaPeers } from '../state/replica-peers.js';
import { Keeper, State, type StateEntry, type StateHost, type StateOptions } from './state.js';
import { ComputeMeter } from './compute-meter.js';
import { StragglerExchange } from './straggler-exchange.js';
import { NO_JIT } from '../protocol/no-jit.js';

const HEARTBEAT_THREAD = fileURLToPath(new URL('./heartbeat-thread.js', import.meta.url));

export enum JobState {
  /** Started as a spare, or between start and the first generation. */
  Waiting = 'waiting',
  Running = 'running',
  /** A fault is being recovered: operations wait for the next generation. */
  Idle = 'idle',
  Closed = 'closed',
}

/**
 * Waiting until the first generation is joined, then running, idle while a fault is recovered,
 * running again in the next generation; closed from anywhere, and for good. A waiting spare is
 * not idled (it has no generation to leave).
 */
export const JOB_MOVES: Moves<JobState> = {
  [JobState.Waiting]: [JobState.Running, JobState.Closed],
  [JobState.Running]: [JobState.Idle, JobState.Closed],
  [JobState.Idle]: [JobState.Running, JobState.Closed],
  [JobState.Closed]: [],
};

type Config = Extract<ToProgram, { type: 'config' }>;

/** Registered states: `--chaos corrupt:...` flips a bit in one of them. */
const chaosTargets: { corruptNextCommit(): void }[] = [];
let chaosListening = false;

/**
 * Chaos: the launcher signals SIGUSR2 for `corrupt:node=N@...` (once the program said hello, so
 * after this handler is in place); the next commit has one bit of its replicated state flipped
 * (State.corruptNextCommit).
 */
function listenForChaos(): void {
  if (chaosListening) return;
  chaosListening = true;
  process.on('SIGUSR2', () => {
    for (const s of chaosTargets) s.corruptNextCommit();
  });
}

let uncaughtReported = false;

/**
 * Tells the FMS which error is ending the process, before Node prints it and exits 1: the job's
 * failure then names it ("unhandled MembershipChangedError") instead of only "exited with code
 * 1". A monitor only watches: the program's own handlers, and Node's exit, are unchanged.
 */
function reportUncaught(): void {
  if (uncaughtReported) return;
  uncaughtReported = true;
  process.on('uncaughtExceptionMonitor', (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    send({ type: 'uncaught', name: e.name, ...(err instanceof RollcallError ? { code: err.code } : {}), message: e.message });
  });
}

export interface ConnectOptions {
  /** How long to wait for the FMS's configuration (default 30 s). */
  timeoutMs?: number;
}

/**
 * Joins the job this process was started in by `rollcall launch`. Resolves once the program is a
 * member of a generation: at once for a first member, and only when it is brought in for a spare.
 */
export async function connect(opts: ConnectOptions = {}): Promise<Job> {
  if (typeof process.send !== 'function') {
    throw new InvalidArgumentError('no Rollcall FMS to talk to: start this program with `rollcall launch -- <command>`');
  }
  listenForChaos();
  reportUncaught();
  const config = await new Promise<Config>((resolve, reject) => {
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      reject(new TimeoutError(`no configuration from the FMS within ${opts.timeoutMs ?? 30_000} ms`));
    }, opts.timeoutMs ?? 30_000);
    const onMessage = (raw: unknown): void => {
      const m = ToProgramSchema.safeParse(raw, NO_JIT);
      if (m.success && m.data.type === 'config') {
        clearTimeout(timer);
        process.off('message', onMessage);
        resolve(m.data);
      }
    };
    process.on('message', onMessage);
    send({ type: 'hello', pid: process.pid, version: IPC_VERSION });
  });
  const job = new Job(config);
  await job.started;
  return job;
}

function send(m: FromProgram): void {
  // A closed channel means the FMS is gone; the 'disconnect' handler ends the process. The
  // callback keeps a channel closing under the write from being an uncaught EPIPE. Not parsed
  // here: the type says what goes out, and the FMS parses what comes in (fms/program-process.ts);
  // parsing it twice cost every program a tenth of its CPU in a recovery (util/no-jit.ts).
  if (process.connected) process.send?.(m, undefined, {}, () => undefined);
}

/**
 * The program's view of the job: its rank, world size and generation, and the collectives, each
 * carried out by the node's communication proxy. During a recovery, operations wait (the program
 * is idle); when the membership has changed, the first operation afterwards rejects with
 * MembershipChangedError so the program can resynchronise, then operations go on.
 */
export class Job implements Collectives {
  readonly job: string;
  readonly node: number;
  /** Read through `state`; changed only by moveTo(). */
  private jobState = JobState.Waiting;
  /** This node's place in the generation it has joined: set only when it joins one, read through the getters. */
  private place: { generation: number; rank: number; world: number; members: readonly number[]; slot: number } = { generation: -1, rank: -1, world: 0, members: [], slot: -1 };
  get generation(): number {
    return this.place.generation;
  }
  get rank(): number {
    return this.place.rank;
  }
  get world(): number {
    return this.place.world;
  }
  /** Node ids in rank order, in this generation. */
  get members(): readonly number[] {
    return this.place.members;
  }
  /** Whose state this node holds (see the glossary's "slot"): its own id, or the replaced node's. */
  get slot(): number {
    return this.place.slot;
  }

  /** Resolves when the first generation is joined. */
  readonly started: Promise<void>;
  private resolveStarted!: () => void;
  private proxy: CommProxy | undefined;
  /** A proxy joining a generation; ended at once if a newer generation or close() overtakes it. */
  private activating: CommProxy | undefined;
  private standby: Promise<CommProxy> | undefined;
  /** Newest generation the FMS asked for; a slower switch to an older one gives up. */
  private target = -1;
  /** Generation the program has been told about (by MembershipChangedError or by connect()). */
  private acked = -1;
  private reportedResume = -1;
  /** With registered state the program resumes after the rollback, which reports it itself. */
  private manualResume = false;
  private keeper: Keeper | undefined;
  private waiters: (() => void)[] = [];
  private readonly heartbeat: Worker;
  /**
   * This node's one listening address for the program's life, published once at its start, a
   * spare's too: every generation's communicator is built on it, so a recovery writes nothing to
   * the store. Inline proxies share one listener; thread proxies bind the node's port again, each
   * in its own thread (ThreadPort).
   */
  private listener: Promise<NodeListener | ThreadPort> | undefined;
  /** Spares in the newest generation's record. */
  private spares = 0;
  /** Aborted by close(): a listener still being retried gives up, so closing does not wait out the start deadline. */
  private readonly closing = new AbortController();

  constructor(private readonly config: Config) {
    this.job = config.job;
    this.node = config.node;
    this.started = new Promise((resolve) => (this.resolveStarted = resolve));
    this.stragglers = new StragglerExchange(config.stragglerExchangeMs, {
      generationOf: () => this.generation,
      exchange: (buf, op) => this.exchange(buf, op),
      computeMs: () => this.meter.totalMs,
      now: () => performance.now(),
      report: (m) => send({ type: 'compute', ...m }),
    });
    this.heartbeat = new Worker(HEARTBEAT_THREAD, {
      workerData: {
        packet: encodeDatagram(config.job, config.secret, { type: 'program_heartbeat', node: config.node, pid: process.pid }),
        fms: config.fms,
        intervalMs: config.heartbeatMs,
      } satisfies HeartbeatThreadConfig,
    });
    this.heartbeat.unref();
    process.on('message', (raw: unknown) => this.onMessage(raw));
    // Without its FMS this node is gone from the job; lingering would leave an orphan.
    process.on('disconnect', () => process.exit(70));
    // The channel must not keep a finished program alive.
    (process.channel as { unref?: () => void } | undefined)?.unref?.();
    this.startKeeper();
    // The standby opens the node's listener (published at once, a spare's too).
    this.refillStandby(() => send({ type: 'warm' }));
  }

  /** JOB_MOVES. */
  get state(): JobState {
    return this.jobState;
  }

  /**
   * The one place the state changes; an illegal move is refused, never made, and reported in
   * the job's event log (program_error), where a person reading why a program misbehaved looks.
   */
  private moveTo(to: JobState): boolean {
    if (!isLegalMove(JOB_MOVES, this.jobState, to)) {
      send(programEventMessage('program_error', { message: `job: refused the move from ${this.jobState} to ${to}` }));
      return false;
    }
    this.jobState = to;
    return true;
  }

  /** Reports the program's progress (its step): shown live and used by `--chaos ...@step=N`. */
  progress(step: number): void {
    if (!Number.isInteger(step) || step < 0) throw new InvalidArgumentError(`step must be a non-negative integer, got ${step}`);
    const now = performance.now();
    if (now - this.statsSentAt < STATS_EVERY_MS) return send({ type: 'progress', step });
    this.statsSentAt = now;
    this.stats.computeSeconds = this.meter.totalMs / 1000;
    send({ type: 'progress', step, stats: { ...this.stats } });
  }

  /** Running totals for the launcher's /metrics: counted here, sent with progress. */
  readonly stats: ProgramStats = newProgramStats();
  private statsSentAt = -Infinity;
  /** The program's compute time, between its operations: op() feeds it. */
  private readonly meter = new ComputeMeter();
  /** Compute times exchanged among the members, for the straggler rule; driven by the state's commits. */
  private readonly stragglers: StragglerExchange;

  /** The program's result, logged in `job_completed`; call it once, before exiting. */
  result(value: unknown): void {
    send({ type: 'result', value: JSON.parse(JSON.stringify(value ?? null)) as unknown });
  }

  allreduce<T extends NumericArray>(buf: T, op: ReduceOp = 'sum'): Promise<T> {
    const t0 = performance.now();
    return this.op((p) => p.allreduce(buf, op)).then((r) => {
      this.stats.allreduceBytes += buf.byteLength;
      this.stats.allreduceSeconds += (performance.now() - t0) / 1000;
      return r;
    });
  }

  broadcast<T extends NumericArray>(buf: T, root = 0): Promise<T> {
    return this.op((p) => p.broadcast(buf, root));
  }

  barrier(): Promise<void> {
    return this.op((p) => p.barrier());
  }

  /** Every member's `input` into `output` (world × input.length elements, rank order; allocated if not given). */
  allgather<T extends NumericArray>(input: T, output?: T): Promise<T> {
    return this.op((p) => {
      // Sized when the operation runs: the world it runs in is the one it was issued in (op()).
      const out = output ?? new (input.constructor as new (n: number) => T)(input.length * this.world);
      if (dtypeOf(out) !== dtypeOf(input) || out.length !== input.length * this.world) {
        throw new InvalidArgumentError(`allgather output must be a ${dtypeOf(input)} array of ${input.length * this.world} elements (world ${this.world} × ${input.length})`, { rank: this.rank });
      }
      return p.allgather(input, out);
    });
  }

  /** Resolves once the data no longer needs `buf` (as Communicator.send). */
  send(buf: NumericArray, to: number, opts: { tag?: number } = {}): Promise<void> {
    return this.op((p) => p.send(buf, to, opts.tag ?? 0)).then(() => undefined);
  }

  recv<T extends NumericArray>(buf: T, from: number, opts: { tag?: number } = {}): Promise<T> {
    return this.op((p) => p.recv(buf, from, opts.tag ?? 0));
  }

  /**
   * Registers the program's state: typed arrays and JSON values. Commit it at consistent points
   * with `state.commit()`; `run()` rolls every member back to the newest common version after a
   * fault.
   */
  registerState<T extends Record<string, StateEntry>>(values: T, options: StateOptions = {}): State<T> {
    const state = new State(values, this.stateHost(), this.startKeeper(), options);
    chaosTargets.push(state);
    return state;
  }

  /** Started with the job, like the standby proxy: a spare must not pay for it when it joins. */
  private startKeeper(): Keeper {
    const c = this.config;
    this.keeper ??= new Keeper(
      // Time-chosen replicas start on a multiple of a fixed version interval: evenly spaced versions.
      { job: c.job, secret: c.secret, node: c.node, store: c.store, storeAccess: c.storeAccess, host: c.host, stateDir: c.stateDir, keep: c.keep, persistEvery: c.persistEvery, base: c.replicateEvery ?? REPLICA_BASE * (c.versionEvery ?? 1) },
      {
        targetMs: c.replicateEvery === null ? c.replicateMs : undefined,
        versionMs: c.versionEvery === null ? c.versionMs : undefined,
        versionEvery: c.versionEvery ?? 1,
      },
      (m) => send(m),
      this.stats,
    );
    return this.keeper;
  }

  /**
   * Runs the program's loop, in the spirit of Horovod's elastic.run but in place: on a
   * membership change every member rolls back to the newest common version and the loop is
   * entered again, in the same process. The loop should continue from `state.step`.
   */
  async run<T extends Record<string, StateEntry>>(state: State<T>, loop: (state: State<T>) => Promise<void>): Promise<void> {
    this.manualResume = true;
    for (;;) {
      try {
        await state.sync();
        await loop(state);
        return;
      } catch (e) {
        if (e instanceof MembershipChangedError || e instanceof CorruptionDetectedError) continue;
        // The FMS sees only the exit code; the log should say why.
        if (e instanceof RollcallError) send({ type: 'event', event: 'program_error', fields: { code: e.code, message: e.message } });
        // Not the program's failure: the job's, with the way to go on from what is on disk.
        if (e instanceof NoCommonStateError || e instanceof CorruptionUnresolvedError) {
          const dir = this.config.stateDir;
          send({ type: 'job_failed', reason: `${e.message}. The job cannot continue; its state is kept in ${dir}: rerun with --resume ${dir} to continue from the newest version every node has on disk` });
        }
        throw e;
      }
    }
  }

  private stateHost(): StateHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const job = this;
    return {
      get node() {
        return job.node;
      },
      get generation() {
        return job.generation;
      },
      get rank() {
        return job.rank;
      },
      get slot() {
        return job.slot;
      },
      get world() {
        return job.world;
      },
      get buddies() {
        return replicaPeers(job.members, job.rank, job.config.replicas);
      },
      verifyEvery: this.config.verifyEvery ?? undefined,
      get spares() {
        return job.spares;
      },
      failCorrupt: (detail) => job.failCorrupt(detail),
      allreduce: (buf, op) => job.allreduce(buf, op),
      exchange: (buf, op) => job.exchange(buf, op),
      committed: (version) => job.stragglers.committed(version),
      synced: (version) => job.stragglers.restart(version),
      now: () => performance.now(),
      report: (event, fields) => send(programEventMessage(event, fields)),
      stats: job.stats,
      resumed: (generation, stepsRedone, msRedone) => job.onResumed(generation, stepsRedone, msRedone),
    };
  }

  /**
   * An allreduce of Rollcall's own, issued between the program's operations at the same point on
   * every member: not retried, and it never takes the MembershipChangedError that tells the
   * program of a new generation (that one is for the program's next operation, which starts the
   * rollback). After a fault it rejects, and so does the program's next operation on the broken
   * communicator, which hands the fault to the FMS.
   */
  private exchange(buf: Float64Array, op: 'max' | 'sum'): Promise<Float64Array> {
    const proxy = this.proxy;
    if (this.jobState !== JobState.Running || !proxy || this.acked !== this.generation) {
      return Promise.reject(new MembershipChangedError(this.generation, this.rank, this.world, { node: this.node }));
    }
    return proxy.allreduce(buf, op);
  }

  /**
   * Asks the FMS to fail this node (cause `corruption`): it kills this process. Waits for that,
   * with a deadline: an FMS that does not answer leaves a program that cannot go on.
   */
  private failCorrupt(detail: string): Promise<never> {
    send({ type: 'fault', cause: 'corruption', detail });
    const ms = this.config.recoveryTimeoutMs;
    return new Promise((_, reject) => {
      setTimeout(() => reject(new TimeoutError(`node ${this.node}: declared corrupt, but not stopped by its FMS within ${ms} ms`, { node: this.node })), ms);
    });
  }

  /** Ends the program's part in the job; the process can then exit. */
  async close(): Promise<void> {
    if (this.jobState === JobState.Closed || !this.moveTo(JobState.Closed)) return;
    this.closing.abort();
    send({ type: 'closing' });
    this.wake();
    const activating = this.activating;
    this.activating = undefined;
    const active = this.proxy;
    const proxies = [activating, await this.standby?.catch(() => undefined)];
    this.proxy = undefined;
    this.standby = undefined;
    await Promise.all([active?.close(), ...proxies.map((p) => p?.terminate())]);
    const listener = await this.listener?.catch(() => undefined);
    listener?.close();
    await listener?.store.close();
    await this.keeper?.terminate();
    await this.heartbeat.terminate();
  }

  private async op<T>(run: (p: CommProxy) => Promise<T>): Promise<T> {
    // An operation belongs to the generation it was issued in. Carried over a membership change
    // (several sends and receives pending at once), a receive would take a message meant for
    // a later one; so every operation issued before the change fails, not only the first.
    const issuedIn = this.generation;
    this.meter.begin();
    try {
      return await this.opIn(issuedIn, run);
    } finally {
      this.meter.end();
    }
  }

  private async opIn<T>(issuedIn: number, run: (p: CommProxy) => Promise<T>): Promise<T> {
    for (;;) {
      if (this.jobState === JobState.Closed) throw new ClosedError('job is closed', { node: this.node });
      if (this.jobState !== JobState.Running) await this.waitRunning();
      if (this.acked !== this.generation || (issuedIn >= 0 && issuedIn !== this.generation)) {
        this.acked = this.generation;
        throw new MembershipChangedError(this.generation, this.rank, this.world, { node: this.node });
      }
      const proxy = this.proxy as CommProxy;
      const generation = this.generation;
      if (this.reportedResume < generation && !this.manualResume) this.onResumed(generation);
      try {
        return await run(proxy);
      } catch (e) {
        // A fault under this operation: the proxy died or its communicator broke. That is the
        // FMS's business; the program waits for the next generation instead of failing.
        const lost = proxy !== this.proxy || proxy.state === ProxyState.Broken || proxy.state === ProxyState.Closed;
        if (e instanceof PeerFailedError || (e instanceof ClosedError && lost)) {
          if (proxy === this.proxy) this.onBroken(generation, e);
          continue;
        }
        throw e;
      }
    }
  }

  private waitRunning(): Promise<void> {
    const ms = this.config.recoveryTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new TimeoutError(`node ${this.node}: no recovery within ${ms} ms`, { node: this.node }));
      }, ms);
      timer.unref();
      const done = (): void => {
        clearTimeout(timer);
        if (this.jobState === JobState.Closed) reject(new ClosedError('job is closed', { node: this.node }));
        else resolve();
      };
      this.waiters.push(done);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private onMessage(raw: unknown): void {
    const parsed = ToProgramSchema.safeParse(raw, NO_JIT);
    if (!parsed.success) return;
    const m = parsed.data;
    if (m.type === 'idle') this.enterIdle();
    else if (m.type === 'spare') this.readySpare();
    else if (m.type === 'generation') {
      this.spares = m.spares ?? 0;
      void this.switchTo(m.generation, m.rank, m.world, m.members, m.slot).then(() => this.readAhead(m.generation, m.spareNodes ?? []));
    }
    else if (m.type === 'slow') this.meter.slowBy(m.factor);
  }

  /**
   * Waiting as a spare: what joining would otherwise do on the recovery path is done now, on
   * an idle program (docs/benchmarks.md, "A spare's relaunch"): the other nodes' addresses
   * followed, and the CPU yield a polling rank may use loaded.
   */
  private readySpare(): void {
    void this.listener?.then((l) => l.followAddresses(), () => undefined);
    // A thread proxy loads its own, in its thread.
    if (this.config.proxy === 'inline') void loadCpuYield();
  }

  /**
   * The spares' addresses read while the generation runs (once each: the book keeps them), so
   * that when one is brought in, this member's new roster is at hand: read at the recovery, it
   * was the largest part of a 32-node recovery's wait (docs/benchmarks.md, "Links kept across
   * generations, spares' addresses read ahead").
   */
  private readAhead(generation: number, spares: readonly number[]): void {
    if (spares.length === 0 || this.generation !== generation || this.jobState !== JobState.Running) return;
    const deadline = deadlineIn(this.config.startTimeoutMs);
    void this.listener?.then((l) => l.book.roster(spares, deadline, this.closing.signal)).catch(() => undefined);
  }

  private enterIdle(): void {
    if (this.jobState === JobState.Closed) return;
    if (this.jobState === JobState.Running) this.moveTo(JobState.Idle);
    // Ended at once: operations stuck on a dead or stopped peer return now, not at the
    // communicator's timeout, and wait for the new generation instead.
    const p = this.proxy;
    this.proxy = undefined;
    void p?.terminate();
  }

  private onBroken(generation: number, err: RollcallError): void {
    if (generation !== this.generation || this.jobState === JobState.Closed) return;
    this.enterIdle();
    send({ type: 'proxy_broken', generation, error: serializeError(err) });
  }

  private async switchTo(generation: number, rank: number, world: number, members: number[], slot: number): Promise<void> {
    if (generation <= this.target || this.jobState === JobState.Closed) return;
    this.target = generation;
    this.enterIdle();
    const superseded = this.activating;
    this.activating = undefined;
    void superseded?.terminate();
    let proxy: CommProxy | undefined;
    try {
      proxy = await this.takeStandby();
      if (this.target !== generation || (this.jobState as JobState) === JobState.Closed) return void proxy.terminate();
      this.activating = proxy;
      const c = this.config;
      // In generation 0 every program is still starting (loading its data, on a busy machine,
      // hosts arriving one by one), so a member not there yet is late, not failed: it has the
      // start-up deadline. A later rendezvous is among warm programs and must be quick, because
      // a member missing then is a fault to recover from.
      const rdvMs = generation === 0 ? Math.max(c.rendezvousTimeoutMs, c.startTimeoutMs) : c.rendezvousTimeoutMs;
      const ms = await proxy.activate(
        { store: c.store, storeAccess: c.storeAccess, secret: c.secret, job: c.job, generation, rank, world, members, rendezvousTimeoutMs: rdvMs, host: c.host, tuning: { timeoutMs: this.commTimeoutMs() } },
        rdvMs + 1000,
      );
      if (this.activating === proxy) this.activating = undefined;
      if (this.target !== generation || (this.jobState as JobState) === JobState.Closed) return void proxy.terminate();
      this.proxy = proxy;
      proxy.on('broken', (err) => this.onBroken(generation, err));
      this.place = { generation, rank, world, members: [...members], slot };
      if (this.acked < 0) this.acked = generation;
      this.moveTo(JobState.Running);
      send({ type: 'proxy_ready', generation, ms });
      this.wake();
      this.resolveStarted();
    } catch (e) {
      if (this.activating === proxy) this.activating = undefined;
      void proxy?.terminate();
      if (this.target === generation && !(e instanceof AbortedError)) send({ type: 'proxy_broken', generation, error: serializeError(e) });
    }
  }

  /**
   * An inline proxy cannot answer its peers' pings while the program computes, so a long step
   * (an evaluation on one rank, say) would look like silence to ranks waiting on it. Liveness
   * is the FMS's job in both modes, judged from the program's own heartbeat thread; the
   * communicator's silence timeout only backs it up where it cannot misfire. A wait on a
   * stopped peer still ends: its FMS is declared failed and this proxy is terminated.
   */
  private commTimeoutMs(): number {
    return this.config.proxy === 'inline' ? 2 ** 31 - 1 : this.config.commTimeoutMs;
  }

  private takeStandby(): Promise<CommProxy> {
    const s = this.standby ?? this.startStandby();
    this.standby = undefined;
    return s;
  }

  /**
   * The node's listener, retried until the start deadline: at a job's start the store may be too
   * busy to answer one request in time (sixteen hosts starting on two cores: seen), and a node
   * that gave up then could never join any generation.
   */
  private openListener(): Promise<NodeListener | ThreadPort> {
    const c = this.config;
    return retryUntil(async () => {
      const store = await openStore(c.store, { secret: c.secret, access: c.storeAccess, requestTimeoutMs: c.rendezvousTimeoutMs });
      const opened =
        c.proxy === 'inline'
          ? // Its Unix domain socket goes under the state directory, which a launcher removes at the end.
            NodeListener.open({ store, job: c.job, node: c.node, host: c.host, admitWaitMs: Math.max(c.rendezvousTimeoutMs, c.startTimeoutMs), socketParent: c.stateDir })
          : ThreadPort.open({ store, job: c.job, node: c.node, host: c.host });
      return opened.catch(async (e: unknown) => {
        await store.close();
        throw e;
      });
    }, deadlineIn(c.startTimeoutMs), { signal: this.closing.signal }).then((l) => {
      const skipped = l.socketSkipped;
      send(programEventMessage('comm_listening', { address: l.address, socket: l.socketPath ?? null, ...(skipped === undefined ? {} : { no_socket: skipped }) }));
      return l;
    });
  }

  private startStandby(): Promise<CommProxy> {
    const c = this.config;
    // A listener that could not be opened is tried again for the next generation, not given up for good.
    const l = (this.listener ??= this.openListener());
    l.catch(() => {
      if (this.listener === l) this.listener = undefined;
    });
    // A thread is started ahead of need, so starting slowly is no fault: sixteen programs on two
    // cores, each starting a thread and loading the library, took more than the rendezvous
    // timeout, and every node was then failed for a proxy that "did not start". It gets the
    // start deadline, as the listener does.
    const startMs = Math.max(c.rendezvousTimeoutMs, c.startTimeoutMs);
    return l.then((n): CommProxy | Promise<CommProxy> => (n instanceof NodeListener ? InlineProxy.onNode(n) : ProxyHandle.standby(c.store, c.secret, startMs, c.storeAccess, n)));
  }

  private onResumed(generation: number, stepsRedone?: number, msRedone?: number): void {
    this.reportedResume = generation;
    send({ type: 'resumed', generation, ts: Date.now(), stepsRedone, msRedone });
    // The next standby proxy is started only now: starting one (a thread, the library loaded:
    // docs/architecture.md, "The proxy") takes CPU that a small machine would otherwise take
    // from the recovery itself.
    setImmediate(() => this.refillStandby());
  }

  private refillStandby(then?: () => void): void {
    if (this.standby || this.jobState === JobState.Closed) return;
    const s = this.startStandby();
    this.standby = s;
    s.then(then, () => {
      if (this.standby === s) this.standby = undefined;
    });
  }
}

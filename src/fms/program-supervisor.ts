import type { FromProgram, ToProgram } from '../protocol/program-ipc.js';
import type { Store } from '../store/store.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Datagram, FaultCause } from '../protocol/datagram.js';
import { HeartbeatMonitor } from './failure-detector.js';
import { doneKey, FmsState, type Emit, type FmsConfig, type FmsHooks, type FmsStateLinks, type ProgramHandle, type StartProgram } from './fms-shared.js';
import { failJob, type MembershipRecord } from './membership.js';
import type { ProgramExit } from './program-process.js';

export type ProxyBrokenError = Extract<FromProgram, { type: 'proxy_broken' }>['error'];

/**
 * How long after its hello a program's heartbeat thread may take to send its first beat: the
 * program is judged from that beat on (a thread can take a while to start on a loaded machine),
 * so a program stopped or frozen before it would otherwise be found only by the start timeout,
 * and taken for a bug. Ten fault timeouts, and at least 5 s, is far more than a thread start;
 * never more than the start timeout.
 */
export const firstBeatMs = (cfg: Pick<FmsConfig, 'faultTimeoutMs' | 'startTimeoutMs'>): number =>
  Math.min(cfg.startTimeoutMs, Math.max(5000, 10 * cfg.faultTimeoutMs));

/** What the supervisor needs from the rest of the FMS. */
export interface SupervisorLinks extends FmsStateLinks {
  emit: Emit;
  stopping(): boolean;
  /** The membership record as this node last read it. */
  record(): MembershipRecord | undefined;
  /** The program said hello and has its configuration: it can be told its generation. */
  connected(): void;
  /** The program died by a signal or stopped beating: a fault of this node. */
  fault(cause: FaultCause, detail: string): void;
  /** The program's proxy saw its communicator break in `generation`. */
  proxyBroken(generation: number, error: ProxyBrokenError): void;
  /**
   * What the program's silence is stretched by: this FMS's local health score + 1 (peer-watch.ts).
   * Evidence that this host is starved (late timers, refuted suspicions) also makes a late beat
   * of the program's thread likelier to be starvation than a hang. Default 1.
   */
  slowdown?(): number;
  /** The program's compute time per step and the members' median (fms/straggler-watch.ts). */
  compute(m: Extract<FromProgram, { type: 'compute' }>): void;
}

/**
 * The FMS's own program: starts it, answers its IPC messages, bounds its start and its closing,
 * judges its heartbeat thread and classifies its exit (a signal is a fault of this node, a
 * non-zero code a bug of the program's, zero its end).
 */
export class ProgramSupervisor {
  private program: ProgramHandle | undefined;
  private programConnected = false;
  private programBeating = false;
  /** It said it is closing: its silence from then on is an exit in progress. */
  private programClosing = false;
  private firstBeatTimer: TimerHandle | undefined;
  /** While waiting for the first beat: a look at whether the program is stopped, each fault timeout. */
  private stopTimer: TimerHandle | undefined;
  private programMonitor: HeartbeatMonitor | undefined;
  private result: { value: unknown } | undefined;
  /** The program whose completion is logged (once per program process). */
  private completed: ProgramHandle | undefined;
  /** The error the program said it is dying of (program-ipc.ts, `uncaught`). */
  private uncaught: { name: string; code?: string; message: string } | undefined;
  /** The program ended the job for a reason of the job's (program-ipc.ts, `job_failed`): its exit code then says nothing more. */
  private jobFailed: Promise<void> | undefined;

  constructor(
    private readonly cfg: FmsConfig,
    private readonly clock: Clock,
    private readonly store: Store,
    /** This FMS's datagram address: the program's heartbeat thread sends to it. */
    private readonly fmsAddress: string,
    private readonly startProgram: StartProgram,
    private readonly hooks: Pick<FmsHooks, 'progress' | 'finished' | 'spawned'>,
    private readonly links: SupervisorLinks,
  ) {}

  /** Whether the program has said hello (and so can be sent anything). */
  get connected(): boolean {
    return this.programConnected;
  }

  start(): void {
    const env = { ...process.env, ROLLCALL_JOB: this.cfg.job, ROLLCALL_NODE: String(this.cfg.node) };
    const p = this.startProgram(this.cfg.command, env);
    this.program = p;
    if (p.pid > 0) this.hooks.spawned?.(p.pid);
    this.programConnected = false;
    this.programBeating = false;
    this.programClosing = false;
    this.result = undefined;
    this.uncaught = undefined;
    this.jobFailed = undefined;
    // On the injected clock (the real one unref()s its timers), like every other timer here.
    // A program that connected but never beat is a hang, found by the first-beat deadline.
    const startTimer = this.clock.setTimeout(() => {
      if (this.program === p && !this.programConnected && p.running) {
        p.kill('SIGKILL');
        void this.programBug(`program on node ${this.cfg.node} did not connect within ${this.cfg.startTimeoutMs} ms (does it call connect()?)`);
      }
    }, this.cfg.startTimeoutMs);
    p.on('message', (m) => this.onProgramMessage(p, m));
    p.on('bad', (why) => this.links.emit('program_error', { message: why }));
    p.on('exit', (exit) => {
      this.clock.clearTimeout(startTimer);
      if (this.program === p) this.clearFirstBeat();
      this.onProgramExit(p, exit);
    });
  }

  send(m: ToProgram): void {
    this.program?.send(m);
  }

  kill(): void {
    this.program?.kill('SIGKILL');
  }

  /** Kills the program and starts it again; false if there was none. */
  restart(): boolean {
    if (!this.program) return false;
    this.program.kill('SIGKILL');
    this.start();
    return true;
  }

  /** A datagram from a program's heartbeat thread; only this program's current process counts (true). */
  onHeartbeat(d: Extract<Datagram, { type: 'program_heartbeat' }>): boolean {
    if (d.node !== this.cfg.node || d.pid !== this.program?.pid || !this.programMonitor) return false;
    this.programBeating = true;
    this.programMonitor.watch(d.node);
    this.programMonitor.heartbeat(d.node);
    return true;
  }

  silence(): void {
    this.programMonitor?.stop();
    this.clearFirstBeat();
  }

  async stop(graceMs: number): Promise<void> {
    await this.program?.stop(graceMs);
  }

  private onProgramMessage(p: ProgramHandle, m: FromProgram): void {
    if (p !== this.program) return;
    const { emit } = this.links;
    switch (m.type) {
      case 'hello': {
        this.programConnected = true;
        p.send({ type: 'config', ...this.cfg.program, fms: this.fmsAddress });
        emit('program_started', { pid: p.pid, fmsPid: process.pid, generation: this.links.record()?.generation ?? 0 });
        this.watchProgram(p);
        this.awaitFirstBeat(p);
        this.links.connected();
        return;
      }
      case 'warm':
        emit('program_warm', { pid: p.pid });
        return;
      case 'proxy_ready':
        emit(m.generation === 0 || this.cfg.policy === 'restart' ? 'proxy_started' : 'proxy_relaunched', { generation: m.generation, ms: m.ms });
        if (m.generation === this.links.record()?.generation && this.links.state() === FmsState.Recovering) this.links.moveTo(FmsState.Running);
        return;
      case 'resumed':
        if (m.generation > 0) {
          const redone = { ...(m.stepsRedone === undefined ? {} : { steps_redone: m.stepsRedone }), ...(m.msRedone === undefined ? {} : { ms_redone: m.msRedone }) };
          emit('program_resumed', { generation: m.generation, pid: p.pid, ...redone }, m.ts);
        }
        return;
      case 'event':
        emit(m.event, m.fields);
        return;
      case 'proxy_broken':
        this.links.proxyBroken(m.generation, m.error);
        return;
      case 'progress':
        this.hooks.progress(this.cfg.node, m.step, m.stats);
        return;
      case 'compute':
        this.links.compute(m);
        return;
      case 'result':
        this.result = { value: m.value };
        return;
      case 'uncaught':
        this.uncaught = { name: m.name, ...(m.code === undefined ? {} : { code: m.code }), message: m.message };
        return;
      case 'fault':
        // Fenced first, as a hung program is: it must not act in the generation that replaces it.
        p.kill('SIGKILL');
        this.links.fault(m.cause, `program pid ${p.pid}: ${m.detail}`);
        return;
      case 'job_failed':
        this.jobFailed = this.programBug(m.reason);
        return;
      case 'closing': {
        // Its heartbeats stop now; silence from here on is an exit in progress, not a hang. But
        // it must actually exit: one that hangs on the way out is ended, keeping its result.
        this.programClosing = true;
        this.programMonitor?.stop();
        void this.store.put(doneKey(this.cfg.job, this.cfg.node), String(p.pid)).catch(() => undefined);
        this.clock.setTimeout(() => {
          if (this.program === p && p.running) {
            emit('program_error', { message: `program pid ${p.pid} did not exit within ${this.cfg.startTimeoutMs} ms of closing; killed` });
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
      slowdown: () => this.links.slowdown?.() ?? 1,
      onSuspect: (_n, info) => {
        if (this.program !== p || !p.running) return;
        // Fenced before anything else: a hung program that wakes up later must not act in a
        // generation that has moved on without it.
        p.kill('SIGKILL');
        this.links.fault('heartbeat', `program pid ${p.pid} silent for ${Math.round(info.silenceMs)} ms`);
      },
    });
    this.programMonitor = mon;
    // Judged from its first heartbeat on: starting a thread can take a while on a loaded machine,
    // and a program that never gets that far is caught by awaitFirstBeat() instead.
    mon.start();
  }

  /**
   * On a loaded machine (32 nodes on 2 cores) a heartbeat thread can take longer than the
   * first-beat deadline to load; a program that used CPU since the last look is starting, not
   * frozen (SIGSTOP and a frozen process use none), so it is given another deadline, up to the
   * start timeout after its hello. Where the platform does not tell CPU time, the first deadline
   * is final, as before. A program stopped meanwhile (SIGSTOP: /proc says `T`, and it used no CPU
   * for a fault timeout) is a hang at once: waiting out the first-beat deadline made a stop under
   * load take 10.5 s to find instead of 0.6 (docs/benchmarks.md).
   */
  private awaitFirstBeat(p: ProgramHandle): void {
    const ms = firstBeatMs(this.cfg);
    const helloAt = this.clock.now();
    let cpu = p.cpuMs?.();
    this.clearFirstBeat();
    const waiting = (): boolean => this.program === p && p.running && !this.programBeating && !this.programClosing && !this.links.stopping();
    const hang = (why: string): void => {
      this.clearFirstBeat();
      // Stopped or frozen before its heartbeat thread beat once: a hang, handled as one.
      p.kill('SIGKILL');
      this.links.fault('heartbeat', `program pid ${p.pid} ${why}`);
    };
    const check = (): void => {
      this.firstBeatTimer = undefined;
      if (!waiting()) return this.clearFirstBeat();
      const now = this.clock.now();
      const used = p.cpuMs?.();
      const alive = used !== undefined && cpu !== undefined && used > cpu;
      cpu = used;
      const left = helloAt + this.cfg.startTimeoutMs - now;
      if (alive && left > 0) {
        this.firstBeatTimer = this.clock.setTimeout(check, Math.min(ms, left));
        return;
      }
      hang(`sent no heartbeat within ${Math.round(now - helloAt)} ms of connecting`);
    };
    this.firstBeatTimer = this.clock.setTimeout(check, ms);
    if (!p.stopped) return;
    let stopCpu = cpu;
    const stopCheck = (): void => {
      this.stopTimer = undefined;
      if (!waiting()) return;
      const used = p.cpuMs?.();
      if (p.stopped?.() === true && used !== undefined && used === stopCpu) {
        hang(`stopped (SIGSTOP) before its heartbeat thread beat once, ${Math.round(this.clock.now() - helloAt)} ms after connecting`);
        return;
      }
      stopCpu = used;
      this.stopTimer = this.clock.setTimeout(stopCheck, this.cfg.faultTimeoutMs);
    };
    this.stopTimer = this.clock.setTimeout(stopCheck, this.cfg.faultTimeoutMs);
  }

  private clearFirstBeat(): void {
    if (this.firstBeatTimer !== undefined) this.clock.clearTimeout(this.firstBeatTimer);
    this.firstBeatTimer = undefined;
    if (this.stopTimer !== undefined) this.clock.clearTimeout(this.stopTimer);
    this.stopTimer = undefined;
  }

  private onProgramExit(p: ProgramHandle, exit: ProgramExit): void {
    if (p !== this.program) return;
    this.programMonitor?.stop();
    if (exit.expected || this.links.stopping()) {
      // The job's end can race a program's: the others finish, the FMS is told to stop, and this
      // program closes its job or exits 0 just then. It did finish, and its node's log must say
      // so: it had closed its job (its work is done, whatever ended the process), or it exited
      // 0 on its own, not after our signal.
      if (this.programConnected && (this.programClosing || (exit.code === 0 && !exit.expected))) this.finishProgram(p);
      return;
    }
    if (exit.signal !== null) {
      this.links.fault('exit', `program pid ${p.pid} killed by ${exit.signal}`);
    } else if (exit.code === 0 && !this.programConnected) {
      // It ran to its end without ever joining the job (no connect()): whatever it computed,
      // it computed alone, and a job of N programs that each did so has no result to report.
      this.links.emit('program_failed', { pid: p.pid, code: exit.code });
      void this.programBug(`program on node ${this.cfg.node} exited with code 0 without calling connect(): it never joined the job (a Rollcall program calls connect() from 'rollcall' first)`);
    } else if (exit.code === 0) {
      this.finishProgram(p);
    } else if (this.jobFailed) {
      this.links.emit('program_failed', { pid: p.pid, code: exit.code });
    } else {
      // Exiting with an error code is the program's own decision: a bug, not a node fault.
      // Relaunching it would only repeat the bug, so the job ends with the reason.
      this.links.emit('program_failed', { pid: p.pid, code: exit.code });
      void this.programBug(`program on node ${this.cfg.node} exited with code ${exit.code}${uncaughtWhy(this.uncaught)}`);
    }
  }

  private finishProgram(p: ProgramHandle): void {
    if (this.completed === p) return;
    this.completed = p;
    // Logged first and whatever the FMS's state: a stopping FMS refuses the move to Done, and
    // the log must lose nothing.
    this.links.emit('program_completed', { pid: p.pid, result: this.result?.value ?? null });
    if (this.links.state() === FmsState.Done || !this.links.moveTo(FmsState.Done)) return;
    void this.store.put(doneKey(this.cfg.job, this.cfg.node), String(p.pid)).catch(() => undefined);
    this.hooks.finished({ node: this.cfg.node, state: this.links.state(), result: this.result?.value ?? null });
  }

  private async programBug(reason: string): Promise<void> {
    try {
      await failJob(this.store, this.cfg.job, reason, { deadline: Date.now() + 10_000 });
    } catch (e) {
      if (!this.links.stopping()) this.links.emit('fms_error', { message: `could not record the job's failure: ${(e as Error).message}` });
    }
  }
}

/**
 * What a non-zero exit is put down to: the error the program died of, if it said, and for a
 * MembershipChangedError what the program should have done with it.
 */
export function uncaughtWhy(u: { name: string; code?: string; message: string } | undefined): string {
  if (!u) return ' (a failure of the program itself, not a node fault)';
  const what = `unhandled ${u.name}${u.code === undefined ? '' : ` (${u.code})`}: ${u.message}`;
  if (u.code === 'ERR_MEMBERSHIP_CHANGED') {
    return `: ${what}. A fault was recovered, and a program without registered state must catch MembershipChangedError and resynchronise (README.md, "Writing a program"), or register its state and use job.run()`;
  }
  return `: ${what} (a failure of the program itself, not a node fault)`;
}

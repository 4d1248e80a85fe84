import { EventEmitter } from 'node:events';
import type { ProgramHandle } from '../fms/fms-shared.js';
import type { ProgramExit } from '../fms/program-process.js';
import { IPC_VERSION, type FromProgram, type ToProgram } from '../protocol/program-ipc.js';
import type { Clock, TimerHandle } from '../util/clock.js';

/** How a simulated program behaves; times on the simulator's clock. */
export interface SimProgramTiming {
  /** From its start to its hello (loading the SDK, connect()). */
  helloMs: number;
  /**
   * Plus a random share of this, per program: programs start at different instants, so their
   * heartbeat threads (and the FMS beats that ride on them) do not all fire in the same one.
   */
  helloSpreadMs: number;
  /** From a generation to its proxy being ready and the program resuming (the rendezvous). */
  proxyMs: number;
}

let nextPid = 100_000;

/**
 * A program as its FMS sees it, without the process: what the SDK (sdk/job.ts) sends over IPC and
 * what its heartbeat thread (sdk/heartbeat-thread.ts) sends over UDP. It says hello, beats from
 * the configuration's interval on to the FMS's address, answers each generation with
 * proxy_ready and resumed, and exits when killed or stopped. It computes nothing: the simulator
 * measures the FMS, not the training. A crash of its node silences it (its clock stops firing).
 */
export class SimProgram extends EventEmitter<{ message: [FromProgram]; bad: [string]; exit: [ProgramExit] }> implements ProgramHandle {
  readonly pid = nextPid++;
  running = true;
  private beatTimer: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly timing: SimProgramTiming,
    /** Its heartbeat thread's socket: loopback datagrams to its own FMS. */
    private readonly beat: (to: string, pid: number) => void,
    random: () => number,
  ) {
    super();
    this.clock.setTimeout(() => this.say({ type: 'hello', pid: this.pid, version: IPC_VERSION }), timing.helloMs + random() * timing.helloSpreadMs);
  }

  send(m: ToProgram): void {
    if (!this.running) return;
    switch (m.type) {
      case 'config':
        this.startBeating(m.fms, m.heartbeatMs);
        return;
      case 'generation':
        this.clock.setTimeout(() => {
          this.say({ type: 'proxy_ready', generation: m.generation, ms: this.timing.proxyMs });
          this.say({ type: 'resumed', generation: m.generation, ts: Date.now() });
        }, this.timing.proxyMs);
        return;
      case 'idle':
      case 'spare':
        return;
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.exit({ code: null, signal, expected: true });
  }

  stop(): Promise<ProgramExit> {
    const e: ProgramExit = { code: 0, signal: null, expected: true };
    this.exit(e);
    return Promise.resolve(e);
  }

  /** Its heartbeat thread, as the real one: one beat at once, then one every interval. */
  private startBeating(fms: string, intervalMs: number): void {
    if (this.beatTimer !== undefined) this.clock.clearTimeout(this.beatTimer);
    const tick = (): void => {
      if (!this.running) return;
      this.beat(fms, this.pid);
      this.beatTimer = this.clock.setTimeout(tick, intervalMs);
    };
    tick();
  }

  /** IPC is asynchronous: a message reaches the FMS on a later turn, never inside its own call. */
  private say(m: FromProgram): void {
    if (this.running) this.emit('message', m);
  }

  private exit(e: ProgramExit): void {
    if (!this.running) return;
    this.running = false;
    if (this.beatTimer !== undefined) this.clock.clearTimeout(this.beatTimer);
    this.clock.setTimeout(() => this.emit('exit', e), 0);
  }
}

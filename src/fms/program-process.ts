import { readFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { FromProgramSchema, type FromProgram, type ToProgram } from '../protocol/program-ipc.js';
import { NO_JIT } from '../protocol/no-jit.js';

export interface ProgramExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The FMS ended it itself (fencing, restart, shutdown): not a fault. */
  expected: boolean;
}

/**
 * The node's program as the FMS sees it: a child process with an IPC channel.
 *
 * The program runs in a session (and so a process group) of its own. With Linux's autogroups
 * each session is one scheduling group, and the kernel shares the CPU between groups before
 * it shares it between the tasks inside one: in the FMS's session, a program that keeps every
 * core busy would delay each of its FMS's wake-ups on the recovery path. In a session apart,
 * the FMS, which sleeps most of the time, runs soon after it wakes, and the program still has
 * the rest (docs/benchmarks.md, "Where a 32-node recovery waits"). Signals from the FMS go to
 * the program's whole group, so a program's own children go with it; whoever kills a node
 * kills the program's group beside the FMS's (launch/launcher.ts), and a program whose FMS died
 * exits on its own (the SDK's 'disconnect' handler).
 */
export class ProgramProcess extends EventEmitter<{ message: [FromProgram]; bad: [string]; exit: [ProgramExit] }> {
  readonly pid: number;
  readonly exited: Promise<ProgramExit>;
  private expected = false;
  private done = false;
  private readonly child: ChildProcess;

  constructor(command: readonly string[], env: NodeJS.ProcessEnv) {
    super();
    const [file, ...args] = command;
    if (file === undefined) throw new Error('empty program command');
    this.child = spawn(file, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env, detached: true });
    this.exited = new Promise((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.done) return;
        this.done = true;
        const exit = { code, signal, expected: this.expected };
        this.emit('exit', exit);
        resolve(exit);
      };
      this.child.on('exit', finish);
      // spawn failures (no such file) come as 'error' without an 'exit'.
      this.child.on('error', (e) => {
        this.emit('bad', `cannot start program ${JSON.stringify(file)}: ${e.message}`);
        finish(127, null);
      });
    });
    this.pid = this.child.pid ?? -1;
    this.child.on('message', (raw: unknown) => {
      const m = FromProgramSchema.safeParse(raw, NO_JIT);
      if (m.success) this.emit('message', m.data);
      else this.emit('bad', `program sent an invalid message: ${m.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    });
  }

  /**
   * CPU time the process has used (user + system, ms) from /proc, or undefined where there is
   * none (not Linux, or the process is gone). A stopped or frozen process uses none.
   */
  cpuMs(): number | undefined {
    const fields = this.stat();
    const ticks = fields ? Number(fields[11]) + Number(fields[12]) : NaN;
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  }

  /** Whether the process is stopped (SIGSTOP, a debugger), from /proc; undefined where there is no /proc. */
  stopped(): boolean | undefined {
    const state = this.stat()?.[0];
    return state === undefined ? undefined : state === 'T' || state === 't';
  }

  /** The fields of /proc/<pid>/stat after the command name, or undefined (not Linux, or gone). */
  private stat(): string[] | undefined {
    try {
      const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    } catch {
      return undefined;
    }
  }

  get running(): boolean {
    return !this.done;
  }

  send(m: ToProgram): void {
    if (this.done || !this.child.connected) return;
    this.child.send(m, (err) => {
      // The program is dying; its exit is reported through 'exit'.
      void err;
    });
  }

  /** Signals the program; anything but SIGSTOP/SIGCONT marks its exit as expected. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (signal !== 'SIGSTOP' && signal !== 'SIGCONT') this.expected = true;
    if (!this.done) this.signal(signal);
  }

  /** To the program's process group (it leads one: see above), else to the program alone. */
  private signal(signal: NodeJS.Signals): void {
    // A program that never started has no pid (-1 here): -(-1) would be every process we may
    // signal, and -0 our own group.
    if (this.pid > 0) {
      try {
        process.kill(-this.pid, signal);
        return;
      } catch {
        // Not a group (any more): the program alone, below.
      }
    }
    this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it has not gone within graceMs. */
  async stop(graceMs: number): Promise<ProgramExit> {
    if (this.done) return this.exited;
    this.kill('SIGTERM');
    // A stopped process only acts on SIGTERM once continued.
    this.signal('SIGCONT');
    const t = setTimeout(() => this.kill('SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(t);
    return exit;
  }
}

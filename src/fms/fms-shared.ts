import type { FmsEventName, LogEvent, NodeEventFields } from '../protocol/events.js';
import type { FmsState } from '../protocol/fms-messages.js';
import type { FromProgram, ProgramStats, ToProgram } from '../protocol/program-ipc.js';
import type { ProgramExit } from './program-process.js';

/**
 * What the launcher configures an FMS with, and the states an FMS reports, are that boundary's
 * content (protocol/fms-messages.ts); re-exported so the FMS's parts import them from here.
 */
export { FmsState, type FmsConfig } from '../protocol/fms-messages.js';

/** One event-log line (src/protocol/events.ts); `ts` is set where the thing happened, not where it is written. */
export type FmsEvent = LogEvent;

export interface FmsHooks {
  event(e: FmsEvent): void;
  progress(node: number, step: number, stats?: ProgramStats): void;
  /** The node's program finished successfully, or the node has left the job. */
  finished(outcome: { node: number; state: FmsState; result?: unknown }): void;
  /** About once a second: how much this FMS suspects each other node (phi accrual). */
  health?(node: number, phi: Record<string, number>): void;
  /**
   * A program process was started (before it connects): whoever may kill the node kills the
   * program's process group too, which is not the FMS's (program-process.ts).
   */
  spawned?(pid: number): void;
}

/** What an FMS's program is to it: a child process in production, a fake in unit tests. */
export interface ProgramHandle {
  readonly pid: number;
  readonly running: boolean;
  /** CPU time used so far (ms), where the platform tells it: proof that a starting program is not frozen. */
  cpuMs?(): number | undefined;
  /** Whether the process is stopped (SIGSTOP): undefined where the platform does not tell. */
  stopped?(): boolean | undefined;
  send(m: ToProgram): void;
  kill(signal?: NodeJS.Signals): void;
  stop(graceMs: number): Promise<ProgramExit>;
  on(event: 'message', listener: (m: FromProgram) => void): unknown;
  on(event: 'bad', listener: (why: string) => void): unknown;
  on(event: 'exit', listener: (exit: ProgramExit) => void): unknown;
}

export type StartProgram = (command: readonly string[], env: NodeJS.ProcessEnv) => ProgramHandle;

/** Logs one event of this node's; every part of the FMS writes through the same one. */
export type Emit = <N extends FmsEventName>(event: N, fields: NodeEventFields<N>, ts?: number) => void;

/** The FMS's state as its parts see it: read it, or ask the FMS to move (it may refuse). */
export interface FmsStateLinks {
  state(): FmsState;
  moveTo(to: FmsState): boolean;
}

/** Written when a node's program has finished its work: its departure is not a fault. */
export const doneKey = (job: string, node: number): string => `rollcall/${job}/done/${node}`;

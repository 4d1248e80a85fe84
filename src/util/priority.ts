import { getPriority, setPriority } from 'node:os';

/**
 * Scheduling priority of the control plane: the FMS and the launcher (which serves the embedded
 * store) run their main thread at a lower nice value than the programs.
 *
 * On an oversubscribed machine every hop of a recovery (the FMS that saw the fault, the
 * coordinator, the store's compare-and-set and its watches, each FMS telling its program) waits
 * for a core behind the programs, and each wait is a scheduler's latency. Raised, those few
 * milliseconds of work run as soon as they are due; they are too few to slow the programs
 * (docs/benchmarks.md, "Where a 32-node recovery's CPU goes"). Only a privileged user (root, or
 * CAP_SYS_NICE) may lower a nice value; anyone else keeps the default, and the raise says so.
 */
export const CONTROL_NICE = -10;

/**
 * The nice value the user started Rollcall with, which programs are started with. Handed to
 * child processes in the environment: an FMS forked by a raised launcher inherits the raised
 * value, not the user's.
 */
const USER_NICE = 'ROLLCALL_USER_NICE';
let base: number | undefined;

/** Raises the calling thread (on Linux a nice value is per thread). True if it runs at CONTROL_NICE or better. */
export function raiseControlPriority(): boolean {
  const now = getPriority(0);
  const inherited = Number(process.env[USER_NICE]);
  base ??= Number.isInteger(inherited) && process.env[USER_NICE] !== '' ? inherited : now;
  process.env[USER_NICE] = String(base);
  if (now <= CONTROL_NICE) return true;
  try {
    setPriority(0, CONTROL_NICE);
    return true;
  } catch {
    return false; // not privileged: the default priority, as before
  }
}

/**
 * Runs `start` (which spawns a program) at the priority the thread had before it was raised,
 * so that the child inherits that one and not the control plane's, then raises it again.
 */
export function atProgramPriority<T>(start: () => T): T {
  if (base === undefined || getPriority(0) === base) return start();
  setPriority(0, base);
  try {
    return start();
  } finally {
    raiseControlPriority();
  }
}

import { readFileSync } from 'node:fs';

/**
 * How often the launcher looks for its parent. A parent that dies without passing its signal on
 * (`npx`, `npm exec` and a shell running the launcher as a child all do: SIGTERM ends them and
 * the launcher is re-parented) is noticed within this, and the job then takes its usual
 * shutdown (a few seconds at most). A read of /proc/self/stat four times a second costs nothing.
 */
export const PARENT_POLL_MS = 250;

/** This process's parent pid as the kernel has it now; undefined where /proc is not there. */
function currentParent(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` still exists (where /proc is missing: the only portable test, pid reuse aside). */
function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Calls `onGone(ppid)` once when the process that started this one exits. Node's `process.ppid`
 * is read once at start-up (Node 20), so the kernel is asked instead: a changed parent pid means
 * the parent died and this process was handed to init or a subreaper. A process started by init
 * itself (a container's entry point, a daemon) has no parent to lose and is not watched. Returns
 * the function that stops watching; the timer never keeps the process alive on its own.
 */
export function watchParent(onGone: (ppid: number) => void, intervalMs = PARENT_POLL_MS): () => void {
  const original = process.ppid;
  if (original <= 1) return () => undefined;
  const timer = setInterval(() => {
    const now = currentParent();
    const gone = now === undefined ? !exists(original) : now !== original;
    if (!gone) return;
    clearInterval(timer);
    onGone(original);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time, for the state bench. Step time on a shared 2-core VM moves by ±15 % from round to
 * round (docs/benchmarks.md), more than the 1 % overhead the bench must resolve; the CPU a job
 * spends per step moves far less, because time the VM takes away from us is not counted. On 2
 * cores that both ranks keep busy, every CPU-µs Rollcall adds is a µs some rank cannot compute.
 */

/**
 * CPU µs used so far by every live thread of process `pid`, from /proc/<pid>/task/<tid>/schedstat
 * (nanoseconds run, as the scheduler accounts them; /proc/<pid>/stat counts 10 ms ticks).
 * Undefined where there is no such file (not Linux, the process gone).
 */
export function threadsCpuUs(pid: number): number | undefined {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const f = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8');
      ns += Number(f.slice(0, f.indexOf(' ')));
    }
    return ns / 1e3;
  } catch {
    return undefined;
  }
}

/** The parent of `pid`, from /proc/<pid>/stat (its 4th field, after the parenthesised name). */
export function parentOf(pid: number): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) && ppid > 1 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A meter over a set of processes: this one (all its threads, exited ones included, by
 * getrusage) and others by /proc. `read()` gives the CPU µs used since the meter was made, or
 * undefined if some process could not be read.
 */
export function cpuMeter(others: readonly number[]): { read(): number | undefined } {
  const own0 = process.cpuUsage();
  const base = others.map(threadsCpuUs);
  return {
    read() {
      const own = process.cpuUsage(own0);
      let us = own.user + own.system;
      for (const [i, pid] of others.entries()) {
        const now = threadsCpuUs(pid);
        const was = base[i];
        if (now === undefined || was === undefined) return undefined;
        us += now - was;
      }
      return us;
    },
  };
}

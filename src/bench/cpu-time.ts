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

/** CPU µs used so far by one thread, or undefined where /proc cannot tell. */
function threadCpuUs(pid: number, tid: number): number | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8');
    return Number(f.slice(0, f.indexOf(' '))) / 1e3;
  } catch {
    return undefined;
  }
}

/** CPU µs used since a meter was made: this process's main thread, its other threads, and other processes, each. */
export interface CpuSplit {
  main: number;
  threads: number;
  others: number[];
}

/**
 * A meter over this process (its main thread, and the rest: its worker threads, V8's and libuv's,
 * exited ones included, by getrusage) and other processes (all their threads, by /proc).
 * `read()` is undefined if some process could not be read.
 */
export function cpuMeter(others: readonly number[]): { read(): CpuSplit | undefined } {
  const own0 = process.cpuUsage();
  const main0 = threadCpuUs(process.pid, process.pid);
  const base = others.map(threadsCpuUs);
  return {
    read() {
      const own = process.cpuUsage(own0);
      const main = threadCpuUs(process.pid, process.pid);
      if (main === undefined || main0 === undefined) return undefined;
      const split: CpuSplit = { main: main - main0, threads: own.user + own.system - (main - main0), others: [] };
      for (const [i, pid] of others.entries()) {
        const now = threadsCpuUs(pid);
        const was = base[i];
        if (now === undefined || was === undefined) return undefined;
        split.others.push(now - was);
      }
      return split;
    },
  };
}

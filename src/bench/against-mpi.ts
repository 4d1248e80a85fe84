import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.js';
import { median } from '../util/stats.js';
import { benchAllreduce, type AllreduceResult } from './allreduce.js';

/**
 * `rollcall bench allreduce --against-mpi`: Rollcall's allreduce and Open MPI's over TCP, run
 * alternately in one session (the first arm alternates too, so neither always runs on a
 * warmer or quieter machine), and the medians of the runs with their ratio. Single runs vary
 * by tens of per cent on a shared machine, on both sides: only medians of interleaved runs
 * are quoted (docs/benchmarks.md).
 */
export interface AgainstMpiOptions {
  rankCounts: number[];
  sizes: number[];
  runs: number;
  repeats: number;
  timeoutMs: number;
  warmupMs?: number;
  json: boolean;
  /** mpi4py script printing the same JSON lines (the anchors' mpi_allreduce.py). */
  mpiScript: string;
  python: string;
  mpirun: string;
}

interface Row {
  impl: 'rollcall' | 'openmpi';
  ranks: number;
  bytes: number;
  us: number;
  busbw_GBps: number;
}

export interface AgainstMpiSummary {
  ranks: number;
  bytes: number;
  rollcall_us: number;
  openmpi_us: number;
  rollcall_busbw_GBps: number;
  openmpi_busbw_GBps: number;
  /** Rollcall's busbw over Open MPI's (Open MPI's time over Rollcall's): above 1 is faster. */
  busbw_ratio: number;
  runs: number;
}

export async function benchAgainstMpi(o: AgainstMpiOptions, out: (line: string) => void): Promise<AgainstMpiSummary[]> {
  if (!existsSync(o.mpiScript)) {
    throw new InvalidArgumentError(`Open MPI benchmark script not found at ${o.mpiScript}: pass --mpi-script (the anchors' mpi_allreduce.py)`);
  }
  const rows: Row[] = [];
  for (let run = 0; run < o.runs; run++) {
    for (const ranks of o.rankCounts) {
      const arms = [() => rollcallArm(o, ranks), () => mpiArm(o, ranks)];
      if (run % 2 === 1) arms.reverse();
      for (const arm of arms) {
        const got = await arm();
        rows.push(...got);
        for (const r of got) if (!o.json) out(`run ${run + 1}/${o.runs}  ${r.impl.padEnd(8)} ${String(r.ranks).padStart(3)} ranks ${String(r.bytes).padStart(9)} B  ${r.us.toFixed(1).padStart(9)} us  busbw ${r.busbw_GBps.toFixed(3)} GB/s`);
      }
    }
  }
  const summary: AgainstMpiSummary[] = [];
  for (const ranks of o.rankCounts) {
    for (const bytes of o.sizes) {
      const pick = (impl: Row['impl']): Row[] => rows.filter((r) => r.impl === impl && r.ranks === ranks && r.bytes === bytes);
      const a = pick('rollcall');
      const m = pick('openmpi');
      if (a.length === 0 || m.length === 0) continue;
      const s: AgainstMpiSummary = {
        ranks,
        bytes,
        rollcall_us: median(a.map((r) => r.us)),
        openmpi_us: median(m.map((r) => r.us)),
        rollcall_busbw_GBps: median(a.map((r) => r.busbw_GBps)),
        openmpi_busbw_GBps: median(m.map((r) => r.busbw_GBps)),
        busbw_ratio: 0,
        runs: Math.min(a.length, m.length),
      };
      // The same bytes and ranks on both sides, so the busbw ratio is the inverse ratio of the
      // times, which keeps its digits where busbw rounds to 0.000 (4 KiB on 16 ranks).
      s.busbw_ratio = Math.round((s.openmpi_us / s.rollcall_us) * 100) / 100;
      summary.push(s);
    }
  }
  if (o.json) for (const s of summary) out(JSON.stringify({ summary: 'against-mpi', ...s }));
  else {
    out(`\nmedians of ${o.runs} interleaved runs (Open MPI over TCP: --mca btl tcp,self); ratio = Rollcall busbw / Open MPI busbw, above 1 is faster`);
    out('| ranks | bytes | Rollcall µs | busbw GB/s | Open MPI µs | busbw GB/s | ratio |');
    out('|---|---|---|---|---|---|---|');
    for (const s of summary) {
      out(`| ${s.ranks} | ${s.bytes} | ${s.rollcall_us.toFixed(1)} | ${s.rollcall_busbw_GBps.toFixed(3)} | ${s.openmpi_us.toFixed(1)} | ${s.openmpi_busbw_GBps.toFixed(3)} | ${s.busbw_ratio.toFixed(2)} |`);
    }
  }
  return summary;
}

async function rollcallArm(o: AgainstMpiOptions, ranks: number): Promise<Row[]> {
  const res: AllreduceResult[] = await benchAllreduce({ ranks, sizes: o.sizes, repeats: o.repeats, json: true, timeoutMs: o.timeoutMs, warmupMs: o.warmupMs }, () => undefined);
  return res.map((r) => ({ impl: 'rollcall', ranks: r.ranks, bytes: r.bytes, us: r.us, busbw_GBps: r.busbw_GBps }));
}

/** One mpirun of the script; its stdout is one JSON line per size. */
function mpiArm(o: AgainstMpiOptions, ranks: number): Promise<Row[]> {
  const args = ['--allow-run-as-root', '--oversubscribe', '-np', String(ranks), '--mca', 'btl', 'tcp,self', o.python, o.mpiScript, ...o.sizes.map(String)];
  return new Promise((resolve, reject) => {
    const child = spawn(o.mpirun, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mpirun -np ${ranks} did not finish within ${o.timeoutMs} ms`));
    }, o.timeoutMs);
    timer.unref();
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${o.mpirun} (is Open MPI installed? apt-get install openmpi-bin python3-mpi4py): ${e.message}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`mpirun -np ${ranks} exited with ${code}: ${stderr.trim().slice(-500)}`));
      const rows = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Row);
      resolve(rows.map((r) => ({ impl: 'openmpi', ranks: r.ranks, bytes: r.bytes, us: r.us, busbw_GBps: r.busbw_GBps })));
    });
  });
}

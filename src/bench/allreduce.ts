import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { DEFAULT_TUNING, type CommTuning } from '../comm/communicator.js';
import { InvalidArgumentError } from '../errors.js';
import { startStoreServer } from '../store/tcp-store-server.js';
import { median } from '../util/stats.js';
import type { PerCallStats } from './allreduce-worker.js';

export interface AllreduceBenchOptions {
  ranks: number;
  sizes: number[];
  repeats: number;
  json: boolean;
  timeoutMs: number;
  /** Undefined: the library's default. */
  spinUs?: number;
  /** Longest warm-up per size (default 20 s). */
  warmupMs?: number;
  /** tcp (loopback, the default) or unix (Unix domain sockets). */
  transport?: 'tcp' | 'unix';
  /** After the windows, time this many calls one by one (rank 0's quantiles, CPU and context switches per call). */
  perCall?: number;
  /** Tuning fields to set instead of the library's choices, for A/B runs. */
  tuning?: Partial<CommTuning>;
}

export interface AllreduceResult {
  impl: 'rollcall';
  ranks: number;
  bytes: number;
  us: number;
  algbw_GBps: number;
  busbw_GBps: number;
}

/** Runs R local rank processes and reports, per size, the median over `repeats` timed loops. */
export async function benchAllreduce(o: AllreduceBenchOptions, out: (line: string) => void): Promise<AllreduceResult[]> {
  const secret = randomBytes(16).toString('hex');
  const server = await startStoreServer({ host: '127.0.0.1', port: 0, secret });
  const worker = fileURLToPath(new URL('./allreduce-worker.js', import.meta.url));
  const job = `bench-${process.pid}`;
  const results: AllreduceResult[] = [];
  // More ranks than cores share them, as Open MPI's --oversubscribe does: say so beside the figures.
  const cores = availableParallelism();
  const shared = o.ranks > cores ? `, oversubscribed: ${o.ranks} ranks on ${cores} cores` : '';
  if (!o.json) out(`${'bytes'.padStart(10)} ${'us'.padStart(10)} ${'algbw GB/s'.padStart(11)} ${'busbw GB/s'.padStart(11)}   (${o.ranks} ranks, median of ${o.repeats}${shared})`);
  const children = Array.from({ length: o.ranks }, () => fork(worker, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`benchmark did not finish within ${o.timeoutMs} ms`)), o.timeoutMs);
      timer.unref();
      let exited = 0;
      children.forEach((c, rank) => {
        c.on('message', (msg: { bytes?: number; samples?: number[]; perCall?: PerCallStats; error?: string }) => {
          if (msg.error) return reject(new Error(`rank ${rank}: ${msg.error}`));
          if (msg.perCall) {
            const p = msg.perCall;
            out(
              o.json
                ? JSON.stringify({ impl: 'rollcall', ranks: o.ranks, bytes: msg.bytes, per_call: p })
                : `${String(msg.bytes).padStart(10)}   per call (rank 0, ${p.calls} calls): p10 ${p.p10} p25 ${p.p25} p50 ${p.p50} p90 ${p.p90} mean ${p.mean} µs; CPU user ${p.userUs} sys ${p.sysUs} µs; sleeps ${p.sleeps}, preemptions ${p.preemptions}`,
            );
            return;
          }
          const us = median(msg.samples!);
          const algbw = msg.bytes! / us / 1e3;
          const r: AllreduceResult = {
            impl: 'rollcall',
            ranks: o.ranks,
            bytes: msg.bytes!,
            us: round(us, 1),
            algbw_GBps: round(algbw, 3),
            busbw_GBps: round((algbw * 2 * (o.ranks - 1)) / o.ranks, 3),
          };
          results.push(r);
          out(o.json ? JSON.stringify(r) : `${String(r.bytes).padStart(10)} ${r.us.toFixed(1).padStart(10)} ${r.algbw_GBps.toFixed(3).padStart(11)} ${r.busbw_GBps.toFixed(3).padStart(11)}`);
        });
        c.on('exit', (code, sig) => {
          if (code !== 0) return reject(new Error(`rank ${rank} exited with ${code ?? sig}`));
          if (++exited === o.ranks) {
            clearTimeout(timer);
            resolve();
          }
        });
        c.send({ store: server.address, secret, job, rank, world: o.ranks, sizes: o.sizes, repeats: o.repeats, spinUs: o.spinUs, warmupMs: o.warmupMs ?? 20_000, transport: o.transport, perCall: o.perCall, tuning: o.tuning });
      });
    });
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await server.close();
  }
  return results;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** `--tuning '{"spinMaxBytes":262144}'`: known CommTuning fields of the right type only. */
export function parseTuning(json: string): Partial<CommTuning> {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new InvalidArgumentError(`--tuning is not JSON: ${json}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidArgumentError('--tuning must be a JSON object of tuning fields');
  const known = DEFAULT_TUNING as Readonly<Record<string, unknown>>;
  for (const [k, x] of Object.entries(v)) {
    if (!(k in known)) throw new InvalidArgumentError(`--tuning: unknown field "${k}" (known: ${Object.keys(known).join(', ')})`);
    if (typeof x !== typeof known[k]) throw new InvalidArgumentError(`--tuning: ${k} must be a ${typeof known[k]}`);
  }
  return v as Partial<CommTuning>;
}

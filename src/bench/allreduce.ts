import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { startStoreServer } from '../store/tcp-store-server.js';
import { median } from '../util/stats.js';

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
        c.on('message', (msg: { bytes?: number; samples?: number[]; error?: string }) => {
          if (msg.error) return reject(new Error(`rank ${rank}: ${msg.error}`));
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
        c.send({ store: server.address, secret, job, rank, world: o.ranks, sizes: o.sizes, repeats: o.repeats, spinUs: o.spinUs, warmupMs: o.warmupMs ?? 20_000, transport: o.transport });
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

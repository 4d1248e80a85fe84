import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startStoreServer } from '../store/tcp-store-server.js';
import { median } from '../util/stats.js';

export interface GenerationBenchOptions {
  ranks: number[];
  samples: number;
  via: 'listener' | 'store';
  /**
   * With `via: listener`, how ranks reach each other: unix (their nodes' Unix domain sockets, the
   * runtime's way on one host) or tcp (loopback TCP, every node without a socket). Default unix.
   */
  transport?: 'tcp' | 'unix';
  /** Size of the first collective (an allreduce of float32). */
  bytes: number;
  timeoutMs: number;
  json: boolean;
}

export interface GenerationResult {
  ranks: number;
  via: 'listener' | 'store';
  /** How listener ranks connected (unset for the store arm, which is TCP). */
  transport?: 'tcp' | 'unix';
  /** From "go" to the last rank done with its first collective, per generation after the first. */
  median_ms: number;
  samples_ms: number[];
}

/**
 * How long a new generation takes to be usable: R rank processes each end their communicator,
 * build the next generation's and run a first allreduce; timed from the parent's "go" to the
 * last rank done. Generation 0 (processes starting, first address reads) is not counted.
 */
export async function benchGeneration(o: GenerationBenchOptions, out: (line: string) => void): Promise<GenerationResult[]> {
  const results: GenerationResult[] = [];
  for (const ranks of o.ranks) results.push(await oneSize(ranks, o, out));
  return results;
}

async function oneSize(ranks: number, o: GenerationBenchOptions, out: (line: string) => void): Promise<GenerationResult> {
  const secret = randomBytes(16).toString('hex');
  const server = await startStoreServer({ host: '127.0.0.1', port: 0, secret });
  const worker = fileURLToPath(new URL('./generation-worker.js', import.meta.url));
  const job = `bench-gen-${process.pid}-${ranks}`;
  const children = Array.from({ length: ranks }, () => fork(worker, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const deadline = setTimeout(() => failAll(new Error(`generation bench at ${ranks} ranks did not finish within ${o.timeoutMs} ms`)), o.timeoutMs);
  deadline.unref();
  let failAll: (e: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (failAll = reject));
  failed.catch(() => undefined);
  const waitAll = (pick: (m: Record<string, unknown>) => boolean): Promise<void> =>
    Promise.race([
      failed,
      Promise.all(children.map((c) => new Promise<void>((resolve) => {
        const on = (m: Record<string, unknown>): void => {
          if (pick(m)) {
            c.off('message', on);
            resolve();
          }
        };
        c.on('message', on);
      }))).then(() => undefined),
    ]);
  const transport = o.via === 'listener' ? (o.transport ?? 'unix') : undefined;
  try {
    children.forEach((c, rank) => {
      c.on('message', (m: { error?: string }) => m.error && failAll(new Error(`rank ${rank}: ${m.error}`)));
      c.on('exit', (code, sig) => code !== 0 && failAll(new Error(`rank ${rank} exited with ${code ?? sig}`)));
      // A rank that died is reported by 'exit' (and its own error message); a send to it must not throw.
      c.on('error', (e) => failAll(new Error(`rank ${rank}: ${e.message}`)));
    });
    const ready = waitAll((m) => m.ready === true);
    children.forEach((c, rank) => c.send({ store: server.address, secret, job, rank, world: ranks, via: o.via, bytes: o.bytes, transport }));
    await ready;
    const samples: number[] = [];
    for (let g = 0; g <= o.samples; g++) {
      const done = waitAll((m) => m.done === g);
      const t0 = performance.now();
      for (const c of children) c.send({ go: g }, () => undefined);
      await done;
      if (g > 0) samples.push(performance.now() - t0);
    }
    const r: GenerationResult = { ranks, via: o.via, transport, median_ms: Math.round(median(samples) * 10) / 10, samples_ms: samples.map((s) => Math.round(s * 10) / 10) };
    out(o.json ? JSON.stringify(r) : `${String(ranks).padStart(6)} ranks  via ${(o.via + (transport ? `/${transport}` : '')).padEnd(13)}  median ${r.median_ms.toFixed(1).padStart(8)} ms   (${r.samples_ms.join(', ')})`);
    return r;
  } finally {
    clearTimeout(deadline);
    for (const c of children) if (c.connected) c.send({ exit: true }, () => undefined);
    await new Promise((r) => setTimeout(r, 200));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await server.close();
  }
}

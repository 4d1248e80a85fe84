import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommTuning } from '../comm/communicator.js';
import { createCommunicator } from '../comm/rendezvous.js';
import { openStore } from '../store/open-store.js';

/**
 * One rank of `rollcall bench allreduce`, forked by the parent with its settings in env.
 * The timing loop is the anchors' (barrier, `iters` back-to-back calls, barrier, with the
 * same `iters`), so the figures compare like for like; only the warm-up is longer (see below).
 */
interface Msg {
  store: string;
  secret: string;
  job: string;
  rank: number;
  world: number;
  sizes: number[];
  repeats: number;
  /** Undefined: the library's default. */
  spinUs?: number;
  /** Longest warm-up per size; the call count is reached first with few ranks. */
  warmupMs: number;
  /** tcp (loopback) or unix (a Unix domain socket per rank). */
  transport?: 'tcp' | 'unix';
  /** After the windows, this many calls timed one by one (0 or undefined: none). */
  perCall?: number;
  tuning?: Partial<CommTuning>;
}

/**
 * A window's mean hides how its calls are spread: on a loaded machine a few descheduled calls
 * make most of it. Rank 0's calls timed one by one, with the CPU and the context switches each
 * costs: `sleeps` (voluntary switches) counts waits in epoll, `preemptions` (involuntary ones)
 * the times another process took the core, sched_yield included.
 */
export interface PerCallStats {
  calls: number;
  p10: number;
  p25: number;
  p50: number;
  p90: number;
  mean: number;
  userUs: number;
  sysUs: number;
  sleeps: number;
  preemptions: number;
}

process.once('message', (m: Msg) => {
  run(m).then(
    () => process.exit(0),
    (e: unknown) => {
      process.send?.({ error: String((e as Error)?.stack ?? e) });
      process.exit(1);
    },
  );
});

async function run(m: Msg): Promise<void> {
  // Patient deadlines: this measures speed, not failure detection, and with 16 or 64 ranks on
  // a shared 2-core machine a rank can go unscheduled for seconds (the 10 s peer timeout and the
  // rendezvous deadline both fired at 16 ranks with the machine's load average at 25-60, and the
  // store's 5 s connect deadline at 64).
  const store = await openStore(m.store, { secret: m.secret, requestTimeoutMs: 60_000 });
  const tuning = { ...m.tuning, timeoutMs: 120_000, ...(m.spinUs === undefined ? {} : { spinUs: m.spinUs }) };
  const host = m.transport === 'unix' ? `unix:${join(tmpdir(), `rollcall-${m.job}-${m.rank}.sock`)}` : undefined;
  const comm = await createCommunicator({ job: m.job, generation: 0, rank: m.rank, world: m.world, secret: m.secret, store, tuning, rendezvousTimeoutMs: 300_000, host });
  for (const bytes of m.sizes) {
    const a = new Float32Array(Math.floor(bytes / 4)).fill(1);
    const iters = Math.max(3, Math.min(200, Math.floor(2e8 / Math.max(bytes, 1))));
    // V8 optimises the hot path only after thousands of calls, and a training job runs warm,
    // so measure warm: up to 20,000 calls or 2 GB of traffic per size, whichever is less. Each
    // size, not only the first: sizes take different paths (recursive doubling, the ring,
    // halving-doubling), and a size warmed with a tenth of that after a first size measured
    // slower than when it came first (docs/benchmarks.md, "Allreduce (float32 sum), 2026-11-28
    // (fourth session)", 64 KiB). Not less: at 1 MiB, windows after 0.5 GB of warm-up were much
    // slower than after 2 GB, and a job sees the latter for all but its first second (the same,
    // "before it: halving-doubling, polling up to 256 KiB, longer warm-up"). The warm-up runs the
    // timed window itself, untimed: warming only the allreduce left the window's own loop to be
    // compiled in the first timed windows, which came out several times slower than the ones
    // after (the same, "earlier: SIMD reductions, warm windows"). The same count on every rank
    // keeps calls in step.
    const warmup = Math.max(2, Math.min(20_000, Math.floor(2e9 / Math.max(bytes, 1))));
    const window = async (): Promise<number> => {
      a.fill(1);
      await comm.barrier();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < iters; i++) await comm.allreduce(a, 'sum');
      await comm.barrier();
      return Number(process.hrtime.bigint() - t0) / 1e3 / iters;
    };
    // And for at most warmupMs (20 s by default): with many ranks sharing two cores a call takes milliseconds, and
    // 20,000 of them took minutes per size (16 ranks, 4 KiB: 3.5 min). Rank 0 decides after each
    // window and tells the others, so that every rank runs the same windows.
    const started = Date.now();
    const more = new Int32Array(1);
    for (let w = 0; w < Math.ceil(warmup / iters); w++) {
      await window();
      more[0] = Date.now() - started < m.warmupMs ? 1 : 0;
      await comm.broadcast(more, 0);
      if (more[0] === 0) break;
    }
    const samples: number[] = [];
    for (let rep = 0; rep < m.repeats; rep++) samples.push(await window());
    if (m.rank === 0) process.send?.({ bytes, samples });
    if (m.perCall) {
      const perCall = await timeEachCall(m.perCall, () => comm.allreduce(a, 'sum'), () => comm.barrier());
      if (m.rank === 0) process.send?.({ bytes, perCall });
    }
  }
  comm.close();
  await store.close();
}

async function timeEachCall(calls: number, call: () => Promise<unknown>, barrier: () => Promise<unknown>): Promise<PerCallStats> {
  await barrier();
  const times = new Float64Array(calls);
  const cpu0 = process.cpuUsage();
  const use0 = process.resourceUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) {
    const t = process.hrtime.bigint();
    await call();
    times[i] = Number(process.hrtime.bigint() - t) / 1e3;
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e3;
  const cpu = process.cpuUsage(cpu0);
  const use = process.resourceUsage();
  await barrier();
  times.sort();
  const q = (f: number): number => Math.round(times[Math.floor(f * (calls - 1))]!);
  const per = (x: number, digits = 0): number => Number((x / calls).toFixed(digits));
  return {
    calls,
    p10: q(0.1),
    p25: q(0.25),
    p50: q(0.5),
    p90: q(0.9),
    mean: per(wall),
    userUs: per(cpu.user),
    sysUs: per(cpu.system),
    sleeps: per(use.voluntaryContextSwitches - use0.voluntaryContextSwitches, 2),
    preemptions: per(use.involuntaryContextSwitches - use0.involuntaryContextSwitches, 2),
  };
}

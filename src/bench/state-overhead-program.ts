import { parseArgs } from 'node:util';
import { createCommunicator } from '../comm/rendezvous.js';
import { connect } from '../sdk/job.js';
import { openStore } from '../store/open-store.js';
import { median } from '../util/stats.js';
import { costSince, noCost } from '../state/stream-cost.js';
import { cpuMeter, parentOf } from './cpu-time.js';
import type { FurtherCost } from './state-overhead.js';

/**
 * The loop of `rollcall bench state`: each step computes a gradient from the weights,
 * allreduces it (4 MiB by default), updates the weights and, under Rollcall, commits. `--mode
 * bare` runs the same loop on the communication library alone (forked by the bench, settings
 * over IPC); `--mode bare-copy` adds to it a plain copy of the weights per step, into one of a
 * few rotating buffers: the least any in-memory snapshot costs; `--mode rollcall` runs it as a
 * Rollcall program (proxy, heartbeats, keeper, commits), and `--mode rollcall-draft` the same
 * with the update written into the state's draft, which the commit takes without a copy.
 */
const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'rollcall' },
    bytes: { type: 'string', default: String(4 << 20) },
    steps: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '50' },
    'warmup-ms': { type: 'string', default: '0' },
    // Declare the weights replicated: the members compare their digests (bench state --compare verify).
    replicated: { type: 'boolean', default: false },
  },
});
const n = Number(values.bytes) / 4;
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const warmupMs = Number(values['warmup-ms']);
/** Warm-up steps between checks of the time floor: too few to cost anything, often enough not to overshoot it by much. */
const AGREE_EVERY = 50;

const initial = new Float32Array(new SharedArrayBuffer(n * 4)).fill(0.5);
const grad = new Float32Array(new SharedArrayBuffer(n * 4));

interface Loop {
  allreduce(g: Float32Array): Promise<unknown>;
  /** The largest `ms` of all the ranks. */
  max(ms: number): Promise<number>;
  /** The weights as they are. */
  current(): Float32Array;
  /** Where the update goes: the same array, or a draft. */
  next(): Float32Array;
  commit(): void;
  /** Called as the timed window opens and once it has closed, outside it (the Rollcall arms read their keeper's counters). */
  edge?(at: 'start' | 'end'): Promise<void>;
}

// The arithmetic in functions of their own, as a program's would be: inlined into the loop
// below, its speed depended on what V8 had seen in that process (slower under Rollcall than in
// the bare arm, with the same arrays: docs/benchmarks.md, "Fourth session: commits without a
// copy, a faster CRC, a fairer loop"), which is not what this bench measures.
function gradient(w: Float32Array, g: Float32Array): void {
  for (let i = 0; i < g.length; i++) g[i] = (w[i] as number) * 1e-3;
}

function sgd(w: Float32Array, g: Float32Array, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = (w[i] as number) - 0.01 * (g[i] as number);
}

interface LoopResult {
  stepUs: number;
  commitUs: number;
  commitMeanUs: number;
  /** CPU µs per measured step, or null where /proc could not tell. */
  cpu: RankCpu | null;
}

/**
 * This rank's CPU per step: its main thread, its other threads (heartbeat, keeper, V8's, libuv's),
 * its FMS, and on rank 0 the launcher (in the bare arms, the bench process serving the store).
 */
interface RankCpu {
  main: number;
  threads: number;
  fms: number;
  launcher: number;
}

async function loop(l: Loop, fms: number | undefined, launcher: number | undefined): Promise<LoopResult> {
  const others = [fms, launcher].filter((p): p is number => p !== undefined);
  const stepTimes: number[] = [];
  const commitTimes: number[] = [];
  let meter: ReturnType<typeof cpuMeter> | undefined;
  const begun = performance.now();
  // The first timed step; a time floor makes it unknown until the ranks agree on it. They allreduce
  // together, so they must leave the warm-up at the same step: each check takes the longest any
  // has warmed up. Every arm checks alike, and only before the timed window, so no arm is biased.
  let from = warmupMs > 0 ? Infinity : warmup;
  for (let s = 0; s < from + steps; s++) {
    if (from === Infinity && s >= warmup && (s - warmup) % AGREE_EVERY === 0) {
      if ((await l.max(performance.now() - begun)) >= warmupMs) from = s;
    }
    if (s === from) {
      await l.edge?.('start');
      meter = cpuMeter(others);
    }
    const t0 = process.hrtime.bigint();
    const w = l.current();
    gradient(w, grad);
    await l.allreduce(grad);
    sgd(w, grad, l.next());
    const t1 = process.hrtime.bigint();
    l.commit();
    const t2 = process.hrtime.bigint();
    if (s >= from) {
      stepTimes.push(Number(t2 - t0) / 1e3);
      commitTimes.push(Number(t2 - t1) / 1e3);
    }
  }
  // The mean, not the median: work done every Nth step (a replica, a file) must count.
  const split = meter?.read();
  await l.edge?.('end');
  let cpu: RankCpu | null = null;
  if (split) {
    const [a = 0, b = 0] = split.others;
    cpu = { main: split.main / steps, threads: split.threads / steps, fms: fms === undefined ? 0 : a / steps, launcher: launcher === undefined ? 0 : (fms === undefined ? a : b) / steps };
  }
  const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
  return { stepUs: mean(stepTimes), commitUs: median(commitTimes), commitMeanUs: mean(commitTimes), cpu };
}

function memcpyUs(): number {
  const dst = new Uint8Array(new SharedArrayBuffer(n * 4));
  const src = new Uint8Array(initial.buffer);
  const t: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = process.hrtime.bigint();
    dst.set(src);
    t.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  return median(t);
}

if (values.mode === 'bare' || values.mode === 'bare-copy') {
  const snapshots = values.mode === 'bare-copy' ? Array.from({ length: 5 }, () => new Uint8Array(new SharedArrayBuffer(n * 4))) : [];
  let next = 0;
  const copy = (): void => {
    const dst = snapshots[next++ % snapshots.length];
    dst?.set(new Uint8Array(initial.buffer));
  };
  process.once('message', (m: { store: string; secret: string; job: string; rank: number; world: number }) => {
    void (async () => {
      const store = await openStore(m.store, { secret: m.secret });
      const comm = await createCommunicator({ ...m, generation: 0, store });
      // The bench process (it serves the store) counts on rank 0, as the launcher does under Rollcall.
      const r = await loop({ allreduce: (g) => comm.allreduce(g, 'avg'), max: async (ms) => (await comm.allreduce(new Float64Array([ms]), 'max'))[0] as number, current: () => initial, next: () => initial, commit: copy }, undefined, m.rank === 0 ? process.ppid : undefined);
      process.send?.({ rank: m.rank, ...r });
      comm.close();
      await store.close();
      process.exit(0);
    })();
  });
} else {
  const job = await connect();
  const state = job.registerState({ weights: initial }, { replicated: values.replicated });
  let r: LoopResult = { stepUs: 0, commitUs: 0, commitMeanUs: 0, cpu: null };
  // What the further peers' stream cost this node's keeper: in the timed window, and over the whole run.
  let opened = noCost();
  let window = noCost();
  // Our FMS is our parent; the launcher (the bench process, which also serves the store) its parent.
  const launcher = job.rank === 0 ? parentOf(process.ppid) : undefined;
  const commits = values.mode !== 'rollcall-no-commit';
  const drafts = values.mode === 'rollcall-draft';
  await job.run(state, async (s) => {
    r = await loop({
      allreduce: (g) => job.allreduce(g, 'avg'),
      max: async (ms) => (await job.allreduce(new Float64Array([ms]), 'max'))[0] as number,
      current: () => s.values.weights,
      next: () => (drafts ? s.draft('weights') : s.values.weights),
      commit: () => {
        s.step += 1;
        if (commits) s.commit();
      },
      edge: async (at) => {
        if (at === 'start') opened = await state.furtherStreamCost();
        else window = costSince(await state.furtherStreamCost(), opened);
      },
    }, process.ppid, launcher);
  });
  const further: FurtherCost = { window, run: await state.furtherStreamCost() };
  job.result({ ...r, memcpyUs: memcpyUs(), verification: state.verification, further });
  await job.close();
}

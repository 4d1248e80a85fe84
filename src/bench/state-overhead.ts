import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { TimeoutError } from '../errors.js';
import { DEFAULT_REPLICATE_MS, DEFAULT_VERSION_MS, resolveLaunchOptions } from '../launch/launch-options.js';
import { launch } from '../launch/launcher.js';
import type { ProxyKind } from '../protocol/program-ipc.js';
import { startStoreServer } from '../store/tcp-store-server.js';
import { costSum, type FurtherStreamCost } from '../state/stream-cost.js';
import { median } from '../util/stats.js';

const PROGRAM = fileURLToPath(new URL('./state-overhead-program.js', import.meta.url));

export interface StateBenchOptions {
  ranks: number;
  bytes: number;
  steps: number;
  warmup: number;
  /** The warm-up also lasts at least this long (0: no floor). */
  warmupMs: number;
  rounds: number;
  json: boolean;
  persistEvery?: number;
  replicateEvery?: number;
  replicateMs?: number;
  versionEvery?: number;
  versionMs?: number;
  /** As for launch; and whether the program declares its state replicated (then the members compare digests). */
  verifyEvery?: number;
  replicas?: number;
  replicated?: boolean;
  proxy: ProxyKind;
  /** Also run, each round, the Rollcall loop with the live dashboard and /metrics on, polled as a page would. */
  dashboard?: boolean;
}

/**
 * Step time of the same loop on the bare library, on the bare library plus a plain copy of the
 * state per step, and under Rollcall (proxy, heartbeats, a commit per step: copying, and taking
 * a draft), in turn `rounds` times so that machine noise hits all four alike.
 */
export async function benchState(o: StateBenchOptions, out: (line: string) => void): Promise<void> {
  const bare: number[] = [];
  const copied: number[] = [];
  const rc: number[] = [];
  const drafted: number[] = [];
  const commits: number[] = [];
  const draftCommits: number[] = [];
  const commitMeans: number[] = [];
  const copies: number[] = [];
  const memcpys: number[] = [];
  const watched: number[] = [];
  // CPU per step of the whole job (every rank, its FMS, the launcher), per arm and round.
  const cpu = { bare: [] as JobCpu[], copied: [] as JobCpu[], rc: [] as JobCpu[], drafted: [] as JobCpu[] };
  const args = ['--bytes', String(o.bytes), '--steps', String(o.steps), '--warmup', String(o.warmup), '--warmup-ms', String(o.warmupMs)];
  for (let i = 0; i < o.rounds; i++) {
    const b = await runBare(o, 'bare', args);
    bare.push(b.stepUs);
    cpu.bare.push(b.cpu);
    const c = await runBare(o, 'bare-copy', args);
    copied.push(c.stepUs);
    copies.push(c.commitUs);
    cpu.copied.push(c.cpu);
    const r = await runRollcall(o, 'rollcall', args);
    rc.push(r.stepUs);
    commits.push(r.commitUs);
    commitMeans.push(r.commitMeanUs);
    memcpys.push(r.memcpyUs);
    cpu.rc.push(r.cpu);
    const d = await runRollcall(o, 'rollcall-draft', args);
    drafted.push(d.stepUs);
    draftCommits.push(d.commitUs);
    cpu.drafted.push(d.cpu);
    if (o.dashboard) watched.push((await runRollcall(o, 'rollcall', args, true)).stepUs);
  }
  // The median of per-round ratios: rounds differ by far more than the overheads sought here
  // (a shared machine; docs/benchmarks.md, "Versioned state: overhead and commit cost"), and
  // the arms of one round, run back to back, share that round's conditions.
  const pct = (a: number[], b: number[]): number => +((median(a.map((x, i) => x / (b[i] as number))) - 1) * 100).toFixed(1);
  const total = (a: JobCpu[]): number[] => a.map((c) => c.total);
  const parts = (a: JobCpu[]): JobCpu => ({
    total: Math.round(median(a.map((c) => c.total))),
    main: Math.round(median(a.map((c) => c.main))),
    threads: Math.round(median(a.map((c) => c.threads))),
    fms: Math.round(median(a.map((c) => c.fms))),
    launcher: Math.round(median(a.map((c) => c.launcher))),
  });
  // What Rollcall runs besides the ranks' main threads (its threads, FMSes, launcher, less what
  // the bare arm's own threads and store took in the same round), and the commits on the ranks'
  // threads, as shares of the ranks' main-thread CPU: counted per thread, so far steadier than
  // step time on a shared machine, where the ratios above move by more than 1 % (docs/benchmarks.md, "Ninth session").
  const besides = (arm: JobCpu[]): number[] =>
    arm.map((c, i) => {
      const b = cpu.bare[i] as JobCpu;
      return ((c.threads + c.fms + c.launcher - b.threads - b.launcher) / c.main) * 100;
    });
  const share = (xs: number[]): number => +median(xs).toFixed(2);
  const commitShares = cpu.rc.map((c, i) => (((commitMeans[i] as number) * o.ranks) / c.main) * 100);
  const row = {
    ranks: o.ranks,
    bytes: o.bytes,
    steps: o.steps,
    warmup: o.warmup,
    warmup_ms: o.warmupMs,
    persist_every: o.persistEvery ?? null,
    replicate_every: o.replicateEvery ?? null,
    replicate_ms: o.replicateEvery === undefined ? (o.replicateMs ?? DEFAULT_REPLICATE_MS) : null,
    version_every: o.versionEvery ?? null,
    version_ms: o.versionEvery === undefined ? (o.versionMs ?? DEFAULT_VERSION_MS) : null,
    proxy: o.proxy,
    bare_step_us: Math.round(median(bare)),
    bare_copy_step_us: Math.round(median(copied)),
    rollcall_step_us: Math.round(median(rc)),
    rollcall_draft_step_us: Math.round(median(drafted)),
    overhead_pct: pct(rc, bare),
    draft_overhead_pct: pct(drafted, bare),
    copy_overhead_pct: pct(copied, bare),
    overhead_beyond_copy_pct: pct(rc, copied),
    commit_us: +median(commits).toFixed(1),
    commit_mean_us: +median(commitMeans).toFixed(1),
    draft_commit_us: +median(draftCommits).toFixed(1),
    copy_in_loop_us: +median(copies).toFixed(1),
    memcpy_us: +median(memcpys).toFixed(1),
    // NaN where /proc could not tell (not Linux): JSON prints null.
    cpu_us: { bare: parts(cpu.bare), bare_copy: parts(cpu.copied), rollcall: parts(cpu.rc), rollcall_draft: parts(cpu.drafted) },
    cpu_overhead_pct: pct(total(cpu.rc), total(cpu.bare)),
    draft_cpu_overhead_pct: pct(total(cpu.drafted), total(cpu.bare)),
    copy_cpu_overhead_pct: pct(total(cpu.copied), total(cpu.bare)),
    besides_ranks_pct: share(besides(cpu.rc)),
    // The same CPU per node and per second of the job's wall time: what must not grow with the
    // number of nodes (issue 26), whatever the step time (oversubscribed, it grows).
    per_node_ms_per_s: perNodePerSecond(cpu.rc, cpu.bare, rc, o.ranks),
    draft_besides_ranks_pct: share(besides(cpu.drafted)),
    commit_share_pct: share(commitShares),
    cpu_samples_us: { bare: total(cpu.bare).map(Math.round), bare_copy: total(cpu.copied).map(Math.round), rollcall: total(cpu.rc).map(Math.round), rollcall_draft: total(cpu.drafted).map(Math.round) },
    bare_samples_us: bare.map(Math.round),
    bare_copy_samples_us: copied.map(Math.round),
    rollcall_samples_us: rc.map(Math.round),
    rollcall_draft_samples_us: drafted.map(Math.round),
    ...(o.dashboard ? { dashboard_step_us: Math.round(median(watched)), dashboard_overhead_pct: pct(watched, rc), dashboard_samples_us: watched.map(Math.round) } : {}),
  };
  if (o.json) out(JSON.stringify(row));
  else {
    out(`${o.ranks} ranks, ${o.bytes} bytes, ${o.steps} steps after ${o.warmup}${o.warmupMs > 0 ? ` and at least ${o.warmupMs} ms` : ''}, ${o.rounds} rounds, files ${o.persistEvery === undefined ? 'of every 10th replicated version' : `every ${o.persistEvery} versions`}, versions ${o.versionEvery === undefined ? `at least ${o.versionMs ?? DEFAULT_VERSION_MS} ms apart (more if costly)` : `every ${o.versionEvery} commits`}, replicas ${o.replicateEvery === undefined ? `about ${o.replicateMs ?? DEFAULT_REPLICATE_MS} ms apart` : `every ${o.replicateEvery} commits`}, proxy ${o.proxy} (per-step means; medians of the rounds, and of per-round ratios)`);
    out(`  bare library          ${row.bare_step_us} us/step   (${row.bare_samples_us.join(' ')})`);
    out(`  bare + a plain copy   ${row.bare_copy_step_us} us/step   (${row.bare_copy_samples_us.join(' ')})   ${row.copy_overhead_pct}% over bare`);
    out(`  under Rollcall        ${row.rollcall_step_us} us/step   (${row.rollcall_samples_us.join(' ')})   overhead ${row.overhead_pct}% (${row.overhead_beyond_copy_pct}% over bare + copy)`);
    out(`  Rollcall, drafts      ${row.rollcall_draft_step_us} us/step   (${row.rollcall_draft_samples_us.join(' ')})   overhead ${row.draft_overhead_pct}% (the update written into state.draft(), committed without a copy)`);
    if (row.dashboard_step_us !== undefined) out(`  with --dashboard      ${row.dashboard_step_us} us/step   (${row.dashboard_samples_us!.join(' ')})   ${row.dashboard_overhead_pct}% over Rollcall without it (a page and a Prometheus scrape polling it)`);
    const c = row.cpu_us;
    const split = (p: JobCpu): string => `${p.total} us = main threads ${p.main} + other threads ${p.threads} + FMSes ${p.fms} + launcher ${p.launcher}`;
    out(`  CPU per step, every process of the job (medians; overheads are medians of per-round ratios):`);
    out(`    bare                ${split(c.bare)}   (${row.cpu_samples_us.bare.join(' ')})`);
    out(`    bare + a plain copy ${split(c.bare_copy)}   ${row.copy_cpu_overhead_pct}% over bare`);
    out(`    under Rollcall      ${split(c.rollcall)}   ${row.cpu_overhead_pct}% over bare   (${row.cpu_samples_us.rollcall.join(' ')})`);
    out(`    Rollcall, drafts    ${split(c.rollcall_draft)}   ${row.draft_cpu_overhead_pct}% over bare   (${row.cpu_samples_us.rollcall_draft.join(' ')})`);
    out(`  Rollcall besides the ranks' threads (its threads, FMSes, launcher; less the bare arm's): ${row.besides_ranks_pct}% of the ranks' CPU (drafts ${row.draft_besides_ranks_pct}%); its commits on the ranks' threads ${row.commit_share_pct}%`);
    const pn = row.per_node_ms_per_s;
    out(`  per node and second: FMS ${pn.fms} ms, program threads ${pn.threads} ms, launcher ${pn.launcher} ms of CPU`);
    out(`  commit                ${row.commit_us} us median, ${row.commit_mean_us} us mean (with the versions), ${row.draft_commit_us} us with a draft   (the plain copy in the same loop: ${row.copy_in_loop_us} us; a memcpy into a hot buffer, alone: ${row.memcpy_us} us)`);
  }
}

interface RankCpu {
  main: number;
  threads: number;
  fms: number;
  launcher: number;
}

interface RankResult {
  stepUs: number;
  commitUs: number;
  cpu: RankCpu | null;
}

/** What the further peers' stream cost one node's keeper (state/stream-cost.ts): in the timed window, and over the whole run. */
export interface FurtherCost {
  window: FurtherStreamCost;
  run: FurtherStreamCost;
}

/** Rank 0's verification of its replicated state over the whole run (State.verification). */
export interface Verification {
  every: number | undefined;
  digests: number;
  digestMs: number;
}

export interface JobCpu extends RankCpu {
  total: number;
}

/**
 * Rollcall's CPU besides the ranks' main threads, per node and per second of wall time (medians
 * of the rounds): its FMS, its program's threads (less the bare program's), the launcher's share.
 */
function perNodePerSecond(rc: readonly JobCpu[], bare: readonly JobCpu[], stepUs: readonly number[], ranks: number): { fms: number; threads: number; launcher: number } {
  const per = (f: (c: JobCpu, b: JobCpu) => number): number =>
    median(rc.map((c, i) => f(c, bare[i] as JobCpu) / ranks / (stepUs[i] as number))) * 1000;
  return {
    fms: +per((c) => c.fms).toFixed(2),
    threads: +per((c, b) => c.threads - b.threads).toFixed(2),
    launcher: +per((c) => c.launcher).toFixed(2),
  };
}

/** The job's CPU per step: every rank's (each with its FMS, one with the launcher), summed; NaN where /proc could not tell. */
function jobCpu(ranks: readonly RankResult[]): JobCpu {
  const sum = { total: 0, main: 0, threads: 0, fms: 0, launcher: 0 };
  for (const { cpu } of ranks) {
    for (const k of ['main', 'threads', 'fms', 'launcher'] as const) sum[k] += cpu?.[k] ?? NaN;
  }
  sum.total = sum.main + sum.threads + sum.fms + sum.launcher;
  return sum;
}

async function runBare(o: StateBenchOptions, mode: 'bare' | 'bare-copy', args: string[]): Promise<{ stepUs: number; commitUs: number; cpu: JobCpu }> {
  const secret = randomBytes(16).toString('hex');
  const server = await startStoreServer({ secret });
  const job = `state-bare-${randomBytes(3).toString('hex')}`;
  const children: ChildProcess[] = [];
  // Generous: 10 ms steps would take a tenth of it. A rank that hangs must not hang the bench.
  const ms = 120_000 + o.warmupMs + (o.steps + 50) * 100;
  let timer: NodeJS.Timeout | undefined;
  try {
    const results = Promise.all(
      Array.from({ length: o.ranks }, (_, rank) => {
        const c = fork(PROGRAM, ['--mode', mode, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        children.push(c);
        c.send({ store: server.address, secret, job, rank, world: o.ranks });
        return new Promise<RankResult>((resolve, reject) => {
          c.once('message', (m: RankResult) => resolve(m));
          c.once('exit', (code) => reject(new Error(`bare rank ${rank} exited with ${code}`)));
        });
      }),
    );
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`state bench: the bare ${mode} ranks did not finish within ${ms} ms`)), ms);
    });
    const all = await Promise.race([results, deadline]);
    return { ...(all[0] as RankResult), cpu: jobCpu(all) };
  } finally {
    clearTimeout(timer);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await server.close();
  }
}

export async function runRollcall(
  o: StateBenchOptions,
  mode: 'rollcall' | 'rollcall-draft',
  args: string[],
  dashboard = false,
): Promise<{ stepUs: number; commitUs: number; commitMeanUs: number; memcpyUs: number; cpu: JobCpu; verification?: Verification; further: FurtherCost }> {
  const opts = resolveLaunchOptions({
    dashboard: dashboard ? '127.0.0.1:0' : undefined,
    nodes: o.ranks,
    command: [process.execPath, PROGRAM, '--mode', process.env.ROLLCALL_BENCH_MODE ?? mode, ...args, ...(o.replicated ? ['--replicated'] : [])],
    quiet: true,
    persistEvery: o.persistEvery,
    replicateEvery: o.replicateEvery,
    replicateMs: o.replicateMs,
    versionEvery: o.versionEvery,
    versionMs: o.versionMs,
    verifyEvery: o.verifyEvery,
    replicas: o.replicas,
    proxy: o.proxy,
  });
  // A watcher as a user would have: the page's event stream open, and /metrics scraped each second.
  const watchers: AbortController[] = [];
  const onDashboard = (url: string): void => {
    const ac = new AbortController();
    watchers.push(ac);
    fetch(`${url}events`, { signal: ac.signal })
      .then(async (res) => {
        for await (const chunk of res.body ?? []) void chunk;
      })
      .catch(() => undefined);
    const scrape = setInterval(() => void fetch(`${url}metrics`, { signal: ac.signal }).then((r) => r.text(), () => undefined), 1000);
    ac.signal.addEventListener('abort', () => clearInterval(scrape));
  };
  const r = await launch(opts, { onDashboard });
  for (const w of watchers) w.abort();
  if (r.outcome !== 'completed') throw new Error(`state bench job ${r.outcome}: ${r.reason}`);
  const first = r.result as RankResult & { commitMeanUs: number; memcpyUs: number; verification?: Verification };
  const all = Object.values(r.results) as (RankResult & { further: FurtherCost })[];
  // Every node's stream, summed: each sends to its further peers and stores what its predecessors send.
  const further = { window: costSum(all.map((x) => x.further.window)), run: costSum(all.map((x) => x.further.run)) };
  return { ...first, cpu: jobCpu(all), further };
}

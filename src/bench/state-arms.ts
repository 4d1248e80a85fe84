import { median } from '../util/stats.js';
import { EXCHANGE_ALLOWANCE_MS } from '../sdk/state-verifier.js';
import type { FurtherStreamCost } from '../state/stream-cost.js';
import { runRollcall, type FurtherCost, type JobCpu, type StateBenchOptions, type Verification } from './state-overhead.js';

/**
 * `rollcall bench state --compare verify|replicas|same`: two Rollcall arms of the state bench's loop
 * that differ in one setting, interleaved round by round (A B, then B A, so that a machine
 * getting busier hits both alike), with the job's CPU counted per thread (bench/cpu-time.ts):
 * - `verify`: the weights declared replicated, compared at the default cadence (B) or never
 *   (A, `--verify-every 0`): what catching silent data corruption costs;
 * - `replicas`: each node's versions copied to 2 peers (B) or 1 (A): what surviving two faults
 *   at once costs. Needs 3 ranks or more (with 2 the one other rank is every peer);
 * - `same`: both arms `--replicas 1`, an A/A run: the spread of its rounds (and how far their
 *   median is from 0) is the noise floor of the A/B difference on this machine at this moment.
 * The cost is B's CPU per step less A's, as a share of A's ranks' main threads: the accounting
 * `bench state` reports as besides_ranks_pct, steadier than step time on a shared machine.
 * On a machine other jobs load heavily, even that moves by more than the costs sought; so for
 * `verify` the B arm's own accounting is given too: its digests' time on the ranks' threads,
 * with the exchange's allowance, per step, as a share of a rank's main-thread CPU per step; and
 * for `replicas` what the further peers' stream cost the B arm's keeper threads, counted there
 * (state/stream-cost.ts, `furtherShares` below).
 */
export type Compare = 'verify' | 'replicas' | 'same';

/** The two arms' settings: everything as given but the one setting compared. */
export function armsOf(o: StateBenchOptions, compare: Compare): Record<'a' | 'b', StateBenchOptions> {
  if (compare === 'verify') return { a: { ...o, replicated: true, verifyEvery: 0 }, b: { ...o, replicated: true, verifyEvery: o.verifyEvery } };
  if (compare === 'replicas') return { a: { ...o, replicas: 1 }, b: { ...o, replicas: 2 } };
  return { a: { ...o, replicas: 1 }, b: { ...o, replicas: 1 } };
}

/** The further peers' stream in one B run, as shares of the ranks' main-thread CPU per step (%): see `furtherShares`. */
export interface FurtherShares {
  /** Versions the nodes sent on the stream in the timed window, and replicas from it they stored. */
  windowSent: number;
  windowStored: number;
  /** The stream's work in the timed window, per step: this thread's CPU (schedstat), and wall time (an upper bound). */
  windowCpuPct: number;
  windowWallPct: number;
  /** Its work per push to a peer (the sender's and the receiver's), over the whole run, in µs. */
  perPushCpuUs: number;
  perPushWallUs: number;
  /** The far lattice at the end of the run; undefined if none was chosen. */
  farEvery: number | undefined;
  /** Per push as above, a push to each of `peers` per version, one version per node every `farEvery` commits: the steady state's cost, which a 600-step window may hold no version of. */
  steadyCpuPct: number;
  steadyWallPct: number;
}

/**
 * One B run's own accounting of its further peers' stream. `main` is the ranks' main-thread CPU
 * per timed step, summed over the ranks (JobCpu.main); the counts are summed over the nodes. The
 * window's share is what those steps carried; but at the far lattice a node sends a version every
 * `farEvery` commits (64 replica intervals, 16-32 s at the defaults), so a window of a few
 * thousand steps holds none or one. So the steady state's share is also given, from the cost per
 * push over the whole run (until the lattice is chosen the stream sends every replica, to the
 * second peer only: more pushes to average over, each the same work), at one version per node
 * every `farEvery` commits, each pushed to all `peers` (the first peer's push is of a version it
 * holds already, so its bytes are not sent again: a per-push mean is, if anything, above it).
 */
export function furtherShares(f: FurtherCost, main: number, steps: number, ranks: number, peers: number): FurtherShares {
  const work = (c: FurtherStreamCost, k: 'cpuUs' | 'wallUs'): number => c.sent[k] + c.stored[k];
  const perStep = (us: number): number => (us / steps / main) * 100;
  const pushes = f.run.sent.pushes;
  const perPush = (k: 'cpuUs' | 'wallUs'): number => (pushes > 0 ? work(f.run, k) / pushes : NaN);
  const steady = (us: number): number => (f.run.farEvery ? ((us * peers * ranks) / f.run.farEvery / main) * 100 : NaN);
  return {
    windowSent: f.window.sent.versions,
    windowStored: f.window.stored.versions,
    windowCpuPct: perStep(work(f.window, 'cpuUs')),
    windowWallPct: perStep(work(f.window, 'wallUs')),
    perPushCpuUs: perPush('cpuUs'),
    perPushWallUs: perPush('wallUs'),
    farEvery: f.run.farEvery,
    steadyCpuPct: steady(perPush('cpuUs')),
    steadyWallPct: steady(perPush('wallUs')),
  };
}

/** One arm's run: a Rollcall job of the bench's loop (tests pass a fake). */
export type ArmRunner = (o: StateBenchOptions, mode: 'rollcall', args: string[]) => Promise<Pick<Awaited<ReturnType<typeof runRollcall>>, 'stepUs' | 'cpu' | 'verification' | 'further'>>;

export async function benchStateArms(o: StateBenchOptions, compare: Compare, out: (line: string) => void, run: ArmRunner = runRollcall): Promise<void> {
  if (compare === 'replicas' && o.ranks < 3) throw new Error('bench state --compare replicas needs --ranks 3 or more: with 2, the other rank is every peer');
  const arms = armsOf(o, compare);
  const args = ['--bytes', String(o.bytes), '--steps', String(o.steps), '--warmup', String(o.warmup), '--warmup-ms', String(o.warmupMs)];
  const cpu = { a: [] as JobCpu[], b: [] as JobCpu[] };
  const step = { a: [] as number[], b: [] as number[] };
  const verified: (Verification | undefined)[] = [];
  const further: FurtherCost[] = [];
  for (let i = 0; i < o.rounds; i++) {
    for (const arm of i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)) {
      const r = await run(arms[arm], 'rollcall', args);
      cpu[arm].push(r.cpu);
      step[arm].push(r.stepUs);
      if (arm === 'b') {
        verified.push(r.verification);
        further.push(r.further);
      }
    }
  }
  const costs = cpu.b.map((b, i) => ((b.total - (cpu.a[i] as JobCpu).total) / (cpu.a[i] as JobCpu).main) * 100);
  const stepRatios = step.b.map((b, i) => (b / (step.a[i] as number) - 1) * 100);
  // Per step: a digest and the allowance every `every` commits, against a rank's main thread.
  const own = verified.map((v, i) => {
    if (!v || !v.every || v.digests === 0) return NaN;
    const perStepMs = (v.digestMs / v.digests + EXCHANGE_ALLOWANCE_MS) / v.every;
    return (perStepMs * 1000 * o.ranks * 100) / (cpu.b[i] as JobCpu).main;
  });
  const shares = further.map((f, i) => furtherShares(f, (cpu.b[i] as JobCpu).main, o.steps, o.ranks, arms.b.replicas ?? 2));
  const med = (f: (s: FurtherShares) => number, digits: number): number => +median(shares.map(f).filter((x) => !Number.isNaN(x))).toFixed(digits);
  const each = (f: (s: FurtherShares) => number, digits: number): (number | null)[] => shares.map((s) => (Number.isNaN(f(s)) ? null : +f(s).toFixed(digits)));
  const row = {
    compare,
    ranks: o.ranks,
    bytes: o.bytes,
    steps: o.steps,
    rounds: o.rounds,
    arm_a: compare === 'verify' ? 'replicated, --verify-every 0' : '--replicas 1',
    arm_b: compare === 'verify' ? `replicated, --verify-every ${o.verifyEvery ?? 'default'}` : compare === 'replicas' ? '--replicas 2' : '--replicas 1 again (A/A: the noise floor)',
    cost_pct: +median(costs).toFixed(3),
    cost_samples_pct: costs.map((c) => +c.toFixed(3)),
    step_pct: +median(stepRatios).toFixed(2),
    ...(compare === 'verify'
      ? {
          verify_every: verified.map((v) => v?.every ?? null),
          digest_ms: verified.map((v) => (v && v.digests > 0 ? +(v.digestMs / v.digests).toFixed(3) : null)),
          verify_share_pct: +median(own.filter((x) => !Number.isNaN(x))).toFixed(4),
          verify_share_samples_pct: own.map((x) => +x.toFixed(4)),
        }
      : {}),
    ...(compare === 'replicas'
      ? {
          // B's further peers' stream, counted on its keeper threads (state/stream-cost.ts): CPU per
          // thread from schedstat, and the wall time of the same code (an upper bound of its CPU).
          further_window_sent: shares.map((s) => s.windowSent),
          further_window_stored: shares.map((s) => s.windowStored),
          further_window_cpu_pct: med((s) => s.windowCpuPct, 4),
          further_window_cpu_samples_pct: each((s) => s.windowCpuPct, 4),
          further_window_wall_pct: med((s) => s.windowWallPct, 4),
          further_window_wall_samples_pct: each((s) => s.windowWallPct, 4),
          further_per_push_cpu_us: each((s) => s.perPushCpuUs, 1),
          further_per_push_wall_us: each((s) => s.perPushWallUs, 1),
          further_pushes_run: further.map((f) => f.run.sent.pushes),
          far_every: shares.map((s) => s.farEvery ?? null),
          further_steady_cpu_pct: med((s) => s.steadyCpuPct, 4),
          further_steady_cpu_samples_pct: each((s) => s.steadyCpuPct, 4),
          further_steady_wall_pct: med((s) => s.steadyWallPct, 4),
          further_steady_wall_samples_pct: each((s) => s.steadyWallPct, 4),
        }
      : {}),
    cpu_us_per_step: { a: cpu.a.map((c) => Math.round(c.total)), b: cpu.b.map((c) => Math.round(c.total)) },
    // Where B's difference lies: per part of the job, B less A as a share of A's ranks' main threads (median of the rounds).
    cost_by_part_pct: Object.fromEntries(
      (['main', 'threads', 'fms', 'launcher'] as const).map((k) => [k, +median(cpu.b.map((bc, i) => ((bc[k] - (cpu.a[i] as JobCpu)[k]) / (cpu.a[i] as JobCpu).main) * 100)).toFixed(3)]),
    ),
    step_us: { a: step.a.map(Math.round), b: step.b.map(Math.round) },
  };
  if (o.json) out(JSON.stringify(row));
  else {
    out(`${o.ranks} ranks, ${o.bytes} bytes, ${o.steps} steps, ${o.rounds} rounds: ${row.arm_b} against ${row.arm_a}`);
    out(`  job CPU per step, B less A, as a share of A's ranks' main threads: ${row.cost_pct}% (median; rounds ${row.cost_samples_pct.join(', ')})`);
    out(`  step time B against A: ${row.step_pct >= 0 ? '+' : ''}${row.step_pct}% (median of per-round ratios; noisy on a shared machine)`);
    const part = row.cost_by_part_pct;
    out(`  B less A by part (medians): ranks' main threads ${part.main}%, their other threads (keeper, heartbeat) ${part.threads}%, FMSes ${part.fms}%, launcher ${part.launcher}%`);
    if (compare === 'same') out(`  (A/A: both arms the same; the spread of these rounds, and their median's distance from 0, is what an A/B difference must exceed here)`);
    if (compare === 'replicas') {
      const list = (xs: readonly (number | null)[]): string => xs.map((x) => x ?? 'n/a').join(', ');
      out(`  B's further-peers stream, its own accounting on the keeper threads (sealing and sending, storing on the peers; per-thread CPU from /proc/thread-self/schedstat, and wall time of the same code, an upper bound):`);
      out(`    timed window, per round: versions sent to further peers ${row.further_window_sent?.join(', ')}; replicas stored from them ${row.further_window_stored?.join(', ')}; their work CPU ${row.further_window_cpu_pct}% (rounds ${list(row.further_window_cpu_samples_pct ?? [])}), wall ${row.further_window_wall_pct}% (rounds ${list(row.further_window_wall_samples_pct ?? [])}) of the ranks' main-thread CPU per step`);
      out(`    steady state: per push to a peer, sender and receiver (whole runs, per round: pushes ${row.further_pushes_run?.join(', ')}), CPU ${list(row.further_per_push_cpu_us ?? [])} us, wall ${list(row.further_per_push_wall_us ?? [])} us; to ${arms.b.replicas ?? 2} peers, one version per node every ${list(row.far_every ?? [])} commits: CPU ${row.further_steady_cpu_pct}% (rounds ${list(row.further_steady_cpu_samples_pct ?? [])}), wall ${row.further_steady_wall_pct}% (rounds ${list(row.further_steady_wall_samples_pct ?? [])}) of the ranks' main-thread CPU per step`);
    }
    if (compare === 'verify') out(`  B's verifications on the ranks' threads (digests + ${EXCHANGE_ALLOWANCE_MS} ms per exchange): ${row.verify_share_pct}% of their CPU per step (every ${row.verify_every?.join(', ')} commits; a digest ${row.digest_ms?.join(', ')} ms)`);
  }
}

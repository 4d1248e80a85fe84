import { median } from '../util/stats.js';
import { EXCHANGE_ALLOWANCE_MS } from '../sdk/state-verifier.js';
import { runRollcall, type JobCpu, type StateBenchOptions, type Verification } from './state-overhead.js';

/**
 * `rollcall bench state --compare verify|replicas`: two Rollcall arms of the state bench's loop
 * that differ in one setting, interleaved round by round (A B, then B A, so that a machine
 * getting busier hits both alike), with the job's CPU counted per thread (bench/cpu-time.ts):
 * - `verify`: the weights declared replicated, compared at the default cadence (B) or never
 *   (A, `--verify-every 0`): what catching silent data corruption costs;
 * - `replicas`: each node's versions copied to 2 peers (B) or 1 (A): what surviving two faults
 *   at once costs. Needs 3 ranks or more (with 2 the one other rank is every peer).
 * The cost is B's CPU per step less A's, as a share of A's ranks' main threads: the accounting
 * `bench state` reports as besides_ranks_pct, steadier than step time on a shared machine.
 * On a machine other jobs load heavily, even that moves by more than the costs sought; so for
 * `verify` the B arm's own accounting is given too: its digests' time on the ranks' threads,
 * with the exchange's allowance, per step, as a share of a rank's main-thread CPU per step.
 */
export type Compare = 'verify' | 'replicas';

export async function benchStateArms(o: StateBenchOptions, compare: Compare, out: (line: string) => void): Promise<void> {
  if (compare === 'replicas' && o.ranks < 3) throw new Error('bench state --compare replicas needs --ranks 3 or more: with 2, the other rank is every peer');
  const arms: Record<'a' | 'b', StateBenchOptions> =
    compare === 'verify'
      ? { a: { ...o, replicated: true, verifyEvery: 0 }, b: { ...o, replicated: true, verifyEvery: o.verifyEvery } }
      : { a: { ...o, replicas: 1 }, b: { ...o, replicas: 2 } };
  const args = ['--bytes', String(o.bytes), '--steps', String(o.steps), '--warmup', String(o.warmup), '--warmup-ms', String(o.warmupMs)];
  const cpu = { a: [] as JobCpu[], b: [] as JobCpu[] };
  const step = { a: [] as number[], b: [] as number[] };
  const verified: (Verification | undefined)[] = [];
  for (let i = 0; i < o.rounds; i++) {
    for (const arm of i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)) {
      const r = await runRollcall(arms[arm], 'rollcall', args);
      cpu[arm].push(r.cpu);
      step[arm].push(r.stepUs);
      if (arm === 'b') verified.push(r.verification);
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
  const row = {
    compare,
    ranks: o.ranks,
    bytes: o.bytes,
    steps: o.steps,
    rounds: o.rounds,
    arm_a: compare === 'verify' ? 'replicated, --verify-every 0' : '--replicas 1',
    arm_b: compare === 'verify' ? `replicated, --verify-every ${o.verifyEvery ?? 'default'}` : '--replicas 2',
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
    cpu_us_per_step: { a: cpu.a.map((c) => Math.round(c.total)), b: cpu.b.map((c) => Math.round(c.total)) },
    step_us: { a: step.a.map(Math.round), b: step.b.map(Math.round) },
  };
  if (o.json) out(JSON.stringify(row));
  else {
    out(`${o.ranks} ranks, ${o.bytes} bytes, ${o.steps} steps, ${o.rounds} rounds: ${row.arm_b} against ${row.arm_a}`);
    out(`  job CPU per step, B less A, as a share of A's ranks' main threads: ${row.cost_pct}% (median; rounds ${row.cost_samples_pct.join(', ')})`);
    out(`  step time B against A: ${row.step_pct >= 0 ? '+' : ''}${row.step_pct}% (median of per-round ratios; noisy on a shared machine)`);
    if (compare === 'verify') out(`  B's verifications on the ranks' threads (digests + ${EXCHANGE_ALLOWANCE_MS} ms per exchange): ${row.verify_share_pct}% of their CPU per step (every ${row.verify_every?.join(', ')} commits; a digest ${row.digest_ms?.join(', ')} ms)`);
  }
}

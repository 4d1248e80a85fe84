import { median } from '../util/stats.js';
import { runRollcall, type JobCpu, type StateBenchOptions } from './state-overhead.js';

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
  for (let i = 0; i < o.rounds; i++) {
    for (const arm of i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)) {
      const r = await runRollcall(arms[arm], 'rollcall', args);
      cpu[arm].push(r.cpu);
      step[arm].push(r.stepUs);
    }
  }
  const costs = cpu.b.map((b, i) => ((b.total - (cpu.a[i] as JobCpu).total) / (cpu.a[i] as JobCpu).main) * 100);
  const stepRatios = step.b.map((b, i) => (b / (step.a[i] as number) - 1) * 100);
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
    cpu_us_per_step: { a: cpu.a.map((c) => Math.round(c.total)), b: cpu.b.map((c) => Math.round(c.total)) },
    step_us: { a: step.a.map(Math.round), b: step.b.map(Math.round) },
  };
  if (o.json) out(JSON.stringify(row));
  else {
    out(`${o.ranks} ranks, ${o.bytes} bytes, ${o.steps} steps, ${o.rounds} rounds: ${row.arm_b} against ${row.arm_a}`);
    out(`  job CPU per step, B less A, as a share of A's ranks' main threads: ${row.cost_pct}% (median; rounds ${row.cost_samples_pct.join(', ')})`);
    out(`  step time B against A: ${row.step_pct >= 0 ? '+' : ''}${row.step_pct}% (median of per-round ratios; noisy on a shared machine)`);
  }
}

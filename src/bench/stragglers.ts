import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolveLaunchOptions } from '../launch/launch-options.js';
import { launch } from '../launch/launcher.js';
import type { LogEvent } from '../protocol/events.js';
import { median } from '../util/stats.js';

const FASHION_MNIST = fileURLToPath(new URL('../../examples/fashion-mnist/main.js', import.meta.url));
const DATA_DIR = '/usr/share/datasets/fashion-mnist';

export interface StragglerBenchOptions {
  /** Fault-free runs of the demo's workload, counting stragglers declared (false positives). */
  runs: number;
  /** Runs with node 1 slowed (`--chaos slow`), timing its replacement. */
  slowRuns: number;
  nodes: number;
  steps?: number | undefined;
  windowMs: number;
  factor: number;
  slowFactor: number;
  json: boolean;
}

export interface StragglerRun {
  kind: 'fault-free' | 'slow';
  outcome: string;
  seconds: number;
  /** Suspicions (above the factor, for less than the window or more), by node. */
  suspected: number[];
  /** The highest compute / median ratio of any suspicion; null: none. */
  max_ratio: number | null;
  /** Confirmed stragglers: declared a fault (cause slow) or reported. */
  declared: number[];
  reported: number[];
  /** Slow runs: from the injection to the fault's declaration, and to every member running again. */
  detect_ms?: number | null;
  recovered_ms?: number | null;
}

/**
 * The workload of `rollcall demo` (Fashion-MNIST on 4 nodes and a spare; the synthetic set when
 * the Debian package is missing), run without faults `runs` times with the straggler rule at its
 * settings: every straggler declared or reported there is a false positive. Then `slowRuns`
 * runs with node 1 slowed from a fifth of the way: the time to its replacement should be the
 * window plus one recovery.
 */
export async function benchStragglers(o: StragglerBenchOptions, out: (line: string) => void): Promise<StragglerRun[]> {
  const real = existsSync(`${DATA_DIR}/train-images-idx3-ubyte.gz`);
  const steps = o.steps ?? (real ? 2 * Math.floor(60_000 / (32 * o.nodes)) : 600);
  const command = [process.execPath, FASHION_MNIST, '--steps', String(steps), ...(real ? [] : ['--synthetic', '--train-size', '20000'])];
  if (!o.json) out(`fashion-mnist${real ? '' : ' (synthetic)'}, ${o.nodes} nodes + 1 spare, ${steps} steps; --straggler-factor ${o.factor} --straggler-window-ms ${o.windowMs}`);
  const runs: StragglerRun[] = [];
  const plan: ('fault-free' | 'slow')[] = [...Array<'fault-free'>(o.runs).fill('fault-free'), ...Array<'slow'>(o.slowRuns).fill('slow')];
  for (const [i, kind] of plan.entries()) {
    const t0 = Date.now();
    const r = await launch(
      resolveLaunchOptions({
        nodes: o.nodes,
        spares: 1,
        command,
        quiet: true,
        stragglerFactor: o.factor,
        stragglerWindowMs: o.windowMs,
        chaosSlowFactor: o.slowFactor,
        chaos: kind === 'slow' ? `slow:node=1@step=${Math.floor(steps / 5)}` : undefined,
      }),
    );
    const run = summarise(kind, r.outcome, (Date.now() - t0) / 1000, r.events);
    runs.push(run);
    out(o.json ? JSON.stringify(run) : `run ${i + 1}/${plan.length} ${kind}: ${run.outcome} in ${run.seconds.toFixed(1)} s, suspected ${JSON.stringify(run.suspected)} (max ${run.max_ratio ?? '-'}x), declared ${JSON.stringify(run.declared)}, reported ${JSON.stringify(run.reported)}${kind === 'slow' ? `, detected ${run.detect_ms} ms, recovered ${run.recovered_ms} ms after the slow-down` : ''}`);
  }
  const free = runs.filter((r) => r.kind === 'fault-free');
  const slow = runs.filter((r) => r.kind === 'slow');
  const summary = {
    fault_free_runs: free.length,
    false_positives: free.filter((r) => r.declared.length + r.reported.length > 0).length,
    runs_with_suspicions: free.filter((r) => r.suspected.length > 0).length,
    slow_runs: slow.length,
    slow_replaced: slow.filter((r) => r.declared.includes(1)).length,
    median_detect_ms: slow.length ? median(slow.flatMap((r) => (r.detect_ms == null ? [] : [r.detect_ms]))) : null,
    median_recovered_ms: slow.length ? median(slow.flatMap((r) => (r.recovered_ms == null ? [] : [r.recovered_ms]))) : null,
  };
  out(o.json ? JSON.stringify(summary) : `summary: ${JSON.stringify(summary)}`);
  return runs;
}

function summarise(kind: StragglerRun['kind'], outcome: string, seconds: number, events: readonly LogEvent[]): StragglerRun {
  const suspected = events.flatMap((e) => (e.event === 'straggler_suspected' ? [e] : []));
  const ratios = suspected.map((e) => (e.median_ms > 0 ? e.compute_ms / e.median_ms : Infinity));
  const declared = events.flatMap((e) => (e.event === 'fault_detected' && e.cause === 'slow' ? e.failed : []));
  const run: StragglerRun = {
    kind,
    outcome,
    seconds,
    suspected: suspected.map((e) => e.node),
    max_ratio: ratios.length ? +Math.max(...ratios).toFixed(2) : null,
    declared,
    reported: events.flatMap((e) => (e.event === 'straggler_reported' ? [e.node] : [])),
  };
  if (kind === 'slow') {
    const injected = events.find((e) => e.event === 'fault_injected');
    const detected = events.find((e) => e.event === 'fault_detected' && e.cause === 'slow');
    const recovered = events.find((e) => e.event === 'recovered');
    run.detect_ms = injected && detected ? detected.ts - injected.ts : null;
    run.recovered_ms = recovered?.event === 'recovered' ? recovered.ms : null;
  }
  return run;
}

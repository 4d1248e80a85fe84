import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MembershipPolicy } from '../protocol/fms-messages.js';
import { resolveLaunchOptions } from '../launch/launch-options.js';
import { launch } from '../launch/launcher.js';
import { median } from '../util/stats.js';

const STEPS_PROGRAM = fileURLToPath(new URL('./steps-program.js', import.meta.url));
const TRAIN_PROGRAM = fileURLToPath(new URL('./train-program.js', import.meta.url));

export type FaultKind = 'kill' | 'stop';

export interface RecoveryBenchOptions {
  modes: MembershipPolicy[];
  faults: FaultKind[];
  samples: number;
  nodes: number;
  spares: number;
  heartbeatMs: number;
  json: boolean;
  /** Also run a fault-free job this long with every core busy, counting false detections. */
  loadMs: number;
  /** Run the training loop with registered state: the recovery includes the rollback. */
  state: boolean;
  /** Also run every sample on this external store (etcd://…), interleaved with the embedded one. */
  store?: string | undefined;
}

export interface RecoveryResult {
  mode: MembershipPolicy;
  fault: FaultKind;
  /** 'embedded', or the external store's URL. */
  store: string;
  /** Median of per-sample ratios to the embedded store's sample taken just before; external stores only. */
  ratio_to_embedded?: number;
  nodes: number;
  state: boolean;
  median_ms: number;
  samples_ms: number[];
}

/** A sample's job starts N FMSes and N programs on this machine's cores: 32 nodes took 25-40 s to reach step 30 under load. */
const sampleTimeoutMs = (nodes: number): number => 60_000 + 3_000 * nodes;

/**
 * One job per sample, each with one fault injected by --chaos at step 30 on a node chosen in
 * turn. The recovery time is the launcher's own `recovered` event: from the injection to the
 * last member running its next operation in the new generation, all timestamps taken where
 * they happened.
 */
export async function benchRecovery(o: RecoveryBenchOptions, out: (line: string) => void): Promise<RecoveryResult[]> {
  const results: RecoveryResult[] = [];
  const stores = o.store === undefined ? [undefined] : [undefined, o.store];
  if (!o.json) out(`${'mode'.padEnd(8)} ${'fault'.padEnd(6)} ${'store'.padEnd(10)} ${'median ms'.padStart(10)}  samples (ms)   [${o.nodes} nodes, ${o.spares} spare(s), heartbeat ${o.heartbeatMs} ms${o.state ? ', with state rollback' : ''}]`);
  for (const mode of o.modes) {
    for (const fault of o.faults) {
      // Each sample runs on every store back to back, so a noisy moment on a shared machine
      // hits both sides of the comparison.
      const samples = stores.map((): number[] => []);
      for (let i = 0; i < o.samples; i++) {
        for (const [k, store] of stores.entries()) samples[k]!.push(await oneRecovery(o, mode, fault, i % o.nodes, store));
      }
      for (const [k, store] of stores.entries()) {
        const s = samples[k]!;
        const r: RecoveryResult = { mode, fault, store: store ?? 'embedded', nodes: o.nodes, state: o.state, median_ms: median(s), samples_ms: s };
        if (store !== undefined) r.ratio_to_embedded = Math.round(median(s.map((v, i) => v / samples[0]![i]!)) * 100) / 100;
        results.push(r);
        const label = store === undefined ? 'embedded' : 'etcd';
        out(o.json ? JSON.stringify(r) : `${mode.padEnd(8)} ${fault.padEnd(6)} ${label.padEnd(10)} ${r.median_ms.toFixed(0).padStart(10)}  ${s.join(' ')}${r.ratio_to_embedded !== undefined ? `   (${r.ratio_to_embedded}x embedded)` : ''}`);
      }
    }
  }
  if (o.loadMs > 0) {
    const r = await falseDetectionsUnderLoad(o);
    out(o.json ? JSON.stringify(r) : `under load (${r.busy_processes} busy processes, ${r.duration_ms} ms, ${r.steps} steps): ${r.false_detections} false detection(s)`);
  }
  return results;
}

function programCommand(o: RecoveryBenchOptions): string[] {
  // The training loop commits 256 KiB of weights every step; it stops when the bench stops it.
  if (o.state) return [process.execPath, TRAIN_PROGRAM, '--steps', '1000000', '--elements', '65536', '--step-ms', '5'];
  return [process.execPath, STEPS_PROGRAM, '--steps', '0', '--step-ms', '5'];
}

async function oneRecovery(o: RecoveryBenchOptions, mode: MembershipPolicy, fault: FaultKind, node: number, store: string | undefined): Promise<number> {
  // Each sample's event log is kept where a failed sample says, so that a failure can be read.
  const events = join(mkdtempSync(join(tmpdir(), 'rollcall-bench-recovery-')), 'events.jsonl');
  const opts = resolveLaunchOptions({
    events,
    store,
    nodes: o.nodes,
    spares: o.spares,
    onFault: mode,
    heartbeatMs: o.heartbeatMs,
    chaos: `${fault}:node=${node}@step=30`,
    command: programCommand(o),
    quiet: true,
  });
  const stop = new AbortController();
  let ms: number | undefined;
  const timer = setTimeout(() => stop.abort('sample timed out'), sampleTimeoutMs(o.nodes));
  const r = await launch(opts, {
    stopSignal: stop.signal,
    onEvent: (e) => {
      if (e.event === 'recovered' && ms === undefined) {
        ms = e.ms;
        stop.abort('sample done');
      }
    },
  });
  clearTimeout(timer);
  if (ms === undefined) throw new Error(`${mode}/${fault} on node ${node}${store ? ` (store ${store})` : ''}: no recovery (${r.outcome}: ${r.reason}); event log ${events}`);
  rmSync(dirname(events), { recursive: true, force: true });
  return ms;
}

/** Busy loops, one per core and then some, started as separate processes. */
function busyProcesses(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
}

async function falseDetectionsUnderLoad(o: RecoveryBenchOptions): Promise<{ fault: 'none'; busy_processes: number; duration_ms: number; steps: number; false_detections: number; heartbeat_ms: number }> {
  const busy = busyProcesses(4);
  try {
    const opts = resolveLaunchOptions({ nodes: o.nodes, spares: o.spares, heartbeatMs: o.heartbeatMs, command: programCommand(o), quiet: true });
    const stop = new AbortController();
    let steps = 0;
    let started = 0;
    let timer: NodeJS.Timeout | undefined;
    const r = await launch(opts, {
      stopSignal: stop.signal,
      onProgress: (_node, step) => (steps = Math.max(steps, step)),
      onEvent: (e) => {
        // The clock starts when the job runs, not while it starts up.
        if (e.event === 'proxy_started' && ++started === o.nodes) timer = setTimeout(() => stop.abort('load run done'), o.loadMs);
      },
    });
    clearTimeout(timer);
    return {
      fault: 'none',
      busy_processes: busy.length,
      duration_ms: o.loadMs,
      steps,
      false_detections: r.events.filter((e) => e.event === 'fault_detected').length,
      heartbeat_ms: o.heartbeatMs,
    };
  } finally {
    for (const b of busy) b.kill('SIGKILL');
  }
}

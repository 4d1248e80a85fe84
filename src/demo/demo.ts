import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderReport } from '../dashboard/report.js';
import { JobFailedError, JobStoppedError } from '../errors.js';
import { parseEvent, type EventLine, type EventOf } from '../protocol/events.js';
import { resolveLaunchOptions } from '../launch/launch-options.js';
import { launch, type LaunchResult } from '../launch/launcher.js';
import { ProgressView } from './progress-view.js';

const PROGRAM = fileURLToPath(new URL('../../examples/fashion-mnist/main.js', import.meta.url));
const DATA_DIR = '/usr/share/datasets/fashion-mnist';

/**
 * The demo's job is over in some 20 s, before the README's reader has opened the page it
 * printed: its dashboard stays up this long after (README.md, "Watching a job").
 */
export const DEMO_DASHBOARD_LINGER_MS = 60_000;

export interface DemoOptions {
  nodes: number;
  spares: number;
  /** Undefined: two epochs of the real data set (its test accuracy: README.md), or 600 steps of the synthetic one. */
  steps: number | undefined;
  /** Step at which node 2's program is killed; 0: no fault; undefined: half-way. */
  crashAt: number | undefined;
  synthetic: boolean;
  verify: boolean;
  events: string | undefined;
  /** [HOST:]PORT of a live dashboard. */
  dashboard?: string | undefined;
  /** How long the dashboard keeps serving the final view after the job (default DEMO_DASHBOARD_LINGER_MS). */
  dashboardLingerMs?: number;
  /** Write an HTML report of the run here. */
  report?: string | undefined;
  json: boolean;
  /** Stops the run (the CLI wires SIGINT, SIGTERM and the loss of its parent here). */
  stopSignal?: AbortSignal;
}

export interface DemoSummary {
  nodes: number;
  spares: number;
  steps: number;
  accuracy: number;
  /** Members at the start and at the end: a job that went on smaller says so. */
  world_start: number;
  world_end: number;
  faults: number;
  recoveries: { generation: number; ms: number; steps_redone: number; ms_redone: number | null }[];
  digest: string;
  fault_free_digest: string | null;
  match: boolean | null;
  synthetic: boolean;
  seconds: number;
}

interface TrainResult {
  steps: number;
  accuracy: number;
  digest: string;
}

/**
 * The main job: Fashion-MNIST training on 4 nodes and a warm spare, a crash injected half-way,
 * and the recovery shown as it happens. With --verify the same job runs again without the
 * fault, and the two final digests must be equal (replace mode is bit-identical).
 */
export async function runDemo(o: DemoOptions, out: (line: string) => void, err: NodeJS.WriteStream): Promise<DemoSummary> {
  const haveData = existsSync(`${DATA_DIR}/train-images-idx3-ubyte.gz`);
  const synthetic = o.synthetic || !haveData;
  if (!o.json && !haveData && !o.synthetic) err.write(`Fashion-MNIST not found in ${DATA_DIR} (Debian package dataset-fashion-mnist): using the synthetic data set\n`);
  // 128 samples per step with 4 nodes: 936 steps are two epochs of the 60 000 images.
  const steps = o.steps ?? (synthetic ? 600 : 2 * Math.floor(60_000 / (32 * o.nodes)));
  const program = [process.execPath, PROGRAM, '--steps', String(steps), ...(synthetic ? ['--synthetic', '--train-size', '20000'] : [])];
  // Not half-way: that is an epoch end, where the programs evaluate, and the recovery would
  // wait for the evaluation to finish before anyone reaches its next operation.
  const crashAt = Math.min(o.crashAt ?? Math.floor(steps * 0.4), steps - 1);
  const t0 = Date.now();
  let dashboardUrl: string | undefined;
  const view = new ProgressView(err, steps, !o.json);
  view.say(`training Fashion-MNIST${synthetic ? ' (synthetic)' : ''} on ${o.nodes} nodes + ${o.spares} spare, ${steps} steps${crashAt > 0 ? `; node 2 will crash at step ${crashAt}` : ''}`);
  const run = await launch(
    resolveLaunchOptions({
      nodes: o.nodes,
      spares: o.spares,
      events: o.events,
      chaos: crashAt > 0 ? `kill:node=${Math.min(2, o.nodes - 1)}@step=${crashAt}` : undefined,
      command: program,
      dashboard: o.dashboard,
      dashboardLingerMs: o.dashboardLingerMs ?? DEMO_DASHBOARD_LINGER_MS,
      quiet: true,
    }),
    {
      onEvent: (e) => view.event(e),
      onProgress: (_n, step) => view.progress(step),
      onDashboard: (url) => {
        dashboardUrl = url;
        // On stderr even with --json (stdout holds only the summary): asked for, it must be found.
        if (o.json) err.write(`dashboard: ${url}\n`);
        else view.say(`dashboard: ${url}`);
      },
      stopSignal: o.stopSignal,
    },
  );
  if (o.report) {
    writeFileSync(o.report, renderReport(run.events));
    view.say(`report: ${o.report}`);
  }
  view.done();
  const result = expectCompleted(run, 'the demo job');
  const seconds = (Date.now() - t0) / 1000;

  let faultFree: TrainResult | undefined;
  if (o.verify) {
    view.say('verifying: the same job again, without the fault...');
    const check = new ProgressView(err, steps, !o.json);
    const ref = await launch(resolveLaunchOptions({ nodes: o.nodes, spares: o.spares, command: program, quiet: true }), { onProgress: (_n, s) => check.progress(s), stopSignal: o.stopSignal });
    check.done();
    faultFree = expectCompleted(ref, 'the fault-free job');
  }

  const summary: DemoSummary = {
    nodes: o.nodes,
    spares: o.spares,
    steps: result.steps,
    accuracy: result.accuracy,
    ...worldOf(run),
    faults: run.events.filter((e) => e.event === 'fault_detected').length,
    recoveries: recoveriesOf(run.events),
    digest: result.digest,
    fault_free_digest: faultFree?.digest ?? null,
    match: faultFree ? faultFree.digest === result.digest : null,
    synthetic,
    seconds,
  };
  if (o.json) out(JSON.stringify(summary));
  else for (const l of describe(summary)) out(l);
  const linger = o.dashboardLingerMs ?? DEMO_DASHBOARD_LINGER_MS;
  if (dashboardUrl !== undefined && linger > 0 && !o.stopSignal?.aborted) {
    err.write(`dashboard: the job has ended; its final view stays at ${dashboardUrl} for ${Math.round(linger / 1000)} s (Ctrl-C to close it now)\n`);
  }
  return summary;
}

function expectCompleted(r: LaunchResult, what: string): TrainResult {
  if (r.outcome === 'stopped') throw new JobStoppedError(`${what} was ${r.reason ?? 'stopped'}`);
  if (r.outcome !== 'completed') {
    const started = r.events.find((e) => e.event === 'job_started');
    const ended = r.events.find((e) => e.event === 'job_failed');
    throw new JobFailedError(String(started?.job ?? '?'), `${what} did not complete: ${r.reason ?? 'unknown'}`, Number(ended?.generation ?? -1));
  }
  return r.result as TrainResult;
}

function worldOf(r: LaunchResult): { world_start: number; world_end: number } {
  const done = r.events.map(parseEvent).find((e): e is EventOf<'job_completed'> => e?.event === 'job_completed');
  return { world_start: done?.worldStart ?? 0, world_end: done?.worldEnd ?? 0 };
}

function recoveriesOf(events: readonly EventLine[]): DemoSummary['recoveries'] {
  const typed = events.map(parseEvent);
  const resumedIn = (g: number): EventOf<'program_resumed'>[] => typed.filter((r): r is EventOf<'program_resumed'> => r?.event === 'program_resumed' && r.generation === g);
  return typed
    .filter((e): e is EventOf<'recovered'> => e?.event === 'recovered')
    .map((e) => {
      const resumed = resumedIn(e.generation);
      const ms = resumed.flatMap((r) => (r.ms_redone === undefined ? [] : [r.ms_redone]));
      return { generation: e.generation, ms: e.ms, steps_redone: Math.max(0, ...resumed.map((r) => r.steps_redone ?? 0)), ms_redone: ms.length > 0 ? Math.max(...ms) : null };
    });
}

function describe(s: DemoSummary): string[] {
  const lines = [
    '',
    `  steps           ${s.steps}`,
    `  test accuracy   ${(s.accuracy * 100).toFixed(1)} %${s.synthetic ? ' (synthetic data)' : ''}`,
    `  world           ${s.world_start} nodes at the start, ${s.world_end} at the end`,
    `  faults          ${s.faults}`,
  ];
  for (const r of s.recoveries) {
    const time = r.ms_redone === null ? '' : ` (${r.ms_redone} ms of work)`;
    lines.push(`  recovery        generation ${r.generation}: ${r.ms} ms, ${r.steps_redone} step(s) redone${time}`);
  }
  lines.push(`  final digest    ${s.digest}`);
  if (s.match !== null) lines.push(`  fault-free run  ${s.fault_free_digest}: ${s.match ? 'identical, bit for bit' : 'DIFFERENT'}`);
  lines.push(`  wall time       ${s.seconds.toFixed(1)} s`);
  return lines;
}

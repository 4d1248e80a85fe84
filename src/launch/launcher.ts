import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realClock } from '../util/clock.js';
import { ChaosScheduler, type ChaosFire } from './chaos.js';
import { initMembership, watchMembership, type MembershipRecord } from '../fms/membership.js';
import { logEvent, type EventFields, type EventName, type LogEvent } from '../protocol/events.js';
import type { Store, Watcher } from '../store/store.js';
import { openStore } from '../store/open-store.js';
import { startStoreServer, type StoreServer } from '../store/tcp-store-server.js';
import { LOOPBACK } from '../util/host.js';
import { JobMetrics } from '../dashboard/metrics.js';
import { startDashboard } from '../dashboard/server.js';
import { JobView } from '../dashboard/job-view.js';
import { EventLog } from './event-log.js';
import { fmsConfig } from './fms-config.js';
import { hasVersions } from './launch-options.js';
import { sendToFms, type FromFms } from '../protocol/fms-messages.js';
import type { LaunchOptions } from './launch-options.js';
import { describeRecovery, RecoveryTracker } from './recovery-tracker.js';

const FMS_MAIN = fileURLToPath(new URL('../fms/fms-main.js', import.meta.url));

export type JobOutcome = 'completed' | 'failed' | 'stopped';

export interface LaunchResult {
  outcome: JobOutcome;
  exitCode: number;
  reason?: string;
  /** What rank 0 of the last generation reported. */
  result?: unknown;
  results: Record<number, unknown>;
  events: LogEvent[];
  /**
   * Resolves once the dashboard is closed: at once without one, else after `dashboardLingerMs`
   * (cut short by the stop signal). The launch itself has returned by then, so the result can
   * be shown while the page still serves the job's final view.
   */
  dashboardClosed: Promise<void>;
}

export interface LaunchHooks {
  onEvent?(e: LogEvent): void;
  /** A program reported its step. */
  onProgress?(node: number, step: number): void;
  /** Human-readable progress lines (stderr in the CLI). */
  log?(line: string): void;
  /** Resolves the launch as stopped; the CLI wires SIGINT/SIGTERM here. */
  stopSignal?: AbortSignal;
  /** The dashboard is up at this address (with --dashboard). */
  onDashboard?(url: string): void;
}

/** How often the event log records each node's step (`node_progress`), so a report can plot it. */
const PROGRESS_LOG_MS = 1000;

interface NodeProc {
  fms: ChildProcess;
  /** The program, once it has connected: what chaos aims at. */
  programPid?: number;
  /** The program's process group (its pid), from its start: what killNode kills. */
  programGroup?: number;
  exited: boolean;
}

const STOP_GRACE_MS = 2000;

/**
 * Runs one job on this machine: the embedded store (the job's runtime environment), one FMS
 * process per node (each in its own process group, its program in another), the chaos
 * schedule, and the event log. Resolves when the job completes, fails or is stopped, after every
 * process of the job has exited.
 */
export async function launch(opts: LaunchOptions, hooks: LaunchHooks = {}): Promise<LaunchResult> {
  const job = opts.job ?? `job-${randomBytes(4).toString('hex')}`;
  const secret = randomBytes(32).toString('hex');
  const say = (line: string): void => {
    if (!opts.quiet) hooks.log?.(line);
  };
  // Started first: a port in use must stop the launch before any process exists.
  const view = new JobView();
  const metrics = new JobMetrics();
  const dashboard = opts.dashboard === undefined ? undefined : await startDashboard(opts.dashboard, view, metrics);
  const log = new EventLog(opts.events, (e) => {
    if (dashboard) {
      view.event(e);
      metrics.event(e);
    }
    hooks.onEvent?.(e);
  });
  const progressLogged = new Map<number, number>();
  if (dashboard) {
    say(`dashboard: ${dashboard.url}`);
    hooks.onDashboard?.(dashboard.url);
  }
  const emit = <N extends EventName>(event: N, fields: EventFields<N>, ts = Date.now()): void => log.write(logEvent(event, fields, ts));

  const tempState = opts.stateDir === undefined;
  const stateDir = opts.stateDir ?? (await mkdtemp(join(tmpdir(), `rollcall-${job}-`)));
  // An external store (etcd) outlives the launcher; without one, the launcher embeds its own.
  const server: StoreServer | undefined = opts.store === undefined ? await startStoreServer({ secret }) : undefined;
  const storeAddress = opts.store ?? (server as StoreServer).address;
  const store: Store = await openStore(storeAddress, { secret, access: opts.storeAccess });
  const nodes = Array.from({ length: opts.nodes }, (_, i) => i);
  const spares = Array.from({ length: opts.spares }, (_, i) => opts.nodes + i);
  let record: MembershipRecord = await initMembership(store, job, { nodes, spares, minNodes: opts.minNodes, policy: opts.policy });
  emit('job_started', {
    job,
    nodes,
    spares,
    policy: opts.policy,
    minNodes: opts.minNodes,
    heartbeatMs: opts.heartbeatMs,
    faultTimeoutMs: opts.faultTimeoutMs,
    command: opts.command,
    stateDir,
    keep: opts.keep,
    resume: opts.resume,
  });
  say(`job ${job}: ${opts.nodes} node(s), ${opts.spares} spare(s), on fault: ${opts.policy}`);

  const procs = new Map<number, NodeProc>();
  const results = new Map<number, unknown>();
  const tracker = new RecoveryTracker();
  let finishing = false;
  let resolveDone!: (r: { outcome: JobOutcome; reason?: string }) => void;
  const done = new Promise<{ outcome: JobOutcome; reason?: string }>((r) => (resolveDone = r));
  const finish = (outcome: JobOutcome, reason?: string): void => {
    if (finishing) return;
    finishing = true;
    resolveDone({ outcome, reason });
  };

  const onEvent = (e: LogEvent): void => {
    log.write(e);
    const rec = tracker.observe(e, record);
    if (rec) {
      emit('recovered', { ...rec });
      say(describeRecovery(rec));
    }
    describe(e, say);
    // Chaos aims at a program once it has connected, as before.
    if (e.event === 'program_started') {
      const p = procs.get(e.node);
      if (p) p.programPid = e.pid;
    }
  };

  const checkCompleted = (): void => {
    if (record.state === 'running' && record.members.length > 0 && record.members.every((n) => results.has(n))) finish('completed');
  };

  const chaos = new ChaosScheduler(opts.chaos, {
    clock: realClock,
    targets: () => record.members.filter((n) => procs.get(n)?.exited === false),
    onFire: (f) => inject(f),
    onError: (e) => say(`chaos: ${(e as Error).message}`),
  });

  /** The --chaos actions that injected their fault at least once. */
  const fired = new Set<ChaosFire['action']>();
  const inject = (f: ChaosFire): void => {
    const p = procs.get(f.node);
    if (!p || p.exited) return;
    const ts = Date.now();
    if (f.action.kind === 'kill-node') {
      killNode(p, 'SIGKILL');
    } else if (f.action.kind === 'slow') {
      // Through the FMS to the program's SDK, which stalls its main thread after each stretch
      // of computing (sdk/compute-meter.ts): see there why not SIGSTOP from here.
      if (p.programPid === undefined) return;
      sendToFms(p.fms, { type: 'slow', factor: opts.chaosSlowFactor });
    } else {
      if (p.programPid === undefined) return;
      try {
        process.kill(p.programPid, f.action.kind === 'kill' ? 'SIGKILL' : f.action.kind === 'stop' ? 'SIGSTOP' : 'SIGUSR2');
      } catch {
        return; // already gone
      }
    }
    emit('fault_injected', { kind: f.action.kind, node: f.node, pid: f.action.kind === 'kill-node' ? p.fms.pid : p.programPid, spec: f.action.spec }, ts);
    fired.add(f.action);
    // A corruption is a fault only once the digests find it; its recovery is timed from that detection.
    if (f.action.kind !== 'corrupt') tracker.injected(ts, record.generation);
  };

  for (const node of [...nodes, ...spares]) {
    const config = fmsConfig(opts, { job, node, secret, store: storeAddress, storeAccess: opts.storeAccess, host: LOOPBACK, stateDir });
    // Its own process group (and its program another): `kill-node` and the final clean-up
    // kill the two groups (killNode).
    const fms = fork(FMS_MAIN, [], { detached: true, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const proc: NodeProc = { fms, exited: false };
    procs.set(node, proc);
    fms.on('message', (m: FromFms) => {
      if (m.type === 'event') onEvent(m.event);
      else if (m.type === 'progress') {
        chaos.onStep(m.node, m.step);
        hooks.onProgress?.(m.node, m.step);
        const now = Date.now();
        if (dashboard) {
          view.progress(m.node, m.step, now);
          if (m.stats?.computeSeconds !== undefined) view.compute(m.node, m.step, m.stats.computeSeconds, now);
          metrics.progress(m.node, m.step, now, m.stats);
        }
        if (now - (progressLogged.get(m.node) ?? 0) >= PROGRESS_LOG_MS) {
          progressLogged.set(m.node, now);
          emit('node_progress', { node: m.node, step: m.step }, now);
        }
      } else if (m.type === 'program') {
        proc.programGroup = m.pid;
      } else if (m.type === 'health') {
        if (dashboard) view.health(m.node, m.phi);
      }
      else if (m.type === 'finished' && m.state === 'done') {
        results.set(m.node, m.result);
        checkCompleted();
      }
    });
    fms.on('exit', (code, signal) => {
      proc.exited = true;
      if (finishing) return;
      emit('fms_exited', { node, code, signal });
      if ([...procs.values()].every((p) => p.exited)) finish('failed', 'every node is gone');
    });
    sendToFms(fms, { type: 'start', config });
  }

  const watcher: Watcher = await watchMembership(store, job, (ev) => {
    if (ev.kind !== 'record') return;
    if (ev.record.generation < record.generation) return;
    record = ev.record;
    if (record.state === 'failed') finish('failed', record.reason ?? 'unknown');
    else checkCompleted();
  });
  chaos.start();
  const onStop = (): void => finish('stopped', String(hooks.stopSignal?.reason ?? 'stopped'));
  if (hooks.stopSignal?.aborted) onStop();
  hooks.stopSignal?.addEventListener('abort', onStop, { once: true });

  const end = await done;
  chaos.stop();
  hooks.stopSignal?.removeEventListener('abort', onStop);
  watcher.close();
  const result = results.get(record.members[0] ?? -1);
  const world = { worldStart: opts.nodes, worldEnd: record.members.length };
  const worldLine = `world ${world.worldStart} at the start, ${world.worldEnd} at the end`;
  // A chaos run that did not inject what it was asked to tested nothing: said even with --quiet.
  const notFired = opts.chaos.filter((a) => !fired.has(a)).map((a) => a.spec);
  if (end.outcome === 'completed') {
    emit('job_completed', { generation: record.generation, result, results: Object.fromEntries(results), ...world, ...(notFired.length > 0 ? { chaosNotFired: notFired } : {}) });
    say(`job completed at generation ${record.generation}: ${worldLine}`);
    if (notFired.length > 0) hooks.log?.(`warning: --chaos action(s) never fired: ${notFired.join(', ')} (the job ended first, or the target had left); exit code ${EXIT_CHAOS_NOT_FIRED}`);
  } else {
    emit('job_failed', { generation: record.generation, reason: end.reason, outcome: end.outcome, ...world });
    // --quiet drops progress, never why the job ended or how to go on from it.
    hooks.log?.(`job ${end.outcome}: ${end.reason}; ${worldLine}`);
  }
  await shutdown(procs);
  await store.close().catch(() => undefined);
  await server?.close();
  log.close();
  const dashboardClosed = dashboard ? lingerThenClose(dashboard, opts.dashboardLingerMs, hooks) : Promise.resolve();
  const kept = end.outcome !== 'completed' && hasVersions(stateDir);
  if (kept) hooks.log?.(`committed state kept in ${stateDir}; continue with --resume ${stateDir}`);
  else if (tempState) await rm(stateDir, { recursive: true, force: true });
  return {
    outcome: end.outcome,
    exitCode: end.outcome === 'completed' ? (notFired.length > 0 ? EXIT_CHAOS_NOT_FIRED : 0) : end.outcome === 'stopped' ? stoppedExitCode(hooks.stopSignal?.reason) : 1,
    reason: end.reason,
    result,
    results: Object.fromEntries(results),
    events: log.events,
    dashboardClosed,
  };
}

/**
 * A job of 20 s is over before anyone opens its page: the dashboard keeps serving the final view
 * and /metrics for `ms`, every process of the job already gone, unless the run is stopped (Ctrl-C).
 */
async function lingerThenClose(dashboard: { url: string; close(): Promise<void> }, ms: number, hooks: LaunchHooks): Promise<void> {
  const stop = hooks.stopSignal;
  if (ms > 0 && !stop?.aborted) {
    hooks.log?.(`dashboard: the job has ended; its final view stays at ${dashboard.url} for ${Math.round(ms / 1000)} s (--dashboard-linger-ms; Ctrl-C to close it now)`);
    await new Promise<void>((resolve) => {
      // Ref'd on purpose: this timer is what keeps the process (and the page) up.
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        stop?.removeEventListener('abort', done);
        resolve();
      }
      stop?.addEventListener('abort', done, { once: true });
    });
  }
  await dashboard.close();
}

/**
 * The job completed, but a --chaos action never injected its fault: the result is printed, and
 * the exit code says the run is no test of what was asked (README.md, "Exit codes").
 */
export const EXIT_CHAOS_NOT_FIRED = 4;

/** 128 + the signal number, as shells report a process ended by that signal. */
export function stoppedExitCode(reason: unknown): number {
  const m = /SIG[A-Z]+/.exec(String(reason));
  const n = m ? constants.signals[m[0] as keyof typeof constants.signals] : undefined;
  return typeof n === 'number' ? 128 + n : 130;
}

/**
 * A node's processes: its FMS's group and its program's, which leads a group of its own
 * (fms/program-process.ts says why). Both at once, as a node that dies takes both. Used by
 * `rollcall node` too.
 */
export function killNodeGroups(fmsPid: number | undefined, programPid: number | undefined, signal: NodeJS.Signals): void {
  for (const pid of [fmsPid, programPid]) {
    // Only a real group: -0 would be our own, -(-1) every process we may signal.
    if (pid === undefined || pid <= 0) continue;
    try {
      process.kill(-pid, signal);
    } catch {
      // The group is already gone.
    }
  }
}

function killNode(p: NodeProc, signal: NodeJS.Signals): void {
  killNodeGroups(p.fms.pid, p.programGroup, signal);
}

/** Asks every FMS to stop its program and exit, then kills whatever is left, group by group. */
async function shutdown(procs: Map<number, NodeProc>): Promise<void> {
  const live = [...procs.values()].filter((p) => !p.exited);
  for (const p of live) {
    sendToFms(p.fms, { type: 'stop' });
  }
  await Promise.all(
    live.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exited) return resolve();
          const t = setTimeout(() => killNode(p, 'SIGKILL'), STOP_GRACE_MS + 1000);
          p.fms.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
        }),
    ),
  );
  // The FMS is gone; a program that ignored SIGTERM (or a child of it) may still be there.
  for (const p of procs.values()) killNode(p, 'SIGKILL');
}

function describe(e: LogEvent, say: (l: string) => void): void {
  switch (e.event) {
    case 'fault_injected':
      say(`chaos: ${e.kind} node ${e.node} (${e.spec})`);
      break;
    case 'fault_detected':
      say(`node ${e.by} detected a fault of node(s) ${e.failed.join(',')} (${e.cause}): ${e.detail}`);
      break;
    case 'membership_updated':
      say(`generation ${e.generation}: members ${e.members.join(',')}${e.removed.length ? `, removed ${e.removed.join(',')}` : ''}${e.added.length ? `, added ${e.added.join(',')}` : ''}`);
      break;
    case 'program_failed':
      say(`node ${e.node}: program exited with code ${String(e.code)}`);
      break;
    case 'fms_error':
    case 'program_error':
      say(`node ${e.node}: ${e.message}`);
      break;
  }
}

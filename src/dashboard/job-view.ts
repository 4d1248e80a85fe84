import { parseEvent, type EventLine } from '../protocol/events.js';

export type NodeRole = 'member' | 'spare' | 'fenced' | 'gone';

export interface NodeRow {
  node: number;
  role: NodeRole;
  rank: number | null;
  pid: number | null;
  step: number;
  stepsPerSec: number;
  /** The highest suspicion any other FMS holds of this node (phi accrual; suspected above 8). */
  phi: number | null;
  /** Its program's compute time per step (ms, between its operations) over its last few seconds, beside steps/s. */
  computeMs: number | null;
  /** Suspected or reported a straggler by its FMS, until cleared (fms/straggler-watch.ts). */
  straggler: 'suspected' | 'reported' | null;
}

export interface RecoveryRow {
  generation: number;
  cause: string;
  failed: number[];
  /** From the fault (as `from` says) to its first detection; null where the detection is the fault (an exit, a reset). */
  detectionMs: number | null;
  /** From the fault to every member running again. */
  recoveryMs: number | null;
  /** What the times count from: the injection, the fault as detected, or the last sign of life of a silent node. */
  from: 'fault_injected' | 'fault_detected' | 'last_sign_of_life' | null;
  stepsRedone: number | null;
  msRedone: number | null;
  /** The common version every member rolled back to. */
  version: number | null;
}

export interface Marker {
  ts: number;
  kind: 'fault' | 'recovered';
  label: string;
}

/** What the dashboard and the report show, as plain JSON. */
export interface ViewState {
  job: string | null;
  generation: number;
  state: 'starting' | 'running' | 'recovering' | 'completed' | 'failed' | 'stopped';
  startedAt: number | null;
  nodes: NodeRow[];
  recoveries: RecoveryRow[];
  markers: Marker[];
  /** Steps over time: `t` in ms since the epoch, one column per node in `nodes` order. */
  series: { t: number[]; steps: Record<string, (number | null)[]> };
  reason: string | null;
}

/** Series rows kept; past this, every other row is dropped, so a long job keeps its whole shape. */
const MAX_ROWS = 1200;


/**
 * Folds a job's event stream (live, or read back from its log) and its progress reports into
 * the view: a row per node, a row per recovery, the fault and recovery marks, and steps over time.
 */
export class JobView {
  private readonly s: ViewState = {
    job: null,
    generation: 0,
    state: 'starting',
    startedAt: null,
    nodes: [],
    recoveries: [],
    markers: [],
    series: { t: [], steps: {} },
    reason: null,
  };
  /** Recent step reports per node, for steps/s over the last few seconds. */
  private readonly recent = new Map<number, { t: number; step: number }[]>();
  private readonly phiBy = new Map<number, Map<number, number>>();
  /** Each node's compute total at a step, a few seconds back: compute time per step is the difference's. */
  private readonly computeAt = new Map<number, { step: number; seconds: number; t: number }[]>();
  private pendingFault: { ts: number; node: number } | undefined;
  private changed = true;

  get state(): Readonly<ViewState> {
    return this.s;
  }

  /** True once since the last call if anything changed (the server pushes only then). */
  takeChanged(): boolean {
    const c = this.changed;
    this.changed = false;
    return c;
  }

  private row(node: number): NodeRow {
    let r = this.s.nodes.find((x) => x.node === node);
    if (!r) {
      r = { node, role: 'spare', rank: null, pid: null, step: 0, stepsPerSec: 0, phi: null, computeMs: null, straggler: null };
      this.s.nodes.push(r);
      this.s.nodes.sort((a, b) => a.node - b.node);
      this.s.series.steps[String(node)] = this.s.series.t.map(() => null);
    }
    return r;
  }

  private openRecovery(generation: number): RecoveryRow {
    let r = this.s.recoveries.find((x) => x.generation === generation);
    if (!r) {
      r = { generation, cause: '', failed: [], detectionMs: null, recoveryMs: null, from: null, stepsRedone: null, msRedone: null, version: null };
      this.s.recoveries.push(r);
    }
    return r;
  }

  event(raw: EventLine): void {
    const e = parseEvent(raw);
    if (!e) return;
    this.changed = true;
    switch (e.event) {
      case 'job_started':
        this.s.job = e.job;
        this.s.startedAt = e.ts;
        e.nodes.forEach((n, rank) => Object.assign(this.row(n), { role: 'member', rank }));
        for (const n of e.spares) this.row(n).role = 'spare';
        this.s.state = 'running';
        break;
      case 'node_started': {
        this.s.job ??= e.job;
        this.s.startedAt ??= e.ts;
        const r = this.row(e.node);
        r.role = e.role;
        this.s.state = 'running';
        break;
      }
      case 'program_started':
        this.row(e.node).pid = e.pid;
        break;
      case 'fault_injected':
        this.pendingFault = { ts: e.ts, node: e.node };
        this.s.markers.push({ ts: e.ts, kind: 'fault', label: `${e.kind} node ${e.node}` });
        break;
      case 'fault_detected': {
        const r = this.openRecovery(e.generation + 1);
        if (r.cause === '') {
          r.cause = e.cause;
          const injected = this.pendingFault && e.failed.includes(this.pendingFault.node) ? this.pendingFault : undefined;
          r.detectionMs = injected ? e.ts - injected.ts : null;
          if (!injected) this.s.markers.push({ ts: e.ts, kind: 'fault', label: `node ${e.failed.join(',')} (${r.cause})` });
        }
        r.failed = [...new Set([...r.failed, ...e.failed])].sort((a, b) => a - b);
        this.s.state = 'recovering';
        break;
      }
      case 'membership_updated': {
        if (e.generation < this.s.generation) break;
        this.s.generation = e.generation;
        for (const r of this.s.nodes) {
          const rank = e.members.indexOf(r.node);
          if (rank >= 0) Object.assign(r, { role: 'member', rank });
          else if (r.role === 'member') Object.assign(r, { role: 'gone', rank: null, stepsPerSec: 0, computeMs: null, straggler: null });
        }
        for (const n of e.removed) Object.assign(this.row(n), { role: this.row(n).role === 'fenced' ? 'fenced' : 'gone', rank: null });
        e.members.forEach((n, rank) => Object.assign(this.row(n), { role: 'member', rank }));
        break;
      }
      case 'straggler_suspected':
      case 'straggler_reported':
        this.row(e.node).straggler = e.event === 'straggler_suspected' ? 'suspected' : 'reported';
        break;
      case 'straggler_cleared':
        this.row(e.node).straggler = null;
        break;
      case 'node_fenced':
        Object.assign(this.row(e.node), { role: 'fenced', rank: null, stepsPerSec: 0, computeMs: null, straggler: null });
        break;
      case 'fms_exited':
        if (this.row(e.node).role !== 'fenced') Object.assign(this.row(e.node), { role: 'gone', rank: null });
        break;
      case 'common_state_selected':
        if (e.generation > 0) this.openRecovery(e.generation).version = e.version;
        break;
      case 'program_resumed': {
        const r = this.openRecovery(e.generation);
        if (e.steps_redone !== undefined) r.stepsRedone = Math.max(r.stepsRedone ?? 0, e.steps_redone);
        if (e.ms_redone !== undefined) r.msRedone = Math.max(r.msRedone ?? 0, e.ms_redone);
        break;
      }
      case 'recovered': {
        const r = this.openRecovery(e.generation);
        r.recoveryMs = e.ms;
        r.from = e.from;
        // The tracker's figure covers faults from outside too (a heartbeat silence: the silence).
        if (e.detectionMs !== undefined) r.detectionMs = e.detectionMs;
        this.pendingFault = undefined;
        this.s.markers.push({ ts: e.ts, kind: 'recovered', label: `generation ${e.generation}: ${e.ms} ms` });
        this.s.state = 'running';
        break;
      }
      case 'node_progress':
        // Progress as the event log records it (once a second per node), for a report.
        this.progress(e.node, e.step, e.ts, true);
        break;
      case 'job_completed':
        this.s.state = 'completed';
        break;
      case 'job_failed':
        this.s.state = e.outcome === 'stopped' ? 'stopped' : 'failed';
        this.s.reason = e.reason ?? null;
        break;
    }
  }

  /** A program reported its step. `sample`: also add a row to the series now (a report's replay). */
  progress(node: number, step: number, now = Date.now(), sample = false): void {
    const r = this.row(node);
    // After a rollback the step goes back to the common version's: the plot shows the dip.
    r.step = step;
    const q = this.recent.get(node) ?? [];
    q.push({ t: now, step });
    while (q.length > 2 && now - q[0]!.t > 5000) q.shift();
    this.recent.set(node, q);
    const first = q[0]!;
    r.stepsPerSec = now > first.t ? Math.max(0, ((step - first.step) * 1000) / (now - first.t)) : 0;
    this.changed = true;
    if (sample) this.sample(now);
  }

  /**
   * A program's running total of compute time (seconds, sent with its progress about once a
   * second): its compute time per step over the last few seconds. A rollback (the step going
   * back) starts the measure again.
   */
  compute(node: number, step: number, computeSeconds: number, now = Date.now()): void {
    const r = this.row(node);
    const q = this.computeAt.get(node) ?? [];
    if (q.length > 0 && (step < q[q.length - 1]!.step || computeSeconds < q[q.length - 1]!.seconds)) q.length = 0;
    q.push({ step, seconds: computeSeconds, t: now });
    while (q.length > 2 && now - q[0]!.t > 5000) q.shift();
    this.computeAt.set(node, q);
    const first = q[0]!;
    if (step > first.step) {
      r.computeMs = Math.round(((computeSeconds - first.seconds) * 1000 * 100) / (step - first.step)) / 100;
      this.changed = true;
    }
  }

  /** What each FMS suspects of the others right now. */
  health(observer: number, phi: Record<string, number>): void {
    this.phiBy.set(observer, new Map(Object.entries(phi).map(([n, p]) => [Number(n), p])));
    for (const r of this.s.nodes) {
      let max: number | null = null;
      for (const [obs, m] of this.phiBy) if (obs !== r.node && m.has(r.node)) max = Math.max(max ?? 0, m.get(r.node)!);
      r.phi = max === null ? null : Math.round(max * 100) / 100;
    }
    this.changed = true;
  }

  /** Appends a row of every node's step at `now` to the series (the live view calls it on a tick). */
  sample(now = Date.now()): void {
    const { t, steps } = this.s.series;
    if (t.length > 0 && now - t[t.length - 1]! < 100) {
      // Same moment: update the last row instead of crowding the plot.
      for (const r of this.s.nodes) steps[String(r.node)]![t.length - 1] = r.role === 'member' ? r.step : null;
      return;
    }
    t.push(now);
    for (const r of this.s.nodes) steps[String(r.node)]!.push(r.role === 'member' ? r.step : null);
    if (t.length > MAX_ROWS) {
      const keep = (_: unknown, i: number): boolean => i % 2 === 0 || i === t.length - 1;
      this.s.series.t = t.filter(keep);
      for (const k of Object.keys(steps)) steps[k] = steps[k]!.filter(keep);
    }
    this.changed = true;
  }
}

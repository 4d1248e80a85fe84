import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { parseEvent, type EventLine } from '../protocol/events.js';
import type { ProgramStats } from '../protocol/program-ipc.js';

/**
 * The job's Prometheus metrics, fed from the same events and progress reports as the
 * dashboard. Counters of the programs' own work (commits, replica bytes, allreduce time) come
 * as running totals from each program, so a counter here adds only what is new since the last.
 */
export class JobMetrics {
  readonly registry = new Registry();
  private readonly steps = new Counter({ name: 'rollcall_steps_total', help: 'Steps the programs reported, by node (a rollback does not subtract)', labelNames: ['node'], registers: [this.registry] });
  private readonly stepTime = new Histogram({
    name: 'rollcall_step_seconds',
    help: 'Time per step, from consecutive progress reports of one node',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  private readonly recoveries = new Counter({ name: 'rollcall_recoveries_total', help: 'Recoveries completed (every member running in the new generation)', registers: [this.registry] });
  private readonly recoveryTime = new Histogram({
    name: 'rollcall_recovery_seconds',
    help: 'From a fault to every member running again',
    buckets: [0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly faults = new Counter({ name: 'rollcall_faults_total', help: 'Faults detected, by cause', labelNames: ['cause'], registers: [this.registry] });
  private readonly generation = new Gauge({ name: 'rollcall_generation', help: 'Current generation of the membership', registers: [this.registry] });
  private readonly commits = new Counter({ name: 'rollcall_commits_total', help: 'State commits by the programs', labelNames: ['node'], registers: [this.registry] });
  private readonly replicaBytes = new Counter({ name: 'rollcall_replica_bytes_total', help: "Bytes of versions sent to a buddy's memory", labelNames: ['node'], registers: [this.registry] });
  private readonly persistBytes = new Counter({ name: 'rollcall_persist_bytes_total', help: 'Bytes of versions written to the state directory', labelNames: ['node'], registers: [this.registry] });
  private readonly allreduceBytes = new Counter({ name: 'rollcall_allreduce_bytes_total', help: 'Bytes allreduced by the programs', labelNames: ['node'], registers: [this.registry] });
  private readonly allreduceTime = new Counter({ name: 'rollcall_allreduce_seconds_total', help: 'Time the programs spent in allreduce', labelNames: ['node'], registers: [this.registry] });

  private readonly computeTime = new Counter({ name: 'rollcall_compute_seconds_total', help: 'Time the programs spent computing: outside their operations (the straggler rule compares it per step)', labelNames: ['node'], registers: [this.registry] });

  private readonly lastStep = new Map<number, { step: number; t: number }>();
  private readonly lastStats = new Map<number, ProgramStats>();

  event(raw: EventLine): void {
    const e = parseEvent(raw);
    if (e?.event === 'fault_detected') this.faults.inc({ cause: e.cause });
    else if (e?.event === 'membership_updated') this.generation.set(e.generation);
    else if (e?.event === 'recovered') {
      this.recoveries.inc();
      this.recoveryTime.observe(e.ms / 1000);
    }
  }

  progress(node: number, step: number, now = Date.now(), stats?: ProgramStats): void {
    const last = this.lastStep.get(node);
    // The first report is a baseline: a spare brought in starts at the restored step, not at 0.
    if (last && step > last.step) {
      this.steps.inc({ node: String(node) }, step - last.step);
      if (now > last.t) this.stepTime.observe((now - last.t) / 1000 / (step - last.step));
    } else if (!last) this.steps.inc({ node: String(node) }, 0);
    this.lastStep.set(node, { step, t: now });
    if (stats) this.stats(node, stats);
  }

  private stats(node: number, s: ProgramStats): void {
    const prev = this.lastStats.get(node);
    const label = { node: String(node) };
    // A program's totals only grow; a restarted program (restart mode) starts again from 0.
    const delta = (k: keyof ProgramStats): number => {
      const now = s[k] ?? 0;
      const before = prev?.[k] ?? 0;
      return Math.max(0, now - (now >= before ? before : 0));
    };
    this.commits.inc(label, delta('commits'));
    this.replicaBytes.inc(label, delta('replicaBytes'));
    this.persistBytes.inc(label, delta('persistBytes'));
    this.allreduceBytes.inc(label, delta('allreduceBytes'));
    this.allreduceTime.inc(label, delta('allreduceSeconds'));
    this.computeTime.inc(label, delta('computeSeconds'));
    this.lastStats.set(node, s);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

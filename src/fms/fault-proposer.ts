import type { Clock, TimerHandle } from '../util/clock.js';
import type { Datagram, FaultCause } from '../protocol/datagram.js';
import type { MembershipRecord } from './membership-record.js';

export interface FaultReport {
  by: number;
  failed: number[];
  cause: FaultCause;
  generation: number;
}

export interface ProposerLinks {
  readonly node: number;
  record(): MembershipRecord | undefined;
  /** Who writes the next membership for a fault of `failed`, as this FMS sees it. */
  coordinator(failed: readonly number[]): number | undefined;
  addressOf(node: number): string | undefined;
  send(to: string, d: Datagram): void;
  /** Writes the membership without `failed` (compare-and-set); settles when written or given up. */
  propose(failed: number[], cause: FaultCause, programFault: boolean, generation: number): Promise<void>;
  /** A report was sent to `to` (empty: we write it ourselves). */
  notified(report: FaultReport, to: number[]): void;
}

/** A node's own program fault, reported by its own FMS: `restart` restarts instead of evicting. */
const isProgramFault = (r: FaultReport): boolean => r.failed.length === 1 && r.by === r.failed[0];

/** Whether the record has dealt with the report: its nodes are out, or the job moved on or ended. */
export function settled(record: MembershipRecord | undefined, r: FaultReport): boolean {
  if (!record) return false;
  if (record.state === 'failed') return true;
  if (isProgramFault(r) && record.policy === 'restart') return record.generation > r.generation;
  return r.failed.every((n) => !record.members.includes(n) && !record.spares.includes(n));
}

/**
 * One proposal per fault. A confirmed fault is reported to one FMS, the coordinator (ring.ts:
 * the lowest live node not suspected), which gathers the reports arriving within a short window
 * and writes them as one generation; everyone else learns of it from the record they already
 * watch, so a fault costs one store write and K reports, not a notice to every node and N
 * racing compare-and-sets. The reporter keeps watching: if the record has not dealt with its
 * report after `takeoverMs` (the coordinator died or stalled mid-proposal), it writes the
 * change itself; the compare-and-set and the idempotent rule (membership-record.ts) make a
 * late second writer a no-op.
 */
export class FaultProposer {
  private pending: FaultReport[] = [];
  private batchTimer: TimerHandle | undefined;
  private readonly takeovers = new Set<TimerHandle>();
  private stopped = false;

  /**
   * @param batchMs the window a batch opened by a program's own fault waits: short, as that
   * path is the fast one (milliseconds from the exit to the report).
   * @param peerBatchMs the window a batch opened by a peer's fault waits: silences are found up
   * to a heartbeat apart (peers beat at different phases), and this path already took a fault
   * timeout and a probe, so a longer window costs little and merges more.
   */
  constructor(
    private readonly clock: Clock,
    private readonly batchMs: number,
    private readonly peerBatchMs: number,
    private readonly takeoverMs: number,
    private readonly links: ProposerLinks,
  ) {}

  /** A fault this FMS found (and confirmed): to the coordinator, or into our own batch. */
  report(r: FaultReport): void {
    if (this.stopped) return;
    const c = this.links.coordinator(r.failed);
    const addr = c === undefined || c === this.links.node ? undefined : this.links.addressOf(c);
    if (c === undefined || addr === undefined) {
      this.links.notified(r, []);
      this.gather(r);
      return;
    }
    this.links.send(addr, { type: 'fault', ...r });
    this.links.notified(r, [c]);
    const t = this.clock.setTimeout(() => {
      this.takeovers.delete(t);
      if (!this.stopped && !settled(this.links.record(), r)) this.gather(r);
    }, this.takeoverMs);
    this.takeovers.add(t);
  }

  /** A report from another FMS: we are its coordinator (or it thinks so; writing is safe either way). */
  onReport(d: Extract<Datagram, { type: 'fault' }>): void {
    if (this.stopped) return;
    const r: FaultReport = { by: d.by, failed: d.failed, cause: d.cause, generation: d.generation };
    if (!settled(this.links.record(), r)) this.gather(r);
  }

  stop(): void {
    this.stopped = true;
    if (this.batchTimer !== undefined) this.clock.clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    for (const t of this.takeovers) this.clock.clearTimeout(t);
    this.takeovers.clear();
    this.pending = [];
  }

  /** Into the batch; the first report of a batch opens the window. */
  private gather(r: FaultReport): void {
    this.pending.push(r);
    if (this.batchTimer !== undefined) return;
    this.batchTimer = this.clock.setTimeout(() => this.flush(), isProgramFault(r) ? this.batchMs : this.peerBatchMs);
  }

  private flush(): void {
    this.batchTimer = undefined;
    const record = this.links.record();
    const reports = this.pending.filter((r) => !settled(record, r));
    this.pending = [];
    if (reports.length === 0) return;
    // A program fault keeps its kind (`restart` restarts every program once for any number of
    // them); otherwise a batch is nodes lost, all in one generation.
    if (reports.every(isProgramFault) && (reports.length === 1 || record?.policy === 'restart')) {
      const r = reports[0]!;
      void this.links.propose(r.failed, r.cause, true, Math.min(...reports.map((x) => x.generation)));
      return;
    }
    const failed = [...new Set(reports.flatMap((r) => r.failed))];
    const live = record ? failed.filter((n) => record.members.includes(n) || record.spares.includes(n)) : failed;
    if (live.length === 0) return;
    void this.links.propose(live, reports[0]!.cause, false, Math.min(...reports.map((r) => r.generation)));
  }
}

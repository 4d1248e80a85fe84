import { parseEvent, type EventLine } from '../protocol/events.js';
import type { MembershipRecord } from '../fms/membership.js';

/** What the tracker needs of the membership: the launcher passes the record, a log reader its own view. */
export type RecordView = Pick<MembershipRecord, 'state' | 'generation' | 'members'>;

export interface Recovery {
  generation: number;
  /** From the fault (its injection if Rollcall injected it, else its first detection) to every member running its next operation. */
  ms: number;
  from: 'fault_injected' | 'fault_detected';
  faultTs: number;
}

/**
 * Turns the event stream into recovery times. One incident opens at the first fault and closes
 * when every member of the then-current generation has resumed in it, so a second fault during
 * a recovery lengthens that recovery instead of starting a second, overlapping one.
 */
export class RecoveryTracker {
  private open: { t0: number; from: Recovery['from']; generation: number } | undefined;
  private readonly resumed = new Map<number, Map<number, number>>();

  injected(ts: number, generation: number): void {
    this.open ??= { t0: ts, from: 'fault_injected', generation };
  }

  observe(e: EventLine, record: RecordView): Recovery | undefined {
    const t = parseEvent(e);
    if (t?.event === 'fault_detected') {
      this.open ??= { t0: t.ts, from: 'fault_detected', generation: t.generation };
    } else if (t?.event === 'program_resumed') {
      let m = this.resumed.get(t.generation);
      if (!m) this.resumed.set(t.generation, (m = new Map()));
      m.set(t.node, t.ts);
    }
    return this.check(record);
  }

  check(record: RecordView): Recovery | undefined {
    const o = this.open;
    if (!o || record.state !== 'running' || record.generation <= o.generation) return undefined;
    const m = this.resumed.get(record.generation);
    if (!m || !record.members.every((n) => m.has(n))) return undefined;
    this.open = undefined;
    const last = Math.max(...record.members.map((n) => m.get(n) as number));
    return { generation: record.generation, ms: last - o.t0, from: o.from, faultTs: o.t0 };
  }
}

import { parseEvent, type EventLine } from '../protocol/events.js';
import type { MembershipRecord } from '../fms/membership.js';

/** What the tracker needs of the membership: the launcher passes the record, a log reader its own view. */
export type RecordView = Pick<MembershipRecord, 'state' | 'generation' | 'members'>;

/**
 * What a recovery time counts from: the fault itself where Rollcall knows when it happened (it
 * injected it; or its detection is the fault: an exit, a connection reset, a corruption found,
 * a straggler declared), else the last sign of life of a node or program that went silent, its
 * silence having been the detection.
 */
export type RecoveryFrom = 'fault_injected' | 'fault_detected' | 'last_sign_of_life';

export interface Recovery {
  generation: number;
  /** From `faultTs` to every member running its next operation. */
  ms: number;
  from: RecoveryFrom;
  faultTs: number;
  /** From `faultTs` to the first detection; null where the detection is the fault (`fault_detected`). */
  detectionMs: number | null;
  /** The first detection's cause (exit, heartbeat, connection, ...). */
  cause?: string;
}

/**
 * How long the silence a heartbeat fault was declared on lasted, from the detector's own words
 * ("... silent for 583 ms ..."): the fault happened that long before its detection. Undefined
 * when the detail does not say (then the recovery counts from the detection, and says so).
 */
export function silenceOf(detail: string): number | undefined {
  const m = /silent for (\d+) ms/.exec(detail);
  return m ? Number(m[1]) : undefined;
}

/**
 * Turns the event stream into recovery times. One incident opens at the first fault and closes
 * when every member of the then-current generation has resumed in it, so a second fault during
 * a recovery lengthens that recovery instead of starting a second, overlapping one.
 */
export class RecoveryTracker {
  private open: { t0: number; from: RecoveryFrom; generation: number; detectedTs?: number; cause?: string } | undefined;
  private readonly resumed = new Map<number, Map<number, number>>();

  injected(ts: number, generation: number): void {
    this.open ??= { t0: ts, from: 'fault_injected', generation };
  }

  observe(e: EventLine, record: RecordView): Recovery | undefined {
    const t = parseEvent(e);
    if (t?.event === 'fault_detected') {
      const silence = t.cause === 'heartbeat' ? silenceOf(t.detail) : undefined;
      if (!this.open) {
        this.open =
          silence === undefined
            ? { t0: t.ts, from: 'fault_detected', generation: t.generation }
            : { t0: t.ts - silence, from: 'last_sign_of_life', generation: t.generation };
      }
      if (this.open.detectedTs === undefined) {
        this.open.detectedTs = t.ts;
        this.open.cause = t.cause;
      }
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
    const detectionMs = o.from === 'fault_detected' || o.detectedTs === undefined ? null : Math.max(0, o.detectedTs - o.t0);
    return { generation: record.generation, ms: last - o.t0, from: o.from, faultTs: o.t0, detectionMs, ...(o.cause === undefined ? {} : { cause: o.cause }) };
  }
}

/** One line for the console: the recovery time and what it counts from, the detection apart. */
export function describeRecovery(r: Recovery): string {
  const head = `recovered: generation ${r.generation} running ${r.ms} ms after`;
  if (r.from === 'fault_injected') return `${head} the fault was injected${r.detectionMs === null ? '' : ` (detected ${r.detectionMs} ms after it)`}`;
  if (r.from === 'last_sign_of_life') return `${head} the last sign of life (the fault's ${r.cause ?? 'heartbeat'} silence detected ${r.detectionMs ?? 0} ms after it)`;
  return `${head} the fault (${r.cause ?? 'detected'}: seen as it happened)`;
}

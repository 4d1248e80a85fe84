import { logEvent, parseEvent, type EventLine, type EventOf, type LogEvent } from '../protocol/events.js';
import type { Store } from '../store/store.js';
import { RecoveryTracker, type RecordView } from './recovery-tracker.js';

/** Events each node keeps in the store; older ones are deleted as new ones arrive. */
export const EVENT_HISTORY = 2000;

const prefix = (job: string): string => `rollcall/${job}/events/`;
const eventKey = (job: string, node: number, seq: number): string => `${prefix(job)}${node}/${String(seq).padStart(10, '0')}`;

/**
 * Publishes a node's events to the store, in order and off the caller's path: the node's own
 * log file is the record of truth, and a store that is slow or gone must not hold up the FMS.
 * The store keeps the newest EVENT_HISTORY per node, so `rollcall events` can show a job that
 * spans hosts as one log.
 */
export class EventPublisher {
  private seq = 0;
  private chain: Promise<void> = Promise.resolve();
  private failures = 0;

  constructor(
    private readonly store: Store,
    private readonly job: string,
    private readonly node: number,
    private readonly onError: (e: Error) => void,
  ) {}

  publish(e: LogEvent): void {
    const seq = this.seq++;
    const value = JSON.stringify(e);
    this.chain = this.chain.then(async () => {
      try {
        await this.store.put(eventKey(this.job, this.node, seq), value);
        if (seq >= EVENT_HISTORY) await this.store.delete(eventKey(this.job, this.node, seq - EVENT_HISTORY));
      } catch (err) {
        // Reported once: a partitioned node would otherwise log one line per event.
        if (this.failures++ === 0) this.onError(err as Error);
      }
    });
  }

  /** Waits (bounded) for the events published so far to reach the store. */
  async flush(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.chain, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }
}

export interface MergedEvents {
  events: EventLine[];
  /** Stored values that were not events, with their keys. */
  bad: { key: string; error: string }[];
}

/** Every node's stored events of the job, merged in time order (ties kept in node, then sequence, order). */
export async function readJobEvents(store: Store, job: string): Promise<MergedEvents> {
  const { kvs } = await store.list(prefix(job));
  const events: EventLine[] = [];
  const bad: MergedEvents['bad'] = [];
  for (const kv of kvs) {
    try {
      const e = JSON.parse(kv.value) as unknown;
      if (typeof e !== 'object' || e === null || typeof (e as EventLine).ts !== 'number' || typeof (e as EventLine).event !== 'string') throw new Error('not an event (needs ts and event)');
      events.push(e as EventLine);
    } catch (err) {
      bad.push({ key: kv.key, error: (err as Error).message });
    }
  }
  // Array.prototype.sort is stable, and the keys came in node/sequence order.
  events.sort((a, b) => a.ts - b.ts);
  return { events, bad };
}

/**
 * Recovery times for a job whose nodes ran on different hosts: no launcher saw every event, so
 * the merged log has no `recovered` lines. This replays the log through the same tracker the
 * launcher uses, following the membership from its `membership_updated` events.
 */
export class RecoveryFromEvents {
  private readonly tracker = new RecoveryTracker();
  private record: RecordView = { state: 'running', generation: 0, members: [] };

  /** The `recovered` event this one completes, if any. */
  observe(e: EventLine): EventOf<'recovered'> | undefined {
    const t = parseEvent(e);
    if (t?.event === 'fault_injected') this.tracker.injected(t.ts, this.record.generation);
    if (t?.event === 'membership_updated' && t.generation >= this.record.generation) this.record = { state: 'running', generation: t.generation, members: t.members };
    const rec = this.tracker.observe(e, this.record);
    return rec ? logEvent('recovered', rec, e.ts) : undefined;
  }
}

/** The merged log with a `recovered` event after each recovery's last resume (unless it has them). */
export function withRecoveries(events: readonly EventLine[]): EventLine[] {
  if (events.some((e) => e.event === 'recovered')) return [...events];
  const r = new RecoveryFromEvents();
  return events.flatMap((e) => {
    const rec = r.observe(e);
    return rec ? [e, rec] : [e];
  });
}

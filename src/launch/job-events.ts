import { logEvent, parseEvent, type EventLine, type EventOf, type LogEvent } from '../protocol/events.js';
import type { Store } from '../store/store.js';
import { RecoveryTracker, type RecordView } from './recovery-tracker.js';

/** Events each node keeps in the store (at least); older batches are deleted as new ones arrive. */
export const EVENT_HISTORY = 2000;
/**
 * A node's events wait this long to be written together, as one value: one store write per batch
 * instead of a put and a delete per event, and one watch event per batch for a dashboard. A
 * recovery's burst of events (a dozen per node) is one write.
 */
export const EVENT_BATCH_MS = 250;
/** A batch is written at once when it holds this many events, so no value grows large. */
export const EVENT_BATCH_MAX = 200;

const prefix = (job: string): string => `rollcall/${job}/events/`;
const eventKey = (job: string, node: number, seq: number): string => `${prefix(job)}${node}/${String(seq).padStart(10, '0')}`;

/**
 * The events in one stored value: a batch (a JSON array of events, what EventPublisher writes)
 * or, from older nodes, a single event. Throws on anything else.
 */
export function parseEventBatch(value: string): EventLine[] {
  const v = JSON.parse(value) as unknown;
  const list = Array.isArray(v) ? (v as unknown[]) : [v];
  for (const e of list) {
    if (typeof e !== 'object' || e === null || typeof (e as EventLine).ts !== 'number' || typeof (e as EventLine).event !== 'string') throw new Error('not an event (needs ts and event)');
  }
  return list as EventLine[];
}

/**
 * Publishes a node's events to the store, in order and off the caller's path: the node's own
 * log file is the record of truth, and a store that is slow or gone must not hold up the FMS.
 * Events are written in batches (EVENT_BATCH_MS); the store keeps the newest batches holding at
 * least EVENT_HISTORY events per node, so `rollcall events` can show a job that spans hosts as
 * one log.
 */
export class EventPublisher {
  private seq = 0;
  private chain: Promise<void> = Promise.resolve();
  private failures = 0;
  private pending: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The batches in the store, oldest first, with how many events each holds. */
  private readonly stored: { seq: number; count: number }[] = [];
  private storedEvents = 0;

  constructor(
    private readonly store: Store,
    private readonly job: string,
    private readonly node: number,
    private readonly onError: (e: Error) => void,
    private readonly batchMs = EVENT_BATCH_MS,
  ) {}

  publish(e: LogEvent): void {
    this.pending.push(JSON.stringify(e));
    if (this.pending.length >= EVENT_BATCH_MAX) this.write();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.write(), this.batchMs);
      // flush() writes what is left at the end; a pending batch must not keep the process alive.
      this.timer.unref();
    }
  }

  private write(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const seq = this.seq++;
    const value = `[${batch.join(',')}]`;
    this.chain = this.chain.then(async () => {
      try {
        await this.store.put(eventKey(this.job, this.node, seq), value);
        this.stored.push({ seq, count: batch.length });
        this.storedEvents += batch.length;
        // Drop the oldest batch while the rest still hold the history.
        for (let old = this.stored[0]; old && this.storedEvents - old.count >= EVENT_HISTORY; old = this.stored[0]) {
          this.stored.shift();
          this.storedEvents -= old.count;
          await this.store.delete(eventKey(this.job, this.node, old.seq));
        }
      } catch (err) {
        // Reported once: a partitioned node would otherwise log one line per batch.
        if (this.failures++ === 0) this.onError(err as Error);
      }
    });
  }

  /** Writes what is pending and waits (bounded) for the events published so far to reach the store. */
  async flush(ms: number): Promise<void> {
    this.write();
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
      events.push(...parseEventBatch(kv.value));
    } catch (err) {
      bad.push({ key: kv.key, error: (err as Error).message });
    }
  }
  // Array.prototype.sort is stable, and the keys (and each batch) came in node/sequence order.
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

import { parseEventBatch } from '../launch/job-events.js';
import type { EventLine } from '../protocol/events.js';
import { listAndWatch, type KeyValue, type Lease, type Store, type Watcher } from '../store/store.js';

/**
 * The dashboards of a job that spans hosts (`rollcall node --dashboard`). Each shows the whole
 * job, but if each followed every node's events and progress, N dashboards would be N watch
 * streams of N nodes each. Instead one dashboard node, the writer (its key on the writer's claim
 * lease, so it goes with it), follows them all and writes what changed as one summary value about
 * once a second; every other dashboard follows that one key. Per change the store carries O(N)
 * whatever the number of dashboards, and a dashboard watches two keys. A dashboard lists the
 * history once when it starts, like `rollcall events`; when the writer leaves, the next
 * dashboard to claim the key takes over, and republishes what the old writer may not have.
 */
export const SUMMARY_EVERY_MS = 1000;
/** Events per summary value: a recovery of thousands of nodes drains over several writes instead of one value larger than etcd takes. */
export const SUMMARY_MAX_EVENTS = 1000;
/** Events waiting to be summarised, at most; past it the oldest go (a dashboard shows what it can). */
const SUMMARY_BACKLOG = 20_000;
/** Events a dashboard remembers having shown, so that one listed at its start and summarised later is shown once. */
const SEEN_EVENTS = 10_000;

export const dashboardWriterKey = (job: string): string => `rollcall/${job}/dashboard/writer`;
export const dashboardSummaryKey = (job: string): string => `rollcall/${job}/dashboard/summary`;
const eventsPrefix = (job: string): string => `rollcall/${job}/events/`;
const progressPrefix = (job: string): string => `rollcall/${job}/progress/`;

export interface Summary {
  seq: number;
  writer: number;
  ts: number;
  events: EventLine[];
  /** [node, step, ts] for each node whose step changed since the last summary. */
  progress: [number, number, number][];
}

/** Where a dashboard puts what it learns. */
export interface DashboardSink {
  event(e: EventLine): void;
  progress(node: number, step: number, ts: number): void;
}

export interface SummaryFeed extends Watcher {
  /** Whether this node writes the summary now. */
  readonly writing: boolean;
}

/** Reads one stored batch of events; a bad entry is `rollcall events`' to report, a dashboard shows what it can. */
function batch(value: string): EventLine[] {
  try {
    return parseEventBatch(value);
  } catch {
    return [];
  }
}

function progressOf(kv: Pick<KeyValue, 'key' | 'value'>): [number, number, number] | undefined {
  try {
    const p = JSON.parse(kv.value) as { step: number; ts: number };
    const node = Number(kv.key.slice(kv.key.lastIndexOf('/') + 1));
    return Number.isInteger(node) && typeof p.step === 'number' && typeof p.ts === 'number' ? [node, p.step, p.ts] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Feeds `sink` with the whole job as the store has it: the history listed once, then the writer's
 * summaries, or, on the writer, every node's events and progress as they come.
 */
export async function feedDashboard(
  store: Store,
  job: string,
  node: number,
  lease: Pick<Lease, 'id'>,
  sink: DashboardSink,
  everyMs = SUMMARY_EVERY_MS,
): Promise<SummaryFeed> {
  const seen = new Set<string>();
  const show = (e: EventLine): boolean => {
    const key = JSON.stringify(e);
    if (seen.has(key)) return false;
    seen.add(key);
    if (seen.size > SEEN_EVENTS) seen.delete(seen.values().next().value as string);
    sink.event(e);
    return true;
  };
  let closed = false;
  let writing = false;
  const watchers: Watcher[] = [];
  let timer: NodeJS.Timeout | undefined;

  // The history, once: each node's events are in order; across nodes, time order (as `rollcall events` merges them).
  const listed = await store.list(eventsPrefix(job));
  listed.kvs.flatMap((kv) => batch(kv.value)).sort((a, b) => a.ts - b.ts).forEach(show);
  for (const kv of (await store.list(progressPrefix(job))).kvs) {
    const p = progressOf(kv);
    if (p) sink.progress(...p);
  }

  const follow = async (): Promise<void> => {
    const w = await store.watch(dashboardSummaryKey(job), (ev) => {
      if (writing || ev.type !== 'put') return;
      try {
        const s = JSON.parse(ev.kv.value) as Summary;
        s.events.forEach(show);
        for (const p of s.progress) sink.progress(...p);
      } catch {
        // A summary we cannot read: the next one will do.
      }
    });
    watchers.push(w);
  };

  /** Follows every node's events and progress, and writes what changed, each `everyMs`. */
  const write = async (): Promise<void> => {
    let seq = 0;
    let since = -Infinity;
    const last = await store.get(dashboardSummaryKey(job));
    if (last) {
      try {
        const s = JSON.parse(last.value) as Summary;
        seq = s.seq + 1;
        // A writer that left may have died between reading events and summarising them.
        since = s.ts - 2 * everyMs;
      } catch {
        // Written by nobody we know: start afresh.
      }
    }
    let pending: EventLine[] = [];
    const progress = new Map<number, [number, number, number]>();
    const queue = (e: EventLine): void => {
      show(e);
      pending.push(e);
      if (pending.length > SUMMARY_BACKLOG) pending = pending.slice(-SUMMARY_BACKLOG);
    };
    watchers.push(
      await listAndWatch(
        store,
        eventsPrefix(job),
        (kvs) => kvs.flatMap((kv) => batch(kv.value)).filter((e) => e.ts >= since).sort((a, b) => a.ts - b.ts).forEach(queue),
        (ev) => ev.type === 'put' && batch(ev.kv.value).forEach(queue),
        () => undefined,
      ),
    );
    watchers.push(
      await store.watch(progressPrefix(job), (ev) => {
        if (ev.type !== 'put') return;
        const p = progressOf(ev.kv);
        if (!p) return;
        sink.progress(...p);
        progress.set(p[0], p);
      }),
    );
    const flush = (): void => {
      timer = undefined;
      if (closed) return;
      if (pending.length > 0 || progress.size > 0) {
        const events = pending.slice(0, SUMMARY_MAX_EVENTS);
        pending = pending.slice(events.length);
        const s: Summary = { seq: seq++, writer: node, ts: Date.now(), events, progress: [...progress.values()] };
        progress.clear();
        void store.put(dashboardSummaryKey(job), JSON.stringify(s)).catch(() => undefined);
      }
      // A backlog drains faster than once a second.
      timer = setTimeout(flush, pending.length > 0 ? Math.min(100, everyMs) : everyMs);
      timer.unref();
    };
    flush();
  };

  /** Claims the writer's key; when another holds it, follows the summary and tries again when that key goes. */
  const claim = async (): Promise<void> => {
    if (closed || writing) return;
    const r = await store.compareAndSet(dashboardWriterKey(job), 0, String(node), { lease: lease.id });
    if (closed) return;
    if (r.ok) {
      writing = true;
      for (const w of watchers.splice(0)) w.close();
      await write();
    }
  };

  await follow();
  watchers.push(
    await store.watch(dashboardWriterKey(job), (ev) => {
      if (ev.type === 'delete') void claim().catch(() => undefined);
    }),
  );
  await claim();
  return {
    get writing() {
      return writing;
    },
    close: () => {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      for (const w of watchers.splice(0)) w.close();
    },
  };
}

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import { dashboardWriterKey, feedDashboard, type SummaryFeed } from '../../src/dashboard/summary-feed.js';
import { EventPublisher } from '../../src/launch/job-events.js';
import { logEvent, type EventLine } from '../../src/protocol/events.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { Store } from '../../src/store/store.js';

/**
 * Dashboards of a job across hosts fed from one summary (issue 26): every dashboard sees every
 * event once, only the writer follows the nodes' events, and another takes over when it leaves.
 */
const JOB = 'j';
const EVERY_MS = 20;

/** The store, with the prefixes watched counted. */
function counted(): { store: MemoryStore; watched: string[] } {
  const store = new MemoryStore();
  const watched: string[] = [];
  const watch = store.watch.bind(store);
  store.watch = (...a: Parameters<Store['watch']>) => (watched.push(a[0]), watch(...a));
  return { store, watched };
}

interface Dash {
  node: number;
  feed: SummaryFeed;
  events: EventLine[];
  steps: Map<number, number>;
  revoke(): Promise<void>;
}

const feeds: SummaryFeed[] = [];
afterEach(() => {
  for (const f of feeds.splice(0)) f.close();
});

async function dashboard(store: Store, node: number): Promise<Dash> {
  const lease = await store.grantLease(60_000);
  const d: Omit<Dash, 'feed'> = { node, events: [], steps: new Map(), revoke: () => lease.revoke() };
  const feed = await feedDashboard(store, JOB, node, lease, { event: (e) => d.events.push(e), progress: (n, step) => d.steps.set(n, step) }, EVERY_MS);
  feeds.push(feed);
  return { ...d, feed };
}

async function until(what: string, ok: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await sleep(5);
  }
}

const ev = (node: number, i: number) => logEvent('program_idle', { node, generation: i }, 1000 + i);

describe('dashboards fed from one summary', () => {
  it('every dashboard shows every event once; only the writer follows the nodes; another takes over when it leaves', async () => {
    const { store, watched } = counted();
    const publishers = [0, 1, 2, 3].map((n) => new EventPublisher(store, JOB, n, (e) => assert.fail(e), 5));
    // History before any dashboard starts: listed once by each.
    publishers[0]!.publish(ev(0, 0));
    await publishers[0]!.flush(1000);
    const dashes = [await dashboard(store, 1), await dashboard(store, 2), await dashboard(store, 3)];
    assert.deepEqual(dashes.map((d) => d.feed.writing), [true, false, false], 'the first to claim writes');
    assert.equal(watched.filter((p) => p.endsWith('/events/')).length, 1, 'one dashboard follows the nodes\' events');

    for (let i = 1; i <= 30; i++) publishers[i % 4]!.publish(ev(i % 4, i));
    await store.put(`rollcall/${JOB}/progress/2`, JSON.stringify({ step: 17, ts: 5 }));
    await Promise.all(publishers.map((p) => p.flush(1000)));
    for (const d of dashes) await until(`dashboard ${d.node} has all 31 events`, () => d.events.length >= 31);
    await sleep(3 * EVERY_MS);
    for (const d of dashes) {
      assert.deepEqual(d.events.map((e) => e.generation).sort((a, b) => Number(a) - Number(b)), [...Array(31).keys()], `dashboard ${d.node}: each once`);
      assert.equal(d.steps.get(2), 17, `dashboard ${d.node} has node 2's step`);
    }

    // The writer's node leaves (its claim's lease goes): the next dashboard takes over.
    await dashes[0]!.revoke();
    dashes[0]!.feed.close();
    await until('another dashboard writes', () => dashes[1]!.feed.writing || dashes[2]!.feed.writing);
    assert.notEqual(dashes[1]!.feed.writing, dashes[2]!.feed.writing, 'one of the two');
    assert.notEqual((await store.get(dashboardWriterKey(JOB)))?.value, '1');
    for (let i = 31; i < 40; i++) publishers[i % 4]!.publish(ev(i % 4, i));
    await Promise.all(publishers.map((p) => p.flush(1000)));
    for (const d of dashes.slice(1)) await until(`dashboard ${d.node} has all 40 events`, () => d.events.length >= 40);
    await sleep(3 * EVERY_MS);
    for (const d of dashes.slice(1)) assert.equal(d.events.length, 40, `dashboard ${d.node}: each once after the take-over`);
    await store.close();
  });
});

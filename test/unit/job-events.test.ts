import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EVENT_BATCH_MAX, EVENT_HISTORY, EventPublisher, readJobEvents } from '../../src/launch/job-events.js';
import { logEvent } from '../../src/protocol/events.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { Store } from '../../src/store/store.js';

/** Events to the store in batches (issue 26): O(1) store writes per node per interval, not 2 per event. */

/** The store, with its writes counted. */
function counted(): { store: MemoryStore; writes: () => number } {
  const store = new MemoryStore();
  let writes = 0;
  const put = store.put.bind(store);
  const del = store.delete.bind(store);
  store.put = (...a: Parameters<Store['put']>) => (writes++, put(...a));
  store.delete = (...a: Parameters<Store['delete']>) => (writes++, del(...a));
  return { store, writes: () => writes };
}

const ev = (node: number, i: number) => logEvent('program_idle', { node, generation: i }, 1000 + i);

describe('EventPublisher: events batched', () => {
  it('a burst of events is one store write, and reads back in order', async () => {
    const { store, writes } = counted();
    const p = new EventPublisher(store, 'j', 3, (e) => assert.fail(e));
    for (let i = 0; i < 12; i++) p.publish(ev(3, i));
    await p.flush(1000);
    assert.equal(writes(), 1, 'twelve events, one put');
    const { events, bad } = await readJobEvents(store, 'j');
    assert.deepEqual(bad, []);
    assert.deepEqual(events.map((e) => e.generation), [...Array(12).keys()]);
  });

  it('writes on its own after the batch interval, and keeps at least EVENT_HISTORY events per node', async () => {
    const { store, writes } = counted();
    const p = new EventPublisher(store, 'j', 0, (e) => assert.fail(e), 5);
    p.publish(ev(0, 0));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(writes(), 1, 'written without a flush');
    const n = 3 * EVENT_HISTORY;
    for (let i = 1; i < n; i++) p.publish(ev(0, i));
    await p.flush(5000);
    const { events } = await readJobEvents(store, 'j');
    assert.ok(events.length >= EVENT_HISTORY && events.length < EVENT_HISTORY + EVENT_BATCH_MAX, `kept ${events.length}`);
    assert.equal(events.at(-1)!.generation, n - 1, 'the newest kept');
    // A batch per EVENT_BATCH_MAX events, and about as many deletes: far from two per event.
    assert.ok(writes() <= 2 * Math.ceil(n / EVENT_BATCH_MAX) + 2, `${writes()} writes for ${n} events`);
  });

  it('reads a stored single event (an older node) beside batches, and names a bad value', async () => {
    const store = new MemoryStore();
    await store.put('rollcall/j/events/1/0000000000', JSON.stringify(ev(1, 7)));
    await store.put('rollcall/j/events/2/0000000000', JSON.stringify([ev(2, 5), ev(2, 9)]));
    await store.put('rollcall/j/events/2/0000000001', '[{"nope":1}]');
    const { events, bad } = await readJobEvents(store, 'j');
    assert.deepEqual(events.map((e) => e.generation), [5, 7, 9]);
    assert.equal(bad.length, 1);
    assert.match(bad[0]!.error, /not an event/);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AlreadyExistsError, CorruptRecordError, InvalidArgumentError, JobFailedError, TimeoutError } from '../../src/errors.js';
import {
  applyFault,
  FAILED_KEPT,
  initMembership,
  isOut,
  membershipKey,
  membershipUpdatedEvent,
  nextMembership,
  nodesEver,
  rankOf,
  readMembership,
  watchMembership,
  type MembershipRecord,
  type MembershipWatchEvent,
} from '../../src/fms/membership.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { KeyValue, PutOptions } from '../../src/store/store.js';
import { deadlineIn, sleep } from '../../src/util/deadline.js';

const JOB = 'job1';
const soon = (): { deadline: number } => ({ deadline: deadlineIn(5_000) });

/** Counts lost CAS races, so the concurrency tests prove they really raced. */
class CountingStore extends MemoryStore {
  casConflicts = 0;
  override async compareAndSet(key: string, rev: number, value: string, opts?: PutOptions): Promise<{ ok: boolean; current: KeyValue | undefined }> {
    const res = await super.compareAndSet(key, rev, value, opts);
    if (!res.ok) this.casConflicts++;
    return res;
  }
}

/** A contender that always writes first: every CAS of ours loses. */
class HotStore extends MemoryStore {
  override async compareAndSet(key: string, rev: number, value: string, opts?: PutOptions): Promise<{ ok: boolean; current: KeyValue | undefined }> {
    const kv = await this.get(key);
    if (kv) await this.put(key, kv.value);
    return super.compareAndSet(key, rev, value, opts);
  }
}

function collect(): { events: MembershipWatchEvent[]; onChange: (ev: MembershipWatchEvent) => void; until(n: number): Promise<void> } {
  const events: MembershipWatchEvent[] = [];
  return {
    events,
    onChange: (ev) => events.push(ev),
    async until(n) {
      const end = Date.now() + 2_000;
      while (events.length < n) {
        if (Date.now() > end) assert.fail(`expected ${n} watch events, got ${events.length}: ${JSON.stringify(events)}`);
        await sleep(1);
      }
    },
  };
}

const generations = (events: MembershipWatchEvent[]): number[] => events.map((e) => (e.kind === 'record' ? e.record.generation : -1));

const base = (over: Partial<MembershipRecord> = {}): MembershipRecord => ({
  generation: 3,
  members: [0, 1, 2, 3],
  spares: [],
  failed: [],
  minNodes: 1,
  policy: 'shrink',
  state: 'running',
  ...over,
});

describe('nextMembership (pure)', () => {
  it('replace puts spares into the failed ranks, lowest rank first, then shrinks', () => {
    const t = nextMembership(base({ policy: 'replace', spares: [8] }), [3, 1]);
    assert.deepEqual(t.record.members, [0, 8, 2]);
    assert.deepEqual(t.record.spares, []);
    assert.deepEqual(t.changed, { removed: [1, 3], added: [8] });
    assert.equal(t.record.generation, 4);
    assert.equal(t.bumped, true);
  });

  it('a lost spare is struck off without a generation bump', () => {
    const t = nextMembership(base({ policy: 'replace', spares: [8, 9] }), [8]);
    assert.equal(t.write, true);
    assert.equal(t.bumped, false);
    assert.equal(t.record.generation, 3);
    assert.deepEqual(t.record.spares, [9]);
    assert.deepEqual(t.record.failed, [8]);
    // The dead spare is not used for the next replacement.
    assert.deepEqual(nextMembership(t.record, [0]).record.members, [9, 1, 2, 3]);
  });

  it('already-failed nodes and empty faults change nothing; unknown nodes are refused', () => {
    const r = base({ members: [0, 2], failed: [1], minNodes: 1 });
    for (const f of [[1], [], [1, 1]]) {
      const t = nextMembership(r, f);
      assert.equal(t.write, false);
      assert.equal(t.record, r);
    }
    assert.throws(() => nextMembership(r, [7]), InvalidArgumentError);
    assert.throws(() => nextMembership(r, [-1]), InvalidArgumentError);
  });

  it('the failed list stays bounded over thousands of faults; a node dropped from it is still old news, and out of the job', () => {
    const n = 3000;
    let r: MembershipRecord = { generation: 0, members: Array.from({ length: n }, (_, i) => i), spares: [], failed: [], minNodes: 1, policy: 'shrink', state: 'running' };
    for (let i = 0; i < n - 10; i++) r = nextMembership(r, [i]).record;
    assert.equal(r.failed.length, FAILED_KEPT);
    assert.equal(r.failedDropped, n - 10 - FAILED_KEPT);
    assert.deepEqual(r.failed.slice(-2), [n - 12, n - 11], 'the newest are kept');
    assert.equal(nodesEver(r), n);
    assert.ok(JSON.stringify(r).length < 4000, `record of ${JSON.stringify(r).length} bytes`);
    const late = nextMembership(r, [0]);
    assert.equal(late.write, false, 'a late report of a node failed long ago changes nothing');
    assert.ok(isOut(r, 0) && !isOut(r, n - 1));
  });

  it('falling below minNodes yields a terminal record', () => {
    const t = nextMembership(base({ minNodes: 4 }), [2]);
    assert.equal(t.record.state, 'failed');
    assert.match(t.record.reason ?? '', /below minNodes 4/);
    assert.equal(t.record.generation, 4);
  });

  it('replace mode out of spares: the terminal reason says how to let the job shrink; shrink mode has nothing to add', () => {
    const replace = nextMembership(base({ minNodes: 4, policy: 'replace' }), [2]);
    assert.equal(replace.record.state, 'failed');
    assert.match(replace.record.reason ?? '', /no spare is left.*below minNodes 4 \(replace mode does not shrink the job: give --min-nodes M, or --on-fault shrink/);
    const shrink = nextMembership(base({ minNodes: 4, policy: 'shrink' }), [2]);
    assert.doesNotMatch(shrink.record.reason ?? '', /replace mode/);
  });
});

describe('membership in the store', () => {
  // Rollcall's sleeps are unref()'d; with only a MemoryStore nothing else holds the event loop
  // open while a proposer backs off or a test polls its watcher.
  let keepAlive: NodeJS.Timeout | undefined;
  before(() => {
    keepAlive = setInterval(() => {}, 1_000);
  });
  after(() => clearInterval(keepAlive));

  it('init writes generation 0; a second launcher gets AlreadyExistsError', async () => {
    const store = new MemoryStore();
    const results = await Promise.allSettled([
      initMembership(store, JOB, { nodes: [0, 1, 2], spares: [3], minNodes: 2, policy: 'replace' }),
      initMembership(store, JOB, { nodes: [5, 6], policy: 'shrink' }),
    ]);
    assert.equal(results[0].status, 'fulfilled');
    assert.equal(results[1].status, 'rejected');
    assert.ok(results[1].status === 'rejected' && results[1].reason instanceof AlreadyExistsError);
    const rec = await readMembership(store, JOB);
    assert.deepEqual(rec, { generation: 0, members: [0, 1, 2], spares: [3], failed: [], minNodes: 2, policy: 'replace', state: 'running' });
    assert.equal(await readMembership(store, 'other'), undefined);
    await assert.rejects(initMembership(store, 'j2', { nodes: [0, 1], spares: [1], policy: 'shrink' }), InvalidArgumentError);
    await assert.rejects(initMembership(store, 'j2', { nodes: [0, 1], minNodes: 3, policy: 'shrink' }), InvalidArgumentError);
    assert.throws(() => membershipKey('a/b'), InvalidArgumentError);
    await store.close();
  });

  it('replace uses spares until they run out, then shrinks', async () => {
    const store = new MemoryStore();
    await initMembership(store, JOB, { nodes: [0, 1, 2, 3], spares: [4, 5], minNodes: 2, policy: 'replace' });
    const a = await applyFault(store, JOB, [1], soon());
    assert.deepEqual([a.record.generation, a.record.members, a.changed], [1, [0, 4, 2, 3], { removed: [1], added: [4] }]);
    assert.deepEqual(membershipUpdatedEvent(a), { event: 'membership_updated', generation: 1, members: [0, 4, 2, 3], removed: [1], added: [4] });
    const b = await applyFault(store, JOB, [3], soon());
    assert.deepEqual([b.record.generation, b.record.members, b.record.spares], [2, [0, 4, 2, 5], []]);
    const c = await applyFault(store, JOB, [0], soon());
    assert.deepEqual([c.record.generation, c.record.members, c.changed], [3, [4, 2, 5], { removed: [0], added: [] }]);
    assert.deepEqual(c.record.failed, [1, 3, 0]);
    await store.close();
  });

  it('a proposer already declared failed writes nothing (a cut-off node sending a stale proposal after the link returns)', async () => {
    const store = new MemoryStore();
    await initMembership(store, JOB, { nodes: [0, 1, 2, 3], spares: [4], minNodes: 2, policy: 'replace' });
    const replaced = await applyFault(store, JOB, [3], { ...soon(), proposer: 0 });
    assert.deepEqual(replaced.record.members, [0, 1, 2, 4]);
    // Node 3 heard nobody while it was cut off and proposes that everyone else failed.
    const stale = await applyFault(store, JOB, [0, 1, 2, 4], { ...soon(), proposer: 3 });
    assert.equal(stale.bumped, false);
    assert.deepEqual(stale.changed, { removed: [], added: [] });
    const now = (await readMembership(store, JOB)) as MembershipRecord;
    assert.deepEqual([now.generation, now.members, now.failed], [1, [0, 1, 2, 4], [3]]);
    // Without the proposer's name the same call evicts the healthy nodes and ends the job.
    await assert.rejects(applyFault(store, JOB, [0, 1, 2, 4], soon()), JobFailedError);
    await store.close();
  });

  it('replace keeps every survivor at its rank', async () => {
    const store = new MemoryStore();
    await initMembership(store, JOB, { nodes: [10, 11, 12, 13, 14, 15], spares: [20, 21], policy: 'replace' });
    const before = (await readMembership(store, JOB)) as MembershipRecord;
    const r = await applyFault(store, JOB, [14, 11], soon());
    assert.deepEqual(r.record.members, [10, 20, 12, 13, 21, 15]);
    for (const n of [10, 12, 13, 15]) assert.equal(rankOf(r.record, n), rankOf(before, n));
    assert.equal(rankOf(r.record, 11), undefined);
    await store.close();
  });

  it('shrink drops the failed node and renumbers ranks', async () => {
    const store = new MemoryStore();
    await initMembership(store, JOB, { nodes: [0, 1, 2, 3], spares: [9], minNodes: 2, policy: 'shrink' });
    const r = await applyFault(store, JOB, [1], soon());
    assert.deepEqual([r.record.generation, r.record.members, r.record.spares], [1, [0, 2, 3], [9]]);
    assert.equal(rankOf(r.record, 2), 1);
    await store.close();
  });

  it('below minNodes: terminal record, JobFailedError for this and every later proposer', async () => {
    const store = new MemoryStore();
    await initMembership(store, JOB, { nodes: [0, 1, 2], minNodes: 2, policy: 'replace' });
    await applyFault(store, JOB, [0], soon());
    const err = await applyFault(store, JOB, [1], soon()).then(
      () => assert.fail('expected JobFailedError'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof JobFailedError);
    assert.equal(err.code, 'ERR_JOB_FAILED');
    assert.equal(err.generation, 2);
    assert.match(err.reason, /below minNodes 2/);
    const rec = (await readMembership(store, JOB)) as MembershipRecord;
    assert.deepEqual([rec.state, rec.generation, rec.members], ['failed', 2, [2]]);
    // A peer FMS reporting the same fault, or an old one, learns the job is over.
    await assert.rejects(applyFault(store, JOB, [1], soon()), JobFailedError);
    await assert.rejects(applyFault(store, JOB, [0], soon()), JobFailedError);
    await store.close();
  });

  for (const proposers of [2, 3]) {
    it(`${proposers} concurrent proposers of the same fault bump the generation once`, async () => {
      const store = new CountingStore();
      await initMembership(store, JOB, { nodes: [0, 1, 2, 3], spares: [4], policy: 'replace' });
      const results = await Promise.all(Array.from({ length: proposers }, () => applyFault(store, JOB, [2], soon())));
      assert.ok(store.casConflicts >= 1, 'the proposers should have raced');
      assert.equal(results.filter((r) => r.bumped).length, 1);
      for (const r of results) assert.deepEqual([r.record.generation, r.record.members], [1, [0, 1, 4, 3]]);
      assert.equal((await readMembership(store, JOB))?.generation, 1);
      await store.close();
    });
  }

  it('concurrent proposers of different faults both apply, in consecutive generations', async () => {
    const store = new CountingStore();
    await initMembership(store, JOB, { nodes: [0, 1, 2, 3, 4], spares: [7], minNodes: 2, policy: 'replace' });
    const w = collect();
    const watcher = await watchMembership(store, JOB, w.onChange);
    const results = await Promise.all([applyFault(store, JOB, [1], soon()), applyFault(store, JOB, [3], soon()), applyFault(store, JOB, [1], soon())]);
    assert.ok(store.casConflicts >= 1);
    assert.equal(results.filter((r) => r.bumped).length, 2);
    const rec = (await readMembership(store, JOB)) as MembershipRecord;
    assert.equal(rec.generation, 2);
    assert.equal(rec.members.length, 4);
    assert.ok(!rec.members.includes(1) && !rec.members.includes(3) && rec.members.includes(7));
    await w.until(3);
    assert.deepEqual(generations(w.events), [0, 1, 2]);
    watcher.close();
    await store.close();
  });

  it('a fault of a node already removed returns the current record without a bump', async () => {
    const store = new MemoryStore();
    await initMembership(store, JOB, { nodes: [0, 1, 2], minNodes: 1, policy: 'shrink' });
    const first = await applyFault(store, JOB, [1], soon());
    const again = await applyFault(store, JOB, [1], soon());
    assert.equal(again.bumped, false);
    assert.deepEqual(again.changed, { removed: [], added: [] });
    assert.deepEqual(again.record, first.record);
    assert.equal((await store.get(membershipKey(JOB)))?.modRevision, 2, 'nothing was written');
    await store.close();
  });

  it('watch delivers the current record and then each generation in order', async () => {
    const store = new MemoryStore();
    await initMembership(store, JOB, { nodes: [0, 1, 2, 3, 4], spares: [5], policy: 'replace', minNodes: 1 });
    // Keys that merely share the prefix must not reach the membership watcher.
    await store.put(`${membershipKey(JOB)}-other`, 'x');
    const w = collect();
    const watcher = await watchMembership(store, JOB, w.onChange);
    for (const n of [0, 1, 2]) await applyFault(store, JOB, [n], soon());
    await store.put(`${membershipKey(JOB)}-other`, 'y');
    await w.until(4);
    await sleep(5);
    assert.deepEqual(generations(w.events), [0, 1, 2, 3]);
    const last = w.events[3];
    assert.ok(last?.kind === 'record');
    assert.deepEqual(last.record.members, [5, 3, 4]);
    watcher.close();
    await applyFault(store, JOB, [3], soon());
    await sleep(5);
    assert.equal(w.events.length, 4, 'no events after close');
    await store.close();
  });

  it('a corrupt record is a CorruptRecordError, never overwritten, and the watch survives it', async () => {
    const store = new MemoryStore();
    await initMembership(store, JOB, { nodes: [0, 1], minNodes: 1, policy: 'shrink' });
    const w = collect();
    const watcher = await watchMembership(store, JOB, w.onChange);
    const key = membershipKey(JOB);
    await store.put(key, '{not json');
    await store.put(key, JSON.stringify({ generation: 1, members: [0, 0], spares: [], failed: [], minNodes: 1, policy: 'shrink', state: 'running' }));
    await assert.rejects(readMembership(store, JOB), (e: unknown) => e instanceof CorruptRecordError && e.key === key && /members|more than once/.test(e.message));
    const rev = (await store.get(key))?.modRevision;
    await assert.rejects(applyFault(store, JOB, [1], soon()), CorruptRecordError);
    assert.equal((await store.get(key))?.modRevision, rev);
    await store.put(key, JSON.stringify({ generation: 2, members: [0], spares: [], failed: [1], minNodes: 1, policy: 'shrink', state: 'running' }));
    await w.until(4);
    assert.deepEqual(
      w.events.map((e) => (e.kind === 'record' ? e.record.generation : `${e.error.constructor.name}:${e.ended}`)),
      [0, 'CorruptRecordError:false', 'CorruptRecordError:false', 2],
    );
    watcher.close();
    await store.close();
  });

  it('a watch broken by the store ends with one error', async () => {
    const store = new MemoryStore();
    await initMembership(store, JOB, { nodes: [0], policy: 'shrink' });
    const w = collect();
    await watchMembership(store, JOB, w.onChange);
    await store.close();
    await w.until(2);
    assert.ok(w.events[1]?.kind === 'error' && w.events[1].ended);
  });

  it('endless conflicts end in TimeoutError at the deadline', async () => {
    const store = new HotStore();
    await initMembership(store, JOB, { nodes: [0, 1], minNodes: 1, policy: 'shrink' });
    const start = Date.now();
    await assert.rejects(applyFault(store, JOB, [1], { deadline: deadlineIn(60) }), TimeoutError);
    assert.ok(Date.now() - start < 1_000);
    await store.close();
  });
});

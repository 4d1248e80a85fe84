import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/util/clock.js';
import { seededRng } from '../../src/sim/rng.js';

/**
 * The FakeClock's queue (one-millisecond buckets, src/util/clock.ts) against the plain rule it
 * must keep: every timer fires once, in (due, order set) order, seeing now() = its due time,
 * unless it was cleared first. Random timers with fractional delays (as the simulator's jitter
 * makes them), timers set and cleared from inside callbacks, and enough clears to compact.
 */
describe('FakeClock', () => {
  it('fires in (due, set order) order, each at its due time, including timers set while firing', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const at = (name: string, ms: number): void => {
      clock.setTimeout(() => fired.push(`${name}@${clock.now()}`), ms);
    };
    at('c', 2.5);
    at('a', 1);
    at('b', 1);
    at('d', 2.25);
    clock.setTimeout(() => {
      // Set while the 1 ms bucket is being drained: same instant, after those already due then.
      at('e', 0);
      at('f', 1.5);
    }, 1);
    at('g', 1);
    clock.advance(10);
    assert.deepEqual(fired, ['a@1', 'b@1', 'g@1', 'e@1', 'd@2.25', 'c@2.5', 'f@2.5']);
    assert.equal(clock.now(), 10);
    assert.equal(clock.pending, 0);
  });

  it('matches a sorted reference on random timers, clears and nested sets', () => {
    const rng = seededRng(7);
    const clock = new FakeClock(0);
    type Ref = { due: number; seq: number; id: number; cleared: boolean };
    const ref: Ref[] = [];
    const handles = new Map<number, unknown>();
    const fired: { id: number; at: number }[] = [];
    const done = new Set<number>();
    let seq = 0;
    const set = (ms: number, depth: number): void => {
      const id = seq++;
      const r: Ref = { due: clock.now() + ms, seq: id, id, cleared: false };
      ref.push(r);
      handles.set(
        id,
        clock.setTimeout(() => {
          fired.push({ id, at: clock.now() });
          done.add(id);
          if (depth < 2 && rng() < 0.3) set(rng() < 0.2 ? 0 : rng() * 40, depth + 1);
          if (rng() < 0.2) clearOne();
        }, ms),
      );
    };
    const clearOne = (): void => {
      const live = ref.filter((r) => !r.cleared && !done.has(r.id));
      const r = live[Math.floor(rng() * live.length)];
      if (!r) return;
      r.cleared = true;
      clock.clearTimeout(handles.get(r.id));
    };
    for (let i = 0; i < 3000; i++) set(rng() < 0.1 ? Math.floor(rng() * 50) : rng() * 500, 0);
    // Enough clears (over 1024, most of what is pending) for the queue to compact itself.
    for (let i = 0; i < 2200; i++) clearOne();
    while (clock.pending > 0) clock.advance(1 + rng() * 30);
    const expected = ref
      .filter((r) => !r.cleared)
      .sort((a, b) => a.due - b.due || a.seq - b.seq)
      .map((r) => ({ id: r.id, at: r.due }));
    assert.equal(fired.length, expected.length);
    assert.deepEqual(fired, expected);
  });

  it('runs what is deferred once nothing more is due at the instant, and overdue timers late after a jump', () => {
    const clock = new FakeClock(0);
    const log: string[] = [];
    clock.setTimeout(() => {
      log.push(`t1@${clock.now()}`);
      clock.defer(() => log.push(`deferred@${clock.now()}`));
    }, 5);
    clock.setTimeout(() => log.push(`t2@${clock.now()}`), 5);
    clock.setTimeout(() => log.push(`t3@${clock.now()}`), 6);
    clock.advance(10);
    assert.deepEqual(log, ['t1@5', 't2@5', 'deferred@5', 't3@6']);
    log.length = 0;
    clock.setTimeout(() => log.push(`late@${clock.now()}`), 2);
    clock.jump(50);
    assert.equal(clock.nextDue, 12);
    clock.advance(0);
    assert.deepEqual(log, ['late@60']);
  });

  it('a cleared timer never fires, clearing twice or after firing is harmless', () => {
    const clock = new FakeClock(0);
    let n = 0;
    const h = clock.setTimeout(() => n++, 3);
    const k = clock.setTimeout(() => n++, 1);
    clock.clearTimeout(h);
    clock.clearTimeout(h);
    clock.advance(2);
    clock.clearTimeout(k);
    clock.clearTimeout(undefined);
    clock.advance(5);
    assert.equal(n, 1);
    assert.equal(clock.pending, 0);
    assert.equal(clock.nextDue, undefined);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/util/clock.js';
import { MIN_EXCESS_MS, StragglerRule, stragglerAction, stragglerExchangeMs } from '../../src/fms/straggler-rule.js';
import type { MembershipRecord } from '../../src/fms/membership.js';

/** The straggler rule alone, on the fake clock: factor 1.5, window 30 s, samples every 5 s. */
const WINDOW = 30_000;
const EVERY = 5000;
const slow = { computeMs: 30, medianMs: 10 };
const normal = { computeMs: 11, medianMs: 10 };

function rule(): { clock: FakeClock; r: StragglerRule } {
  const clock = new FakeClock(1000);
  return { clock, r: new StragglerRule({ factor: 1.5, windowMs: WINDOW }, clock) };
}

const record = (o: Partial<MembershipRecord> = {}): MembershipRecord => ({ generation: 0, members: [0, 1, 2, 3], spares: [4], failed: [], minNodes: 1, policy: 'replace', state: 'running', ...o });

describe('straggler rule (fake clock)', () => {
  it('a slow-down shorter than the window is suspected and cleared, never confirmed', () => {
    const { clock, r } = rule();
    assert.equal(r.observe(normal), undefined);
    assert.equal(r.observe(slow)?.kind, 'suspected');
    for (let t = EVERY; t < WINDOW; t += EVERY) {
      clock.advance(EVERY);
      assert.equal(r.observe(slow), undefined, `still only suspected ${t} ms in`);
    }
    clock.advance(EVERY - 1);
    const v = r.observe(normal);
    assert.deepEqual([v?.kind, v?.kind === 'cleared' ? v.slowMs : -1], ['cleared', WINDOW - 1]);
    // A new slow spell starts a new window: the one before does not count.
    assert.equal(r.observe(slow)?.kind, 'suspected');
    clock.advance(WINDOW - 1);
    assert.equal(r.observe(slow), undefined);
  });

  it('slow for the whole window is confirmed once, by the first sample at or past its end', () => {
    const { clock, r } = rule();
    r.observe(slow);
    const kinds: string[] = [];
    for (let t = 0; t < 2 * WINDOW; t += EVERY) {
      clock.advance(EVERY);
      const v = r.observe(slow);
      if (v) kinds.push(`${v.kind}@${t + EVERY}`);
    }
    assert.deepEqual(kinds, [`confirmed@${WINDOW}`]);
  });

  it("the window starts where the first slow sample's span does", () => {
    const { clock, r } = rule();
    assert.equal(r.observe({ ...slow, spanMs: EVERY })?.kind, 'suspected');
    clock.advance(WINDOW - EVERY);
    const v = r.observe({ ...slow, spanMs: EVERY });
    assert.deepEqual([v?.kind, v?.kind === 'confirmed' ? v.slowMs : -1], ['confirmed', WINDOW]);
  });

  it('the line: above the factor times the median, and by at least MIN_EXCESS_MS', () => {
    const { r } = rule();
    assert.equal(r.isSlow({ computeMs: 15, medianMs: 10 }), false, 'exactly 1.5x is not above it');
    assert.equal(r.isSlow({ computeMs: 15.01, medianMs: 10 }), true);
    assert.equal(r.isSlow({ computeMs: 0.3, medianMs: 0.1 }), false, '3x of almost nothing is noise');
    assert.equal(r.isSlow({ computeMs: MIN_EXCESS_MS * 3, medianMs: MIN_EXCESS_MS }), true);
  });

  it('reset() ends a suspicion (a new generation) and says how long it had lasted', () => {
    const { clock, r } = rule();
    assert.equal(r.reset(), undefined);
    r.observe(slow);
    clock.advance(WINDOW - 1);
    assert.equal(r.reset(), WINDOW - 1);
    clock.advance(1);
    assert.equal(r.observe(slow)?.kind, 'suspected', 'the window starts again');
  });

  it('the exchange interval: five samples a window, from 100 ms to 5 s apart', () => {
    assert.deepEqual([30_000, 3000, 200, 3_600_000].map(stragglerExchangeMs), [5000, 600, 100, 5000]);
  });
});

describe('what a confirmed straggler leads to', () => {
  it('replace: declared when a spare would take its rank, else reported', () => {
    assert.deepEqual(stragglerAction('replace', record()), { declare: true });
    assert.deepEqual(stragglerAction('replace', record({ spares: [] })), { declare: false, why: 'no spare left to replace it' });
    assert.equal(stragglerAction('replace', record({ policy: 'shrink' })).declare, false, '--on-fault shrink uses no spare');
  });

  it('report: never declared, spares or not', () => {
    for (const r of [record(), record({ spares: [] })]) assert.deepEqual(stragglerAction('report', r), { declare: false, why: '--on-straggler report' });
  });

  it('shrink: declared without a spare too, unless --min-nodes forbids one member fewer', () => {
    assert.deepEqual(stragglerAction('shrink', record({ spares: [] })), { declare: true });
    assert.deepEqual(stragglerAction('shrink', record({ spares: [], minNodes: 4 })).declare, false);
    assert.deepEqual(stragglerAction('shrink', record({ minNodes: 4 })), { declare: true }, 'a spare keeps the job at four');
  });
});

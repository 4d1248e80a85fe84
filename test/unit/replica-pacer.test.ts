import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplicaPacer, type PacerHost } from '../../src/sdk/replica-pacer.js';
import type { Cadence } from '../../src/state/replica-cadence.js';

/** A member's view: a clock the test moves, and an exchange the test answers (or fails). */
function harness(targetMs: number | undefined, rank = 0, versions: { versionMs?: number; versionEvery?: number } = {}) {
  let clock = 0;
  /** `sent`: the step measured here; `cost`: a version's commit, measured here. The test answers for every member. */
  const exchanges: { sent: number; cost: number; resolve: (v: number, cost?: number) => void; reject: (e: Error) => void }[] = [];
  const events: { event: string; fields: Record<string, unknown> }[] = [];
  const applied: Cadence[] = [];
  const host: PacerHost = {
    rank,
    generation: 3,
    now: () => clock,
    report: (event, fields) => events.push({ event, fields }),
    exchange: (buf) =>
      new Promise((resolve, reject) => {
        exchanges.push({ sent: buf[0] as number, cost: buf[1] as number, resolve: (v, cost = buf[1] as number) => resolve(new Float64Array([v, cost])), reject });
      }),
  };
  const pacer = new ReplicaPacer({ keep: 3, base: 10, targetMs, versionMs: versions.versionMs, versionEvery: versions.versionEvery ?? 1 }, host, (c) => applied.push(c));
  /** Commits versions from..to, `stepMs` apart, each version's commit taking `costMs` if given. */
  const commit = (from: number, to: number, stepMs: number, costMs?: number): void => {
    for (let v = from; v <= to; v++) {
      clock += stepMs;
      pacer.committed(v, costMs);
    }
  };
  return { pacer, exchanges, events, applied, commit, last: () => applied.at(-1) as Cadence };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('replica pacer: the members choose the replica interval together', () => {
  it('measures the step after a warm-up, exchanges it once, and switches at a multiple of the new interval', async () => {
    const h = harness(250);
    h.pacer.restart(100);
    assert.deepEqual(h.last(), { keep: 3, base: 10, every: 10, versionEvery: 1 }, 'every 10th version after a sync');
    // Slow warm-up steps are not measured.
    h.commit(101, 110, 50);
    h.commit(111, 129, 6);
    assert.equal(h.exchanges.length, 0);
    h.commit(130, 130, 6);
    assert.equal(h.exchanges.length, 1, 'one exchange, at version 130');
    assert.equal(h.exchanges[0]?.sent, 6, 'the mean step over the 20 measured versions');
    assert.deepEqual(h.last(), { keep: 3, base: 10, every: 10, holdFrom: 130, versionEvery: 1 }, 'holds every 10th from 130 until the answer');
    // Another member was slower: its step decides (250 ms / 7.5 ms -> 40 versions).
    h.exchanges[0]?.resolve(7.5);
    await settle();
    assert.deepEqual(h.last(), { keep: 3, base: 10, every: 40, switchAt: 160, versionEvery: 1, versionsFrom: 131, farEvery: 2560 }, 'the second peers: every 2560th, 19.2 s at 7.5 ms, 64 times 250 ms or more');
    const e = h.events.find((x) => x.event === 'replica_interval_chosen');
    assert.deepEqual(e?.fields, { generation: 3, every: 40, from_version: 160, step_ms: 7.5, target_ms: 250, far_every: 2560, far_from: 2560 });
    h.commit(131, 400, 6);
    assert.equal(h.exchanges.length, 1, 'no second exchange in the same generation');
  });

  it('only rank 0 reports the choice', async () => {
    const h = harness(250, 1);
    h.pacer.restart(0);
    h.commit(1, 30, 1);
    h.exchanges[0]?.resolve(1);
    await settle();
    assert.equal(h.last().every, 320, '250 ms at 1 ms per version');
    assert.equal(h.events.length, 0);
  });

  it('an answer that arrives after a new sync is ignored: the new generation measures again', async () => {
    const h = harness(250);
    h.pacer.restart(0);
    h.commit(1, 30, 2);
    h.pacer.restart(25);
    h.exchanges[0]?.resolve(2);
    await settle();
    assert.deepEqual(h.last(), { keep: 3, base: 10, every: 10, versionEvery: 1 });
    h.commit(26, 55, 2);
    assert.equal(h.exchanges.length, 2, 'measured again from the restored version');
  });

  it('a failed exchange (a fault under it) keeps the hold until the next sync', async () => {
    const h = harness(250);
    h.pacer.restart(0);
    h.commit(1, 30, 2);
    h.exchanges[0]?.reject(new Error('peer failed'));
    await settle();
    assert.deepEqual(h.last(), { keep: 3, base: 10, every: 10, holdFrom: 30, versionEvery: 1 });
    h.pacer.restart(28);
    assert.deepEqual(h.last(), { keep: 3, base: 10, every: 10, versionEvery: 1 });
  });

  it('with a fixed --replicate-every nothing is measured or exchanged', () => {
    const h = harness(undefined);
    h.pacer.restart(0);
    h.commit(1, 500, 1);
    assert.equal(h.exchanges.length, 0);
    assert.deepEqual(h.applied, [{ keep: 3, base: 10, every: 10, versionEvery: 1, switchAt: 10, farEvery: 640 }], 'fixed from the start, the second peers’ interval too');
  });

  it('chooses the version interval in the same exchange: a divisor of the replica interval, from the next multiple of it', async () => {
    const h = harness(250, 0, { versionMs: 40 });
    h.pacer.restart(100);
    h.commit(101, 130, 6);
    h.exchanges[0]?.resolve(7.5);
    await settle();
    // 40 ms at 7.5 ms per commit: 8 commits (5 would be 37.5 ms).
    assert.deepEqual(h.last(), { keep: 3, base: 10, every: 40, switchAt: 160, versionEvery: 8, versionsFrom: 136, farEvery: 2560 });
    const e = h.events.find((x) => x.event === 'version_interval_chosen');
    assert.deepEqual(e?.fields, { generation: 3, every: 8, from_commit: 136, step_ms: 7.5, target_ms: 40, cost_ms: 0 });
  });

  it('a version that costs more than its share of the interval: versions further apart (the costliest member decides)', async () => {
    const h = harness(250, 0, { versionMs: 40 });
    h.pacer.restart(100);
    // Warm-up commits are not counted; the measured ones take 0.3 ms here.
    h.commit(101, 110, 7.5, 5);
    h.commit(111, 130, 7.5, 0.3);
    assert.ok(Math.abs((h.exchanges[0]?.cost as number) - 0.3) < 1e-9, 'the mean of the measured versions');
    // Another member's copies took 0.3 ms: versions at least 0.3 / 0.0025 = 120 ms apart.
    h.exchanges[0]?.resolve(7.5, 0.3);
    await settle();
    // Divisors of 40 at 7.5 ms: 10 is 75 ms, 20 is 150 ms.
    assert.deepEqual(h.last(), { keep: 3, base: 10, every: 40, switchAt: 160, versionEvery: 20, versionsFrom: 140, farEvery: 2560 });
    const e = h.events.find((x) => x.event === 'version_interval_chosen');
    assert.deepEqual(e?.fields, { generation: 3, every: 20, from_commit: 140, step_ms: 7.5, target_ms: 40, cost_ms: 0.3 });
  });

  it('with a fixed --replicate-every the versions are still chosen, among the divisors of its interval', async () => {
    const h = harness(undefined, 0, { versionMs: 40 });
    h.pacer.restart(0);
    h.commit(1, 30, 7.5);
    assert.equal(h.exchanges.length, 1);
    h.exchanges[0]?.resolve(7.5);
    await settle();
    // 40 ms at 7.5 ms per commit among the divisors of 10: 5 is 37.5 ms, so 10.
    assert.deepEqual(h.last(), { keep: 3, base: 10, every: 10, switchAt: 40, versionEvery: 10, versionsFrom: 40, farEvery: 640 });
  });

  it('with a fixed --version-every and --replicate-every nothing is measured, and the versions are fixed from the start', () => {
    const h = harness(undefined, 0, { versionEvery: 5 });
    h.pacer.restart(0);
    h.commit(1, 500, 1);
    assert.equal(h.exchanges.length, 0);
    assert.deepEqual(h.applied, [{ keep: 3, base: 10, every: 10, versionEvery: 5, switchAt: 10, farEvery: 640 }]);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ComputeMeter } from '../../src/sdk/compute-meter.js';
import { BUCKETS, StragglerExchange, bucketMs, bucketOf, histogramMedian } from '../../src/sdk/straggler-exchange.js';

/**
 * The program's side of straggler detection, without processes: the compute meter on a clock
 * the test moves, and the exchange among four members whose allreduce is a sum done here once
 * all four have issued it.
 */

describe('compute meter', () => {
  it('counts the time between operations, not in them; overlapping operations are one wait', () => {
    let t = 0;
    const m = new ComputeMeter(() => t);
    m.begin(); // the first operation: nothing before it is counted
    t = 5;
    m.end();
    t = 12; // 7 computing
    m.begin();
    t = 15;
    m.begin(); // a second one while the first is pending: waiting, not computing
    t = 20;
    m.end();
    t = 25; // still one pending: waiting
    m.end();
    t = 28; // 3 computing, under way
    assert.equal(m.totalMs, 10);
  });

  it('slowBy(F) stalls each compute stretch (F - 1) times its length, and counts the stall as computing', () => {
    let t = 0;
    const stalls: number[] = [];
    const m = new ComputeMeter(
      () => t,
      (ms) => {
        stalls.push(ms);
        t += ms;
      },
    );
    m.begin();
    m.end();
    t = 4;
    m.begin();
    m.end();
    m.slowBy(3);
    t += 4;
    m.begin();
    m.end();
    assert.deepEqual(stalls, [8]);
    assert.equal(m.totalMs, 4 + 12);
  });
});

describe('the histogram and its median', () => {
  it('a time and its bucket middle are within 4.4 % (8 buckets an octave)', () => {
    for (const ms of [0.01, 0.7, 1, 3.3, 16.7, 250, 9000]) {
      const mid = bucketMs(bucketOf(ms));
      assert.ok(Math.abs(Math.log2(mid / ms)) <= 1 / 16 + 1e-9, `${ms} ms -> ${mid}`);
    }
    assert.equal(bucketOf(0), 0);
    assert.equal(bucketOf(1e12), BUCKETS - 1);
  });

  it('the lower median: with two members the faster, with four the second fastest', () => {
    const hist = (...ms: number[]): Float64Array => {
      const h = new Float64Array(BUCKETS);
      for (const x of ms) h[bucketOf(x)]! += 1;
      return h;
    };
    const near = (a: number | undefined, b: number): boolean => a !== undefined && Math.abs(Math.log2(a / b)) <= 1 / 16;
    assert.ok(near(histogramMedian(hist(10, 30))?.medianMs, 10));
    assert.ok(near(histogramMedian(hist(10, 11, 12, 30))?.medianMs, 11));
    assert.ok(near(histogramMedian(hist(30, 10, 10))?.medianMs, 10));
    assert.equal(histogramMedian(hist(10, 11, 12, 30))?.count, 4);
    assert.equal(histogramMedian(new Float64Array(BUCKETS)), undefined);
  });
});

/** Four members committing in lockstep; each exchange resolves with the sum once all four issued it. */
function members(computePerStep: (rank: number) => number, intervalMs: number) {
  let t = 0;
  const reports: { rank: number; computeMs: number; medianMs: number; world: number }[] = [];
  const exchangedAt: number[][] = [[], [], [], []];
  let pending: { buf: Float64Array; resolve: (r: Float64Array) => void }[] = [];
  const compute = [0, 0, 0, 0];
  let version = 0;
  const ex = [0, 1, 2, 3].map(
    (rank) =>
      new StragglerExchange(intervalMs, {
        generationOf: () => 0,
        computeMs: () => compute[rank]!,
        now: () => t,
        report: (m) => reports.push({ rank, ...m }),
        exchange: (buf) => {
          exchangedAt[rank]!.push(version);
          return new Promise((resolve) => {
            pending.push({ buf, resolve });
            if (pending.length < 4) return;
            const sum = new Float64Array(buf.length);
            for (const p of pending) for (let i = 0; i < sum.length; i++) sum[i]! += p.buf[i]!;
            const all = pending;
            pending = [];
            for (const p of all) p.resolve(sum);
          });
        },
      }),
  );
  for (const e of ex) e.restart(0);
  return {
    reports,
    exchangedAt,
    /** One step: 10 ms of wall time, each member computing its share of it, then a commit each. */
    async step(): Promise<void> {
      t += 10;
      for (let r = 0; r < 4; r++) compute[r]! += computePerStep(r);
      version++;
      for (const e of ex) e.committed(version);
      // The answer arrives before the program's next commit (operations complete in order).
      await new Promise((r) => setImmediate(r));
    },
  };
}

describe('straggler exchange', () => {
  it('every member exchanges at the same commits, about intervalMs apart, and learns its time and the median', async () => {
    const m = members((r) => (r === 2 ? 9 : 3), 200);
    for (let i = 0; i < 200; i++) await m.step();
    assert.ok(m.exchangedAt.every((a) => JSON.stringify(a) === JSON.stringify(m.exchangedAt[0])), 'the same commits on every member');
    // Warm-up (10 commits) and the first window (10), then 200 ms / 10 ms per step = 20 commits apart.
    assert.deepEqual(m.exchangedAt[0]!.slice(0, 4), [20, 40, 60, 80]);
    // The first exchange only sizes the next window: it is not reported.
    const byRank = (r: number) => m.reports.filter((x) => x.rank === r);
    assert.equal(byRank(0).length, m.exchangedAt[0]!.length - 1);
    for (const x of m.reports) {
      assert.equal(x.world, 4);
      assert.ok(Math.abs(x.medianMs - 3) / 3 < 0.045, `median ${x.medianMs}`);
      assert.ok(Math.abs(x.computeMs - (x.rank === 2 ? 9 : 3)) < 1e-9, `rank ${x.rank}: ${x.computeMs}`);
    }
  });

  it('after a sync it starts again: nothing is exchanged in the warm-up', async () => {
    const m = members(() => 3, 200);
    for (let i = 0; i < 15; i++) await m.step();
    assert.deepEqual(m.exchangedAt[0], []);
  });
});

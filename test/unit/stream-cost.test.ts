import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { costSince, costSum, noCost, noSide, StretchMeter, thisThreadCpuUs, type FurtherStreamCost } from '../../src/state/stream-cost.js';
import { armsOf, benchStateArms, furtherShares, type ArmRunner } from '../../src/bench/state-arms.js';
import type { JobCpu, StateBenchOptions } from '../../src/bench/state-overhead.js';

/** A clock that moves only when told: each reading returns the current value. */
function fakeClock(start = 0): { now: () => number; add: (d: number) => void } {
  let t = start;
  return { now: () => t, add: (d) => (t += d) };
}

/** [versions, CPU µs, wall µs, pushes (as many as versions if not given)] per side. */
type Side = [number, number, number, number?];
const cost = (sent: Side, stored: Side, farEvery?: number): FurtherStreamCost => ({
  sent: { versions: sent[0], pushes: sent[3] ?? sent[0], bytes: 0, cpuUs: sent[1], wallUs: sent[2] },
  stored: { versions: stored[0], pushes: stored[3] ?? stored[0], bytes: 0, cpuUs: stored[1], wallUs: stored[2] },
  farEvery,
});

describe('the further peers stream: counting its cost (state/stream-cost.ts)', () => {
  it('a stretch adds its CPU and wall time to the side it is timed into; a nested one counts once', () => {
    const cpu = fakeClock(1000);
    const wall = fakeClock(50);
    const m = new StretchMeter(cpu.now, wall.now);
    const side = noSide();
    const r = m.time(side, () => {
      cpu.add(300);
      wall.add(0.5); // ms
      // Nested: already inside a timed stretch (a push answered from within the data callback).
      m.time(side, () => {
        cpu.add(100);
        wall.add(0.1);
      });
      return 7;
    });
    assert.equal(r, 7);
    assert.equal(side.cpuUs, 400);
    assert.ok(Math.abs(side.wallUs - 600) < 1e-6, `wall ${side.wallUs}`);
    // Nothing timed between stretches is counted.
    cpu.add(5000);
    wall.add(5);
    m.time(side, () => cpu.add(20));
    assert.equal(side.cpuUs, 420);
  });

  it('a stretch that throws is counted too, and the meter is not left nested', () => {
    const cpu = fakeClock();
    const m = new StretchMeter(cpu.now, () => 0);
    const side = noSide();
    assert.throws(() => m.time(side, () => (cpu.add(10), assert.fail('boom'))));
    m.time(side, () => cpu.add(5));
    assert.equal(side.cpuUs, 15);
  });

  it('CPU that cannot be read is NaN, not 0 (the output then says n/a)', () => {
    const m = new StretchMeter(() => undefined, () => 0);
    const side = noSide();
    m.time(side, () => undefined);
    assert.ok(Number.isNaN(side.cpuUs));
  });

  it('this thread’s CPU from /proc/thread-self/schedstat grows with work done (Linux)', { skip: process.platform !== 'linux' }, () => {
    const a = thisThreadCpuUs() as number;
    let x = 0;
    for (let i = 0; i < 3e6; i++) x += Math.sqrt(i);
    assert.ok(x > 0);
    const b = thisThreadCpuUs() as number;
    assert.ok(b >= a, `${a} then ${b}`);
  });

  it('a window is the later reading less the earlier; nodes sum; a NaN sent through JSON (null) stays NaN', () => {
    const w = costSince(cost([5, 700, 900], [4, 300, 400], 640), cost([2, 100, 150], [1, 50, 60]));
    assert.deepEqual(w, cost([3, 600, 750], [3, 250, 340], 640));
    const viaJson = JSON.parse(JSON.stringify(cost([1, NaN, 10], [0, 0, 0], 640))) as FurtherStreamCost;
    const s = costSum([cost([2, 20, 30], [1, 5, 6]), viaJson, cost([0, 0, 0], [2, 7, 8])]);
    assert.equal(s.sent.versions, 3);
    assert.ok(Number.isNaN(s.sent.cpuUs), 'one node unreadable: the sum is unknown');
    assert.equal(s.sent.wallUs, 40);
    assert.equal(s.stored.cpuUs, 12);
    assert.equal(s.farEvery, 640);
    assert.deepEqual(costSum([]), noCost());
  });
});

describe('bench state --compare: the arms and the B arm’s own accounting (bench/state-arms.ts)', () => {
  const o: StateBenchOptions = { ranks: 3, bytes: 4 << 20, steps: 600, warmup: 300, warmupMs: 20_000, rounds: 4, json: false, proxy: 'inline', verifyEvery: 40 };

  it('same: both arms identical, one peer, everything else as given', () => {
    const { a, b } = armsOf(o, 'same');
    assert.deepEqual(a, b);
    assert.equal(a.replicas, 1);
    assert.deepEqual({ ...a, replicas: undefined }, { ...o, replicas: undefined });
  });

  it('replicas: 1 peer against 2; verify: replicated, never against the given cadence', () => {
    const r = armsOf(o, 'replicas');
    assert.deepEqual([r.a.replicas, r.b.replicas], [1, 2]);
    assert.deepEqual({ ...r.a, replicas: 0 }, { ...r.b, replicas: 0 });
    const v = armsOf(o, 'verify');
    assert.deepEqual([v.a.verifyEvery, v.b.verifyEvery, v.a.replicated, v.b.replicated], [0, 40, true, true]);
  });

  it('the stream’s shares: the window per step, and the steady state from the cost per push, to 2 peers, one version per node every farEvery commits', () => {
    // 3 ranks, their main threads 30,000 µs of CPU per step in all; 600 steps.
    const f = {
      window: cost([2, 1200, 3000], [2, 600, 1000], 2560),
      run: cost([90, 40_000, 90_000, 100], [110, 20_000, 30_000], 2560),
    };
    const s = furtherShares(f, 30_000, 600, 3, 2);
    assert.equal(s.windowSent, 2);
    assert.equal(s.windowStored, 2);
    // (1200 + 600) µs over 600 steps = 3 µs per step, of 30,000: 0.01 %.
    assert.ok(Math.abs(s.windowCpuPct - 0.01) < 1e-12, String(s.windowCpuPct));
    assert.ok(Math.abs(s.windowWallPct - (4000 / 600 / 30_000) * 100) < 1e-12);
    // 60,000 µs for 100 pushes (of 90 versions): 600 µs each, sender and receiver.
    assert.equal(s.perPushCpuUs, 600);
    assert.equal(s.perPushWallUs, 1200);
    // Each of 3 nodes pushes one version to 2 peers every 2560 commits: 600 * 2 * 3 / 2560 µs per step, of 30,000.
    assert.ok(Math.abs(s.steadyCpuPct - ((600 * 2 * 3) / 2560 / 30_000) * 100) < 1e-12, String(s.steadyCpuPct));
    assert.ok(Math.abs(s.steadyWallPct - ((1200 * 2 * 3) / 2560 / 30_000) * 100) < 1e-12);
  });

  it('no far lattice chosen, or nothing sent: the steady state is unknown (NaN), not 0', () => {
    const none = furtherShares({ window: cost([0, 0, 0], [0, 0, 0]), run: cost([5, 500, 600], [5, 100, 100]) }, 30_000, 600, 3, 2);
    assert.ok(Number.isNaN(none.steadyCpuPct));
    const nothing = furtherShares({ window: cost([0, 0, 0], [0, 0, 0]), run: cost([0, 0, 0], [0, 0, 0], 640) }, 30_000, 600, 3, 2);
    assert.ok(Number.isNaN(nothing.perPushCpuUs));
    assert.ok(Number.isNaN(nothing.steadyCpuPct));
    assert.equal(nothing.windowCpuPct, 0);
  });

  /** A fake job per arm: CPU per step `total` (main threads 30,000 µs), and the B arm's stream counted as given. */
  function fakeRunner(totals: number[]): { run: ArmRunner; seen: StateBenchOptions[] } {
    const seen: StateBenchOptions[] = [];
    const run: ArmRunner = (arm) => {
      seen.push(arm);
      const total = totals[seen.length - 1] as number;
      const cpu: JobCpu = { total, main: 30_000, threads: total - 30_000, fms: 0, launcher: 0 };
      const further = { window: cost([3, 900, 1800, 6], [6, 300, 600]), run: cost([40, 20_000, 40_000, 50], [50, 10_000, 20_000], 2560) };
      return Promise.resolve({ stepUs: 7000, cpu, verification: undefined, further });
    };
    return { run, seen };
  }

  it('same: the arms interleaved A B, then B A, as the others; B less A printed as for them, with the A/A note', async () => {
    const { run, seen } = fakeRunner([33_000, 33_300, 33_000, 33_000, 33_000, 32_700]);
    const lines: string[] = [];
    await benchStateArms({ ...o, rounds: 3 }, 'same', (l) => lines.push(l), run);
    const [a, b] = [seen[0], seen[1]];
    // The arms' settings are equal, so told apart by identity.
    assert.notEqual(a, b);
    assert.deepEqual(seen.map((x) => (x === a ? 'A' : x === b ? 'B' : '?')), ['A', 'B', 'B', 'A', 'A', 'B']);
    assert.ok(seen.every((x) => x.replicas === 1));
    // Round 1: B 33,300 less A 33,000 of 30,000: +1 %; round 2: B first (33,000), A second (33,000): 0; round 3: -1 %.
    assert.match(lines.join('\n'), /B less A, as a share of A's ranks' main threads: 0% \(median; rounds 1, 0, -1\)/);
    assert.match(lines.join('\n'), /A\/A: both arms the same/);
    assert.doesNotMatch(lines.join('\n'), /further-peers stream/);
  });

  it('replicas: B’s further stream in the window and at the steady state, in the text and the JSON', async () => {
    const lines: string[] = [];
    await benchStateArms({ ...o, rounds: 2 }, 'replicas', (l) => lines.push(l), fakeRunner([33_000, 33_300, 33_300, 33_000]).run);
    const text = lines.join('\n');
    // Window: 1200 µs CPU, 2400 wall, over 600 steps, of 30,000: 0.0067 %, 0.0133 %.
    assert.match(text, /timed window, per round: versions sent to further peers 3, 3; replicas stored from them 6, 6; their work CPU 0.0067% .* wall 0.0133%/);
    // Per push: 30,000 µs CPU / 50 = 600; 60,000 wall / 50 = 1200; steady: 600 * 2 * 3 / 2560 / 30,000.
    assert.match(text, /per push to a peer, sender and receiver \(whole runs, per round: pushes 50, 50\), CPU 600, 600 us, wall 1200, 1200 us; to 2 peers, one version per node every 2560, 2560 commits/);
    assert.match(text, new RegExp(`CPU ${+(((600 * 2 * 3) / 2560 / 30_000) * 100).toFixed(4)}% `));
    const json: string[] = [];
    await benchStateArms({ ...o, rounds: 2, json: true }, 'replicas', (l) => json.push(l), fakeRunner([33_000, 33_300, 33_300, 33_000]).run);
    const row = JSON.parse(json[0] as string) as Record<string, unknown>;
    assert.deepEqual(row.further_window_sent, [3, 3]);
    assert.equal(row.further_steady_wall_pct, +(((1200 * 2 * 3) / 2560 / 30_000) * 100).toFixed(4));
    assert.deepEqual(row.far_every, [2560, 2560]);
    // B's 300 µs more per step are all in the ranks' other threads (the fake's keeper), 1 % of A's main threads.
    assert.deepEqual(row.cost_by_part_pct, { main: 0, threads: 1, fms: 0, launcher: 0 });
    assert.match(text, /B less A by part \(medians\): ranks' main threads 0%, their other threads \(keeper, heartbeat\) 1%, FMSes 0%, launcher 0%/);
  });
});

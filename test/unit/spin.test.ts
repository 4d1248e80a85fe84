import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEDICATED_SPIN_MAX_BYTES, SHARED_SPIN_MAX_BYTES } from '../../src/comm/communicator.js';
import { cpuYield, loadCpuYield } from '../../src/comm/cpu-yield.js';
import { autoSpin } from '../../src/comm/rendezvous.js';
import { Spinner } from '../../src/comm/spinner.js';

const settledAfter = (ms: number): { settled: boolean } => {
  const run = { settled: false };
  setTimeout(() => (run.settled = true), ms);
  return run;
};

describe('polling and yielding', () => {
  it('loads sched_yield through WASI without printing the experimental warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const y = await loadCpuYield();
      assert.equal(typeof y, 'function');
      assert.equal(cpuYield(), y);
      (y as () => void)();
      // Warnings are emitted on a later tick.
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings.filter((w) => w.includes('WASI')), []);
  });

  it('a spinner given a yield calls it between polls, and stops when the run settles', async () => {
    let yields = 0;
    const s = new Spinner(20_000, () => void yields++);
    const run = settledAfter(5);
    s.watch(run);
    await new Promise((r) => setTimeout(r, 30));
    assert.ok(yields > 0, 'yielded while polling');
    const after = yields;
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(yields, after, 'no polling once settled');
  });

  it('a spinner without one does not yield (a core for each rank)', async () => {
    let polls = 0;
    // A window far longer than a loaded machine keeps a process off its core (2 ms was not).
    const s = new Spinner(100_000);
    const run = { get settled(): boolean {
      polls++;
      return false;
    } };
    s.watch(run);
    await new Promise((r) => setTimeout(r, 150));
    assert.ok(polls > 1, `${polls} polls`);
  });

  it('a spinner with a late yield polls tight for its first window, then yields between polls', async () => {
    const yields: number[] = [];
    let polls = 0;
    // 20 ms without yields, then yields until 60 ms.
    const s = new Spinner(20_000, () => void yields.push(performance.now() - t0), 20_000);
    const t0 = performance.now();
    const run = { get settled(): boolean {
      polls++;
      return false;
    } };
    s.watch(run, 40_000);
    await new Promise((r) => setTimeout(r, 120));
    assert.ok(polls > 2, `${polls} polls`);
    assert.ok(yields.length > 0, 'yielded in the late part of the window');
    assert.ok(yields.every((at) => at >= 20), `no yield in the first 20 ms (first at ${yields[0]?.toFixed(1)} ms)`);
    const after = polls;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(polls, after, 'no polling after the window');
  });

  it('chooses polling from the ranks on this host and its cores', async () => {
    const four = ['10.0.0.1:1', '10.0.0.1:2', '10.0.0.1:3', '10.0.0.1:4'];
    // A core each: polls up to 1 MiB, the long ones yielding (the yield loads here).
    assert.deepEqual(await autoSpin(four, 0, 4, {}), { spinUs: 50, spinLateYield: true, spinMaxBytes: DEDICATED_SPIN_MAX_BYTES });
    assert.deepEqual(await autoSpin(four, 0, 4, { spinLateYield: false }), { spinUs: 50 });
    assert.deepEqual(await autoSpin(four, 0, 4, { spinMaxBytes: 65536 }), { spinUs: 50, spinLateYield: true, spinMaxBytes: 65536 });
    assert.deepEqual(await autoSpin(four, 0, 2, {}), { spinUs: 50, spinYield: true, spinMaxBytes: SHARED_SPIN_MAX_BYTES });
    assert.deepEqual(await autoSpin(four, 0, 2, { spinMaxBytes: 4096 }), { spinUs: 50, spinYield: true, spinMaxBytes: 4096 });
    assert.deepEqual(await autoSpin(four, 0, 2, { spinYield: false }), { spinUs: 0 });
    // Two hosts of two ranks each: a core each on a 2-core host.
    assert.deepEqual(await autoSpin(['10.0.0.1:1', '10.0.0.1:2', '10.0.0.2:1', '10.0.0.2:2'], 3, 2, {}), { spinUs: 50, spinLateYield: true, spinMaxBytes: DEDICATED_SPIN_MAX_BYTES });
    assert.deepEqual(await autoSpin(['not an address'], 0, 2, {}), { spinUs: 0 });
  });
});

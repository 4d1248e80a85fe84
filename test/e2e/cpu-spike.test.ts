import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { completedResults, of, runJob } from '../helpers/job.js';

/**
 * A CPU spike is no fault (issue 28): the 4-node demo workload with every core saturated for
 * 2 s by processes outside the job, mid-job. Everything on the host is delayed alike (programs'
 * heartbeat threads, FMSes, the launcher); nothing may be taken for a hang or a dead node.
 */
const PROGRAM = fileURLToPath(new URL('../../examples/fashion-mnist/main.js', import.meta.url));
const SPIKE_MS = 2000;

/** One busy process per core, and as many again: each spins for `ms` and reports when it stopped. */
function spike(ms: number): { procs: ChildProcess[]; done: Promise<{ start: number; end: number }> } {
  const n = 2 * availableParallelism();
  const start = Date.now();
  const procs = Array.from({ length: n }, () => spawn(process.execPath, ['-e', `const t = Date.now(); while (Date.now() - t < ${ms});`], { stdio: 'ignore' }));
  const done = Promise.all(procs.map((p) => new Promise<void>((r) => p.on('exit', () => r())))).then(() => ({ start, end: Date.now() }));
  return { procs, done };
}

describe('a CPU spike from outside the job', { timeout: 180_000 }, () => {
  it('every core saturated for 2 s mid-job: no suspicion turns into a fault, the job keeps its 4 members and completes', async () => {
    let load: ReturnType<typeof spike> | undefined;
    const run = await runJob(['--nodes', '4', '--spares', '1', '--', process.execPath, PROGRAM, '--synthetic', '--train-size', '6000', '--steps', '500'], {
      timeoutMs: 150_000,
      // Mid-job: once every member has logged progress.
      waitFor: (evs) => new Set(of(evs, 'node_progress').map((e) => e.node)).size >= 4,
      during: () => (load = spike(SPIKE_MS)),
    });
    assert.ok(load, 'the spike was started');
    const { start, end } = await load.done;
    // The premise: the spike really ran inside the job, for its whole length.
    const completed = of(run.events, 'job_completed')[0];
    assert.ok(completed && completed.ts > end, `the job was still running when the spike ended (spike ${start}-${end}, job end ${completed?.ts})`);
    assert.ok(end - start >= SPIKE_MS, `the spike lasted ${end - start} ms`);
    assert.deepEqual(
      of(run.events, 'fault_detected').map((e) => `node ${String(e.by)} accused ${JSON.stringify(e.failed)}: ${String(e.detail)}`),
      [],
      'a spike that delays everything on the host is no fault',
    );
    assert.deepEqual(of(run.events, 'membership_updated'), [], 'generation 0 throughout');
    const { result, results } = completedResults<{ world: number; steps: number; digest: string }>(run);
    assert.equal(result.steps, 500);
    assert.deepEqual(Object.values(results).map((r) => r.world), [4, 4, 4, 4]);
  });
});

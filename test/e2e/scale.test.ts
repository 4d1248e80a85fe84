import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STEPS_PROGRAM, completedResults, of, runJob } from '../helpers/job.js';

/**
 * Scale on this machine (issue 26): 32 nodes are 64 processes on 2 cores, a load test. The job
 * may be slow; it must never be wrong: load is not a fault, so no FMS may declare one.
 */
describe('32 nodes on this machine', { timeout: 300_000 }, () => {
  it('fault-free: no fault declared, the job keeps all 32 members and completes', async () => {
    const run = await runJob(['--nodes', '32', '--', process.execPath, STEPS_PROGRAM, '--steps', '200', '--step-ms', '20'], { timeoutMs: 240_000 });
    const faults = of(run.events, 'fault_detected');
    assert.deepEqual(
      faults.map((e) => `node ${String(e.by)} accused ${JSON.stringify(e.failed)}: ${String(e.detail)}`),
      [],
      'an overloaded machine is not a fault: nobody may be declared failed',
    );
    assert.deepEqual(of(run.events, 'membership_updated'), [], 'generation 0 throughout');
    const { results } = completedResults<{ world: number }>(run);
    assert.equal(Object.keys(results).length, 32, 'every member finished');
    for (const r of Object.values(results)) assert.equal(r.world, 32);
  });
});

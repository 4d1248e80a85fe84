import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { first, runJob, completedResults } from '../helpers/job.js';
/**
 * examples/tfjs end to end: TensorFlow.js (wasm) training on 3 nodes and a spare, with the
 * synthetic data set so it needs no download and stays short. The momentum optimiser's state
 * is restored exactly, so a run with a fault must end with the same weights as one without.
 */
const PROGRAM = fileURLToPath(new URL('../../examples/tfjs/main.js', import.meta.url));
const STEPS = 40;
const KILL_AT = 20;
const JOB_MS = 180_000;
const job = (...chaos) => ['--nodes', '3', '--spares', '1', ...chaos, '--', process.execPath, PROGRAM, '--synthetic', '--steps', String(STEPS), '--batch', '32'];
function completed(run) {
    const { result, results } = completedResults(run);
    for (const r of Object.values(results))
        assert.equal(r.digest, result.digest, 'every member ends with the same weights');
    assert.equal(result.steps, STEPS);
    assert.match(result.digest, /^[0-9a-f]{16}$/);
    return result;
}
describe('examples/tfjs: TensorFlow.js data-parallel training', { timeout: 600_000 }, () => {
    let reference;
    before(async () => {
        reference = completed(await runJob(job(), { timeoutMs: JOB_MS }));
    });
    it('learns: accuracy far above chance (0.1)', () => {
        assert.ok(reference.accuracy > 0.6, `accuracy ${reference.accuracy}`);
    });
    it('a node killed mid-run: rolled back to a common version, and the same weights bit for bit', async () => {
        const run = await runJob(job('--chaos', `kill:node=1@step=${KILL_AT}`), { timeoutMs: JOB_MS });
        const result = completed(run);
        const selected = first(run.events, 'common_state_selected', (e) => e.generation >= 1);
        assert.ok(selected, 'common state selected after the fault');
        const step = selected.step;
        // The replaced node's state comes from its buddy, which receives every 10th version (the
        // default --replicate-every), and the newer of two may be in flight at the fault.
        assert.ok(step <= KILL_AT && step >= KILL_AT - 2 * 10, `rolled back to step ${step}`);
        assert.equal(result.digest, reference.digest);
        assert.equal(result.accuracy, reference.accuracy);
    });
});
//# sourceMappingURL=example-tfjs.test.js.map
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { first, runJob, completedResults } from '../helpers/job.js';
/**
 * The Fashion-MNIST example as users run it: real processes under `rollcall launch`. Synthetic
 * data keeps it to seconds and independent of the Debian package; the reference is the run
 * without faults, which replace mode must reproduce bit for bit.
 */
const PROGRAM = fileURLToPath(new URL('../../examples/fashion-mnist/main.js', import.meta.url));
const STEPS = 80;
const program = (...args) => ['--', process.execPath, PROGRAM, ...args];
const synthetic = program('--synthetic', '--train-size', '6000', '--steps', String(STEPS));
function completed(run) {
    const { result, results } = completedResults(run);
    for (const r of Object.values(results))
        assert.equal(r.digest, result.digest, 'every member ends with the same weights');
    return result;
}
describe('example: fashion-mnist', { timeout: 300_000 }, () => {
    let reference;
    before(async () => {
        reference = completed(await runJob(['--nodes', '3', '--spares', '1', ...synthetic]));
    });
    it('trains to well above chance and reports a digest', () => {
        assert.equal(reference.steps, STEPS);
        assert.equal(reference.synthetic, true);
        assert.ok(reference.accuracy >= 0.8, `accuracy ${reference.accuracy}`);
        assert.match(reference.digest, /^[0-9a-f]{16}$/);
    });
    it('a program killed mid-run is replaced and the weights come out bit-identical', async () => {
        const run = await runJob(['--nodes', '3', '--spares', '1', '--chaos', `kill:node=1@step=${STEPS / 2}`, ...synthetic]);
        assert.equal(completed(run).digest, reference.digest);
        assert.ok(first(run.events, 'common_state_selected', (e) => e.generation >= 1), 'rolled back to a common version');
    });
    it('without the data set the job fails and names the package to install', async () => {
        const run = await runJob(['--nodes', '2', ...program('--data', '/nonexistent', '--steps', '5')]);
        assert.notEqual(run.code, 0);
        assert.match(run.err, /Fashion-MNIST not found in \/nonexistent/);
        assert.match(run.err, /apt-get install dataset-fashion-mnist/);
        assert.equal(first(run.events, 'job_completed'), undefined);
    });
});
//# sourceMappingURL=example-fashion-mnist.test.js.map
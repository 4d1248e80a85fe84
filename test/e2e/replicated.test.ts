import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { TRAIN_PROGRAM, completedResults, completedTraining, first, of, runJob } from '../helpers/job.js';

/**
 * State declared replicated, end to end: a bit flipped in one member's memory is found by the
 * members' digests and the job ends bit-identical to the run without it; two adjacent members
 * killed together lose nothing; two members that keep disagreeing call on a spare to tell which is
 * wrong; and a corruption nothing can attribute ends the job as the job's failure, with its
 * state kept and the --resume hint. The reference is always the same job
 * without faults.
 */
const FASHION = fileURLToPath(new URL('../../examples/fashion-mnist/main.js', import.meta.url));
const fashion = (...extra: string[]): string[] => ['--verify-every', '10', '--', process.execPath, FASHION, '--synthetic', '--train-size', '6000', '--steps', '80', ...extra];
const train = (...extra: string[]): string[] => ['--', process.execPath, TRAIN_PROGRAM, '--steps', '60', ...extra];

describe('replicated state: silent data corruption and double faults', { timeout: 300_000 }, () => {
  it('a bit flipped on one of 4 Fashion-MNIST members: found, the member replaced, the weights bit-identical', async () => {
    // One after the other: two jobs at once on a small machine make false faults.
    const reference = await runJob(['--nodes', '4', '--spares', '1', ...fashion()], { timeoutMs: 120_000 });
    const run = await runJob(['--nodes', '4', '--spares', '1', '--chaos', 'corrupt:node=2@step=30', ...fashion()], { timeoutMs: 120_000 });
    const ref = completedResults<{ digest: string }>(reference).result;
    // Every member's weights, not only rank 0's: without the verification the corrupted member
    // ends with its own (its flipped weight may never reach the others' through the gradients).
    const { result, results } = completedResults<{ digest: string }>(run);
    for (const [node, r] of Object.entries(results)) assert.equal(r.digest, ref.digest, `node ${node}`);
    assert.equal(result.digest, ref.digest);
    const detected = first(run.events, 'corruption_detected');
    assert.ok(detected, 'corruption_detected');
    // Verified every 10 commits: the flip lands in commit 31, so version 40 differs and 30 was the last agreed.
    assert.equal(detected.version, 40);
    assert.equal(detected.rollback_to, 30);
    assert.equal(detected.action, 'replace');
    const fault = first(run.events, 'fault_detected', (e) => e.cause === 'corruption');
    assert.deepEqual(fault?.failed, [2], 'node 2 failed for corruption');
    assert.equal(first(run.events, 'common_state_selected', (e) => (e.generation as number) >= 1)?.version, 30);
    assert.equal(of(reference.events, 'corruption_detected').length, 0, 'no false alarm without the fault');
  });

  for (const how of [
    { what: 'state not declared replicated, from the replica at the second peer', args: ['--persist-every', '1000000', ...train()] },
    { what: 'state declared replicated, with one replica peer: from any member', args: ['--persist-every', '1000000', '--replicas', '1', ...train('--replicated')] },
  ]) {
    it(`two adjacent members killed together, two spares: bit-identical, rolled back to a recent version (${how.what})`, async () => {
      // Node 2 holds node 1's first replica; the only file on disk is the initial state.
      const reference = await runJob(['--nodes', '3', '--spares', '2', ...how.args]);
      const run = await runJob(['--nodes', '3', '--spares', '2', '--chaos', 'kill:node=1@step=40,kill:node=2@step=40', ...how.args]);
      assert.deepEqual(completedTraining(run), completedTraining(reference));
      const selected = first(run.events, 'common_state_selected', (e) => (e.generation as number) >= 1);
      assert.ok(selected, 'common state selected');
      assert.ok((selected.version as number) >= 20, `rolled back to version ${String(selected.version)}, not to the initial state on disk`);
    });
  }

  it('two adjacent members killed together once the second peers get only every 64th replica: rolled back to the newest of those, bit-identical', async () => {
    // Replicas of every commit to the first peer; to the second, every commit until the members
    // have chosen their intervals, then every 64th from version 64 (replica-cadence.ts,
    // farEvery). Only the initial state is on disk: version 64 can come only from node 0's
    // memory, its own and the replicas it holds for nodes 1 (second peer) and 2 (first peer).
    const args = ['--persist-every', '1000000', '--replicate-every', '1', ...train('--steps', '100')];
    const reference = await runJob(['--nodes', '3', '--spares', '2', ...args]);
    const run = await runJob(['--nodes', '3', '--spares', '2', '--chaos', 'kill:node=1@step=80,kill:node=2@step=80', ...args]);
    assert.deepEqual(completedTraining(run), completedTraining(reference));
    const selected = first(run.events, 'common_state_selected', (e) => (e.generation as number) >= 1);
    assert.equal(selected?.version, 64, `rolled back to version ${String(selected?.version)}`);
  });

  it('two members and a spare, a corruption that keeps coming back on one: retried once, then it steps out for the spare, and the job ends bit-identical', async () => {
    const args = (...chaos: string[]): string[] => ['--nodes', '2', '--spares', '1', '--verify-every', '10', ...chaos, ...train('--replicated', '--step-ms', '20', '--steps', '300')];
    const reference = await runJob(args());
    const run = await runJob(args('--chaos', 'corrupt:node=1@every=100ms'));
    assert.deepEqual(completedTraining(run), completedTraining(reference));
    // A flip every 100 ms: on a loaded machine an interval may go by without one, and then the
    // digests agree and the next disagreement is a first one again, retried.
    const actions = of(run.events, 'corruption_detected').map((e) => e.action);
    assert.equal(actions.at(-1), 'arbitrate', JSON.stringify(actions));
    assert.ok(actions.length >= 2 && actions.slice(0, -1).every((a) => a === 'retry'), JSON.stringify(actions));
    const fault = first(run.events, 'fault_detected', (e) => e.cause === 'corruption');
    assert.deepEqual(fault?.failed, [1], 'node 1 (rank 1) stepped out');
    assert.match(String(fault?.detail), /steps out so that a spare can tell/);
    assert.deepEqual(first(run.events, 'membership_updated', (e) => (e.added as number[] | undefined)?.includes(2) === true)?.removed, [1], 'the spare took its place');
  });

  it('two members and no spare, a corruption that keeps coming back on one: retried once, then the job fails saying why, its state kept', async () => {
    const run = await runJob(['--nodes', '2', '--verify-every', '10', '--chaos', 'corrupt:node=1@every=100ms', ...train('--replicated', '--step-ms', '20', '--steps', '300')]);
    // 300 steps (not 60): a job that ends before its second check point with a disagreement
    // exits 0 and proves nothing (seen once on a loaded machine).
    assert.notEqual(run.code, 0, JSON.stringify(of(run.events, 'corruption_detected')));
    const actions = of(run.events, 'corruption_detected').map((e) => e.action);
    assert.equal(actions.at(-1), 'fail_job', JSON.stringify(actions));
    assert.ok(actions.length >= 2 && actions.slice(0, -1).every((a) => a === 'retry'), JSON.stringify(actions));
    const failed = first(run.events, 'job_failed');
    assert.ok(failed, 'job_failed');
    assert.match(failed.reason as string, /no majority, a second time .*no spare to tell which member is corrupt/);
    const dir = /rerun with --resume (\S+) /.exec(failed.reason as string)?.[1];
    assert.ok(dir && existsSync(dir), `the state directory is kept: ${String(dir)}`);
    assert.doesNotMatch(failed.reason as string, /a failure of the program itself/);
    assert.equal(first(run.events, 'fault_detected', (e) => e.cause === 'corruption'), undefined, 'nobody blamed');
  });
});

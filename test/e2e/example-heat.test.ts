import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { centre, digest, solveSingle } from '../../examples/heat/solver.js';
import { first, of, runJob, type JobRun } from '../helpers/job.js';

/**
 * examples/heat as a real job. The reference is the same solve in this process: the distributed
 * grid must match it bit for bit, with or without a node killed part-way.
 */
const HEAT = fileURLToPath(new URL('../../examples/heat/main.js', import.meta.url));
const SIZE = 128;
const ITERATIONS = 600;
const COMMIT_EVERY = 5;
const KILL_AT = 200;
const heat = ['--', process.execPath, HEAT, '--size', String(SIZE), '--iterations', String(ITERATIONS), '--commit-every', String(COMMIT_EVERY)];

interface Result {
  iterations: number;
  size: number;
  world: number;
  digest: string;
  centre: number;
}

function completed(run: JobRun): Result {
  assert.equal(run.code, 0, run.err);
  const done = first(run.events, 'job_completed');
  assert.ok(done, 'job completed');
  const results = Object.values(done.results as Record<string, Result>);
  assert.equal(results.length, 3, 'a result from every member');
  for (const r of results) assert.deepEqual(r, done.result, 'every member assembles the same grid');
  return done.result as Result;
}

describe('example: heat diffusion', { timeout: 120_000 }, () => {
  let reference: Result;

  before(() => {
    const grid = solveSingle(SIZE, ITERATIONS);
    reference = { iterations: ITERATIONS, size: SIZE, world: 3, digest: digest(grid), centre: centre(grid, SIZE) };
    // Heat has reached the centre: a grid still all zeros there would match too easily.
    assert.ok(reference.centre > 0);
  });

  it('3 nodes: the grid is bit-identical to a single-process solve', async () => {
    const run = await runJob(['--nodes', '3', '--quiet', ...heat]);
    assert.deepEqual(completed(run), reference);
  });

  it('3 nodes, proxies in threads: the same grid (halos and the allgather through the thread proxy)', async () => {
    const run = await runJob(['--nodes', '3', '--proxy', 'thread', '--quiet', ...heat]);
    assert.deepEqual(completed(run), reference);
  });

  it('a node killed a third of the way: rolled back, resumed, and still bit-identical', async () => {
    const run = await runJob(['--nodes', '3', '--spares', '1', '--quiet', '--chaos', `kill:node=1@step=${KILL_AT}`, ...heat]);
    assert.deepEqual(completed(run), reference);
    assert.ok(first(run.events, 'fault_injected', (e) => e.node === 1), 'node 1 was killed');
    const selected = first(run.events, 'common_state_selected', (e) => (e.generation as number) >= 1);
    assert.ok(selected, 'common state selected after the fault');
    // A real rollback: neither a restart from the initial grid nor a state from after the end.
    const step = selected.step as number;
    assert.ok(step > 0 && step < ITERATIONS, `rolled back to step ${step}`);
    assert.equal(step % COMMIT_EVERY, 0, 'a committed step');
    const resumed = of(run.events, 'program_resumed').filter((e) => e.generation === 1);
    assert.deepEqual(resumed.map((e) => e.node as number).sort(), [0, 2, 3], 'the survivors and the spare resumed');
  });
});

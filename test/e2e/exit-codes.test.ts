import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { STEPS_PROGRAM, TRAIN_PROGRAM, first, jobPids, isAlive, runJob, type JobRun } from '../helpers/job.js';

/**
 * Exit codes that tell the truth (README.md, "Exit codes"): a job that did not do what was asked
 * does not exit 0. Real launcher, FMS and program processes; faults injected with real signals.
 */
const train = (steps: number): string[] => ['--', process.execPath, TRAIN_PROGRAM, '--steps', String(steps), '--step-ms', '5'];

function assertNoOrphans(run: JobRun): void {
  assert.deepEqual(jobPids(run.events).filter(isAlive), [], 'no process left behind');
}

describe('exit codes of the degraded cases', { timeout: 300_000 }, () => {
  it('replace mode with no spare left for a second fault: exit 1, the reason, the --resume hint, the world at start and end (even with --quiet)', async () => {
    // Node 0's fault takes the only spare; node 2's then finds none. --quiet drops the progress
    // lines, never why the job ended or how to go on.
    const run = await runJob(['--nodes', '3', '--spares', '1', '--quiet', '--chaos', 'kill:node=0@step=20,kill:node=2@step=40', ...train(400)]);
    assert.equal(run.code, 1, run.err);
    const failed = first(run.events, 'job_failed');
    assert.ok(failed, 'job_failed logged');
    assert.match(String(failed.reason), /node\(s\) 2 failed and no spare is left/);
    assert.match(String(failed.reason), /replace mode does not shrink the job: give --min-nodes M, or --on-fault shrink/);
    assert.deepEqual([failed.worldStart, failed.worldEnd], [3, 2]);
    assert.equal(first(run.events, 'job_completed'), undefined, 'the job did not quietly finish smaller');
    assert.match(run.err, /job failed: node\(s\) 2 failed and no spare is left.*; world 3 at the start, 2 at the end/);
    const dir = /continue with --resume (\S+)/.exec(run.err)?.[1];
    assert.ok(dir && existsSync(dir), `the --resume hint names a state directory that exists: ${run.err}`);
    assert.equal(run.out, '', 'no result printed for a failed job');
    assert.doesNotMatch(run.err, /recovered:|chaos:/, '--quiet: no progress lines');
    assertNoOrphans(run);
  });

  it('the same faults with --min-nodes 2: the job goes on smaller, as asked, exit 0, and the summary says so', async () => {
    const run = await runJob(['--nodes', '3', '--spares', '1', '--min-nodes', '2', '--chaos', 'kill:node=0@step=20,kill:node=2@step=40', ...train(400)]);
    assert.equal(run.code, 0, run.err);
    const done = first(run.events, 'job_completed');
    assert.deepEqual([done?.worldStart, done?.worldEnd], [3, 2]);
    assert.match(run.err, /job completed at generation \d+: world 3 at the start, 2 at the end/);
    // Recovery times say what they count from; the detection is shown apart.
    assert.match(run.err, /recovered: generation 1 running \d+ ms after the fault was injected \(detected \d+ ms after it\)/);
    const rec = first(run.events, 'recovered', (e) => e.generation === 1);
    assert.equal(rec?.from, 'fault_injected');
    assert.equal(typeof rec?.detectionMs, 'number');
    assertNoOrphans(run);
  });

  it('a program that never calls connect() and exits 0: exit 1, saying so', async () => {
    const run = await runJob(['--nodes', '2', '--', process.execPath, '-e', 'console.log("computed alone")']);
    assert.equal(run.code, 1, run.err);
    assert.match(String(first(run.events, 'job_failed')?.reason), /exited with code 0 without calling connect\(\)/);
    assert.match(run.err, /without calling connect\(\)/);
    assert.equal(first(run.events, 'job_completed'), undefined);
  });

  it('a program without registered state that does not catch MembershipChangedError: the job failed, naming the error', async () => {
    const index = new URL('../../src/index.js', import.meta.url).href;
    const script = `const { connect } = await import(${JSON.stringify(index)});
const job = await connect();
for (let s = 1; s <= 100000; s++) { await job.allreduce(new Float32Array(4)); job.progress(s); await new Promise((r) => setTimeout(r, 5)); }`;
    const file = join(mkdtempSync(join(tmpdir(), 'rollcall-unhandled-')), 'program.mjs');
    writeFileSync(file, script);
    const run = await runJob(['--nodes', '3', '--spares', '1', '--chaos', 'kill:node=1@step=20', '--', process.execPath, file]);
    assert.equal(run.code, 1, run.err);
    const reason = String(first(run.events, 'job_failed')?.reason);
    assert.match(reason, /exited with code 1: unhandled MembershipChangedError \(ERR_MEMBERSHIP_CHANGED\)/);
    assert.match(run.err, /job failed: .*unhandled MembershipChangedError/);
    assertNoOrphans(run);
  });

  it('a --chaos action that never fires (a step past the end): the result is printed, exit 4, and a warning', async () => {
    const run = await runJob(['--nodes', '2', '--quiet', '--chaos', 'kill:node=1@step=100000', '--', process.execPath, STEPS_PROGRAM, '--steps', '20']);
    assert.equal(run.code, 4, run.err);
    const done = first(run.events, 'job_completed');
    assert.deepEqual(done?.chaosNotFired, ['kill:node=1@step=100000']);
    assert.equal(first(run.events, 'fault_injected'), undefined);
    // The job itself completed: its result is there, and the warning is given even with --quiet.
    assert.deepEqual(JSON.parse(run.out.trim()), { result: done?.result });
    assert.match(run.err, /warning: --chaos action\(s\) never fired: kill:node=1@step=100000/);
    assertNoOrphans(run);
  });
});

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ROLLCALL, STEPS_PROGRAM, first, isAlive, jobPids, of, runJob, waitAllDead, type Ev, type JobRun } from '../helpers/job.js';

/**
 * `rollcall launch` end to end: real launcher, FMS and program processes, faults injected with
 * real signals by --chaos, and every assertion made on the event log and the programs' results.
 */
const STEPS = 60;
const program = (...extra: string[]): string[] => ['--', process.execPath, STEPS_PROGRAM, '--steps', String(STEPS), ...extra];

function assertNoOrphans(run: JobRun): void {
  const alive = jobPids(run.events).filter(isAlive);
  assert.deepEqual(alive, [], `processes left behind: ${alive.join(',')}`);
}

function assertCompleted(run: JobRun, world: number, steps = STEPS): void {
  assert.equal(run.code, 0, run.err);
  const done = first(run.events, 'job_completed');
  assert.ok(done, 'job_completed logged');
  const result = done.result as { steps: number; world: number; checksum: number };
  assert.equal(result.steps, steps);
  assert.equal(result.world, world);
  for (const [node, r] of Object.entries(done.results as Record<string, { steps: number; checksum: number }>)) {
    assert.equal(r.steps, steps, `node ${node}`);
    assert.equal(r.checksum, result.checksum, `node ${node} agrees on the checksum`);
  }
  assert.deepEqual(JSON.parse(run.out.trim()), { result });
}

/** The recovery protocol's steps, in order, for one fault of `node`. */
function assertRecovery(run: JobRun, node: number, cause: string, members: number[]): void {
  const ev = run.events;
  const injected = first(ev, 'fault_injected', (e) => e.node === node);
  assert.ok(injected, 'fault injected');
  const detected = first(ev, 'fault_detected', (e) => (e.failed as number[]).includes(node));
  assert.ok(detected, 'fault detected');
  assert.equal(detected.cause, cause);
  assert.ok(detected.ts >= injected.ts);
  const notified = first(ev, 'fault_notified', (e) => e.by === detected.by);
  assert.ok(notified && notified.ts >= detected.ts, 'other FMSes notified');
  // The fault's generation: the first after its detection. (Under heavy load a communicator may
  // break with every member alive before the fault; its renewal, same members, comes earlier.)
  const updated = first(ev, 'membership_updated', (e) => e.ts >= detected.ts && ((e.removed as number[]).includes(node) || (e.members as number[]).includes(node)));
  assert.ok(updated, 'membership updated');
  const g = updated.generation as number;
  assert.equal(g, 1 + of(ev, 'membership_updated').filter((e) => e.ts < detected.ts).length, 'one generation for the fault');
  assert.deepEqual(updated.members, members);
  for (const n of members) {
    const resumed = first(ev, 'program_resumed', (e) => e.node === n && e.generation === g);
    assert.ok(resumed, `node ${n} resumed in generation ${g}`);
    assert.ok(resumed.ts >= detected.ts);
  }
  const recovered = first(ev, 'recovered', (e) => e.generation === g);
  assert.ok(recovered, 'recovery measured');
}

/** Survivors kept their process: the same pid before and after, and no second program_started. */
function assertSamePrograms(ev: Ev[], survivors: number[]): void {
  for (const n of survivors) {
    const started = of(ev, 'program_started').filter((e) => e.node === n);
    assert.equal(started.length, 1, `node ${n}'s program was started once`);
    const resumed = first(ev, 'program_resumed', (e) => e.node === n);
    assert.equal(resumed?.pid, started[0]?.pid, `node ${n} kept pid ${started[0]?.pid}`);
    const idle = first(ev, 'program_idle', (e) => e.node === n);
    assert.ok(idle, `node ${n}'s program was idled`);
    assert.ok(first(ev, 'proxy_relaunched', (e) => e.node === n && (e.generation as number) >= 1), `node ${n}'s proxy relaunched`);
  }
}

describe('rollcall launch: recovery from each kind of fault in each mode', { timeout: 240_000 }, () => {
  for (const proxy of ['inline', 'thread'] as const) {
    it(`replace, program killed: the spare takes its rank, survivors keep their pid (proxy ${proxy})`, async () => {
      const run = await runJob(['--nodes', '3', '--spares', '1', '--proxy', proxy, '--chaos', 'kill:node=1@step=20', ...program()]);
      assertCompleted(run, 3);
      assertRecovery(run, 1, 'exit', [0, 3, 2]);
      assertSamePrograms(run.events, [0, 2]);
      assert.deepEqual(first(run.events, 'membership_updated')?.added, [3]);
      assert.ok(first(run.events, 'node_fenced', (e) => e.node === 1));
      assertNoOrphans(run);
    });

    it(`replace, program hung (SIGSTOP): found by heartbeat and replaced (proxy ${proxy})`, async () => {
      const run = await runJob(['--nodes', '3', '--spares', '1', '--proxy', proxy, '--chaos', 'stop:node=2@step=20', ...program()]);
      assertCompleted(run, 3);
      assertRecovery(run, 2, 'heartbeat', [0, 1, 3]);
      assertSamePrograms(run.events, [0, 1]);
      assertNoOrphans(run);
    });
  }

  it('a program busy for longer than the communicator timeout (10 s) is not a fault', async () => {
    // An inline proxy answers no pings while its program computes; the ranks waiting on it must
    // not take that silence for a fault. The program's heartbeat thread keeps its FMS informed.
    const run = await runJob(['--nodes', '2', '--heartbeat-ms', '100', ...program('--steps', '20', '--block-at', '0:10:11000')]);
    assertCompleted(run, 2, 20);
    assert.equal(of(run.events, 'fault_detected').length, 0, 'no fault was detected');
    assert.equal(of(run.events, 'proxy_broken').length, 0, 'no communicator broke');
  });

  it('shrink, program killed: the job goes on with one node fewer', async () => {
    const run = await runJob(['--nodes', '3', '--on-fault', 'shrink', '--chaos', 'kill:node=0@step=20', ...program()]);
    assertCompleted(run, 2);
    assertRecovery(run, 0, 'exit', [1, 2]);
    assertSamePrograms(run.events, [1, 2]);
    assertNoOrphans(run);
  });

  it('shrink, program hung (SIGSTOP)', async () => {
    const run = await runJob(['--nodes', '3', '--on-fault', 'shrink', '--chaos', 'stop:node=1@step=20', ...program()]);
    assertCompleted(run, 2);
    assertRecovery(run, 1, 'heartbeat', [0, 2]);
    assertSamePrograms(run.events, [0, 2]);
    assertNoOrphans(run);
  });

  for (const kind of ['kill', 'stop'] as const) {
    it(`restart, program ${kind === 'kill' ? 'killed' : 'hung'}: every program is started again (the baseline)`, async () => {
      const run = await runJob(['--nodes', '3', '--on-fault', 'restart', '--chaos', `${kind}:node=2@step=20`, ...program()]);
      assertCompleted(run, 3);
      assertRecovery(run, 2, kind === 'kill' ? 'exit' : 'heartbeat', [0, 1, 2]);
      for (const n of [0, 1, 2]) {
        const pids = of(run.events, 'program_started').filter((e) => e.node === n).map((e) => e.pid);
        assert.equal(pids.length, 2, `node ${n} started twice`);
        assert.notEqual(pids[0], pids[1]);
      }
      assertNoOrphans(run);
    });
  }

  it('replace, whole node killed (FMS included): the others detect it and bring the spare in', async () => {
    const run = await runJob(['--nodes', '3', '--spares', '1', '--chaos', 'kill-node:node=1@step=20', ...program()]);
    assertCompleted(run, 3);
    const detected = first(run.events, 'fault_detected');
    assert.ok(detected && detected.by !== 1, 'detected by another node');
    assert.ok(['connection', 'heartbeat'].includes(detected.cause as string));
    assertRecovery(run, 1, detected.cause as string, [0, 3, 2]);
    assertSamePrograms(run.events, [0, 2]);
    assertNoOrphans(run);
  });

  it('shrink, whole node killed: dropped, the others go on in their processes', async () => {
    const run = await runJob(['--nodes', '3', '--on-fault', 'shrink', '--chaos', 'kill-node:node=2@step=20', ...program()]);
    assertCompleted(run, 2);
    const detected = first(run.events, 'fault_detected');
    assert.ok(detected && detected.by !== 2);
    assertRecovery(run, 2, detected.cause as string, [0, 1]);
    assertSamePrograms(run.events, [0, 1]);
    assertNoOrphans(run);
  });

  it('restart, whole node killed: dropped, and every remaining program started again', async () => {
    const run = await runJob(['--nodes', '3', '--on-fault', 'restart', '--chaos', 'kill-node:node=0@step=20', ...program()]);
    assertCompleted(run, 2);
    const detected = first(run.events, 'fault_detected');
    assert.ok(detected && detected.by !== 0);
    assertRecovery(run, 0, detected.cause as string, [1, 2]);
    for (const n of [1, 2]) assert.equal(of(run.events, 'program_started').filter((e) => e.node === n).length, 2, `node ${n} restarted`);
    assertNoOrphans(run);
  });
});

describe('rollcall launch: robustness', { timeout: 240_000 }, () => {
  it('two nodes killed at once are replaced in one recovery', async () => {
    const run = await runJob(['--nodes', '4', '--spares', '2', '--chaos', 'kill:node=1@step=20,kill:node=2@step=20', ...program()]);
    assertCompleted(run, 4);
    // Updates come from different FMSes, so the log may hold them out of generation order.
    const last = of(run.events, 'membership_updated').sort((a, b) => (a.generation as number) - (b.generation as number)).at(-1);
    assert.deepEqual([...(last?.members as number[])].sort(), [0, 3, 4, 5]);
    assertSamePrograms(run.events, [0, 3]);
    assertNoOrphans(run);
  });

  it('a fault during a recovery starts it again at a higher generation', async () => {
    // Node 3 (the spare brought in for node 1) kills itself as it joins generation 1.
    const run = await runJob(['--nodes', '3', '--spares', '2', '--chaos', 'kill:node=1@step=20', ...program('--die-at-generation', '3:1')]);
    assertCompleted(run, 3);
    const updates = of(run.events, 'membership_updated').sort((a, b) => (a.generation as number) - (b.generation as number));
    assert.deepEqual(
      updates.map((u) => [u.generation, u.members]),
      [
        [1, [0, 3, 2]],
        [2, [0, 4, 2]],
      ],
    );
    const recovered = of(run.events, 'recovered');
    assert.equal(recovered.length, 1, 'one recovery, lengthened by the second fault');
    assert.equal(recovered[0]?.generation, 2);
    assertNoOrphans(run);
  });

  it('fewer than --min-nodes left and no spare: the job stops with a clear reason', async () => {
    const run = await runJob(['--nodes', '3', '--min-nodes', '3', '--on-fault', 'shrink', '--chaos', 'kill:node=1@step=20', ...program()]);
    assert.equal(run.code, 1);
    const failed = first(run.events, 'job_failed');
    assert.match(String(failed?.reason), /below minNodes 3/);
    assert.match(run.err, /below minNodes 3/);
    assertNoOrphans(run);
  });

  it('a program that exits non-zero is a bug: reported, and not relaunched', async () => {
    const run = await runJob(['--nodes', '3', '--spares', '1', ...program('--exit-code-at', '10:3')]);
    assert.equal(run.code, 1);
    assert.ok(first(run.events, 'program_failed', (e) => e.code === 3));
    assert.match(String(first(run.events, 'job_failed')?.reason), /exited with code 3/);
    assert.equal(of(run.events, 'fault_detected').length, 0, 'not taken for a node fault');
    assert.equal(of(run.events, 'program_started').length, 4, 'nothing relaunched');
    assertNoOrphans(run);
  });

  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    it(`${sig} to the launcher shuts every process down`, async () => {
      const run = await runJob(['--nodes', '2', '--spares', '1', ...program('--steps', '0')], {
        // Every program started (the spare's too), and the members running.
        waitFor: (evs) => of(evs, 'program_started').length >= 3 && of(evs, 'proxy_started').length >= 2,
        during: (pid) => process.kill(pid, sig),
      });
      assert.equal(run.code, sig === 'SIGTERM' ? 143 : 130);
      assert.match(String(first(run.events, 'job_failed')?.reason), new RegExp(sig));
      assert.equal(jobPids(run.events).length, 6);
      assertNoOrphans(run);
    });
  }

  it('SIGKILL of the launcher still leaves no process behind', async () => {
    const run = await runJob(['--nodes', '2', '--spares', '1', ...program('--steps', '0')], {
      waitFor: (evs) => of(evs, 'program_started').length >= 3 && of(evs, 'proxy_started').length >= 2,
      during: (pid) => process.kill(pid, 'SIGKILL'),
    });
    assert.equal(run.signal, 'SIGKILL');
    const pids = jobPids(run.events);
    assert.equal(pids.length, 6);
    // Each FMS sees its launcher's channel close and takes its program down with it.
    assert.deepEqual(await waitAllDead(pids, 10_000), []);
  });
});

describe('rollcall launch: false alarms and bad flags', { timeout: 120_000 }, () => {
  it('no fault is detected while every core is busy with other work', async () => {
    const busy = Array.from({ length: 4 }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
    try {
      const run = await runJob(['--nodes', '3', '--spares', '1', '--', process.execPath, STEPS_PROGRAM, '--steps', '300', '--step-ms', '5']);
      assertCompleted(run, 3, 300);
      assert.deepEqual(of(run.events, 'fault_detected'), []);
    } finally {
      for (const b of busy) b.kill('SIGKILL');
    }
  });

  it('a slow start-up on a loaded machine is not a fault: generation 0 waits for a program still loading', async () => {
    const busy = Array.from({ length: 4 }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
    try {
      // Node 0 computes for 5 s before it connects, longer than any later rendezvous may take
      // (2.4 s at these settings), while the other members already wait for it.
      const run = await runJob(['--nodes', '4', '--spares', '2', '--', process.execPath, STEPS_PROGRAM, '--steps', '100', '--step-ms', '5', '--connect-after', '0:5000']);
      assertCompleted(run, 4, 100);
      assert.deepEqual(of(run.events, 'fault_detected'), []);
      assert.deepEqual(of(run.events, 'proxy_broken'), []);
      assert.deepEqual(of(run.events, 'node_fenced'), []);
    } finally {
      for (const b of busy) b.kill('SIGKILL');
    }
  });

  for (const [args, message] of [
    [['--nodes', '0', '--', 'node', 'x.js'], /--nodes/],
    [['--nodes', '2', '--on-fault', 'replace', '--', 'node', 'x.js'], /needs at least one spare/],
    [['--nodes', '2', '--chaos', 'kill:node=9@step=1', '--', 'node', 'x.js'], /names node 9/],
    [['--nodes', '2', '--on-fault', 'sometimes', '--', 'node', 'x.js'], /--on-fault/],
    [['--nodes', '2'], /missing required argument 'command'/],
  ] as const) {
    it(`refuses ${args.join(' ')} before starting anything`, () => {
      const r = spawnSync(process.execPath, [ROLLCALL, 'launch', ...args], { encoding: 'utf8', timeout: 30_000 });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, message);
    });
  }
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TRAIN_PROGRAM, completedTraining as completed, first, runJob, type TrainResult } from '../helpers/job.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';

/**
 * `rollcall launch --store etcd://…`: the runtime environment in a real 3-member etcd cluster
 * instead of the launcher's embedded store. Faults are real signals; the reference is the same
 * job without faults on the embedded store, which replace mode must reproduce bit for bit.
 */
const STEPS = 60;
const train = (...extra: string[]): string[] => ['--', process.execPath, TRAIN_PROGRAM, '--steps', String(STEPS), ...extra];


describe('launch on etcd', { timeout: 300_000 }, () => {
  let etcd: EtcdCluster;
  let reference: TrainResult;
  before(async () => {
    etcd = await startEtcd({ members: 3 });
    reference = completed(await runJob(['--nodes', '3', '--spares', '2', ...train()]));
  });
  after(() => etcd?.stop());

  it('a program killed and another hung: recovered through etcd, bit-identical to the fault-free run', async () => {
    const run = await runJob(['--store', etcd.url, '--nodes', '3', '--spares', '2', '--chaos', 'kill:node=1@step=20,stop:node=2@step=40', ...train()]);
    assert.deepEqual(completed(run), reference);
    for (const [node, cause] of [[1, 'exit'], [2, 'heartbeat']] as const) {
      const detected = first(run.events, 'fault_detected', (e) => (e.failed as number[]).includes(node));
      assert.ok(detected, `fault of node ${node} detected`);
      assert.equal(detected.cause, cause);
    }
    assert.ok(first(run.events, 'recovered', (e) => e.generation === 2), 'two recoveries');
    // What the log's readers act on is what the writers wrote: runJob has checked that every
    // line of the log, on etcd as on the embedded store, is a typed event (assertEveryEventTyped).
    assert.deepEqual(run.events.filter((e) => e.event === 'fms_error'), [], 'no FMS error, no refused state move');
  });

  it('the etcd leader killed mid-job: no false fault, and the job completes unchanged', async () => {
    let killed = '';
    // 60 steps of 40 ms: the election (about a second) falls well inside the job.
    const run = await runJob(['--store', etcd.url, '--nodes', '3', '--spares', '2', ...train('--step-ms', '40')], {
      waitFor: (evs) => evs.some((e) => e.event === 'version_interval_chosen'),
      during: () => {
        void etcd.leader().then((m) => {
          killed = m.name;
          etcd.kill(m);
        });
      },
    });
    assert.deepEqual(completed(run), reference);
    assert.notEqual(killed, '', 'a leader was killed');
    assert.equal(first(run.events, 'fault_detected'), undefined, 'no node was judged failed');
    assert.equal(first(run.events, 'membership_updated', (e) => (e.generation as number) > 0), undefined, 'generation 0 throughout');
  });
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MembershipChangedError } from '../../src/errors.js';
import { JOB_MOVES, Job, JobState } from '../../src/sdk/job.js';
import type { FromProgram, ProgramConfig } from '../../src/protocol/program-ipc.js';
import { startStoreServer } from '../../src/store/tcp-store-server.js';
import { openStore } from '../../src/store/open-store.js';
import { nodeAddressKey, type AddressBook } from '../../src/comm/roster.js';
import { forceMove, turn } from '../helpers/moves.js';

/**
 * A Job in this process, with the test as its FMS: what the Job sends over IPC is collected,
 * and the FMS's messages are emitted on `process`, where the Job listens for them.
 */
const secret = randomBytes(8).toString('hex');
let server: Awaited<ReturnType<typeof startStoreServer>>;
const sent: FromProgram[] = [];
let jobNo = 0;

before(async () => {
  server = await startStoreServer({ host: '127.0.0.1', port: 0, secret });
  process.send = ((m: FromProgram) => sent.push(m) > 0) as typeof process.send;
  Object.defineProperty(process, 'connected', { value: true, configurable: true, writable: true });
});
after(async () => {
  delete process.send;
  delete (process as { connected?: boolean }).connected;
  await server.close();
});

function newJob(): Job {
  const config: ProgramConfig & { type: 'config' } = {
    type: 'config',
    job: `job-state-${process.pid}-${jobNo++}`,
    node: 0,
    store: server.address,
    secret,
    host: '127.0.0.1',
    // Nobody listens there: the heartbeat thread's datagrams go nowhere.
    fms: '127.0.0.1:9',
    heartbeatMs: 1000,
    rendezvousTimeoutMs: 5000,
    recoveryTimeoutMs: 5000,
    startTimeoutMs: 5000,
    commTimeoutMs: 5000,
    stateDir: mkdtempSync(join(tmpdir(), 'rollcall-job-state-')),
    keep: 2,
    persistEvery: null,
    replicateEvery: null,
    replicateMs: 1000,
    versionEvery: null,
    versionMs: 100,
    verifyEvery: null,
    replicas: 2,
    proxy: 'inline',
    stragglerExchangeMs: 5000,
  };
  return new Job(config);
}

const fms = (m: unknown): boolean => (process as NodeJS.EventEmitter).emit('message', m);
const generation = (g: number) => ({ type: 'generation', generation: g, rank: 0, world: 1, members: [0], slot: 0 });

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const programErrors = (): unknown[] => sent.filter((m) => m.type === 'event' && m.event === 'program_error').map((m) => (m as { fields: unknown }).fields);

describe('job state machine', () => {
  it('the table: closed goes nowhere, and only a running job is idled', () => {
    assert.deepEqual(JOB_MOVES[JobState.Closed], []);
    for (const [from, tos] of Object.entries(JOB_MOVES)) {
      assert.equal(tos.includes(JobState.Idle), from === JobState.Running, `${from} -> idle`);
      assert.ok(!tos.includes(JobState.Waiting), `${from} -> waiting`);
    }
  });

  it('the lifecycle: waiting, running, idle during a recovery, running in the next generation, closed', async () => {
    sent.length = 0;
    const job = newJob();
    assert.equal(job.state, JobState.Waiting);
    // A spare is told to idle before it has a generation: it stays waiting.
    fms({ type: 'idle', generation: 0 });
    assert.equal(job.state, JobState.Waiting);
    fms(generation(0));
    await job.started;
    assert.equal(job.state, JobState.Running);
    assert.deepEqual(Array.from(await job.allreduce(Float64Array.of(2, 3))), [2, 3]);
    fms({ type: 'idle', generation: 0 });
    assert.equal(job.state, JobState.Idle);
    fms(generation(1));
    await until('generation 1', () => job.generation === 1);
    assert.equal(job.state, JobState.Running);
    // The program hears of the change once, at its next operation, then goes on.
    await assert.rejects(job.barrier(), MembershipChangedError);
    await job.barrier();
    await job.close();
    assert.equal(job.state, JobState.Closed);
    // After the end, the FMS's messages change nothing, and nothing is refused: they are ignored.
    fms({ type: 'idle', generation: 1 });
    fms(generation(2));
    await turn();
    assert.equal(job.state, JobState.Closed);
    assert.deepEqual(programErrors(), []);
    assert.deepEqual(
      sent.filter((m) => m.type === 'proxy_ready' || m.type === 'closing').map((m) => m.type),
      ['proxy_ready', 'proxy_ready', 'closing'],
    );
  });

  it('reads the spares\' addresses while a generation runs: bringing one in then reads nothing from the store', async () => {
    sent.length = 0;
    const job = newJob();
    const name = `job-state-${process.pid}-${jobNo - 1}`;
    const store = await openStore(server.address, { secret });
    try {
      fms({ ...generation(0), spares: 1, spareNodes: [7] });
      await job.started;
      // Published after the generation began (a spare still starting): the read ahead waits for it.
      const key = nodeAddressKey(name, 7);
      await store.put(key, '127.0.0.1:9');
      // (White box: the book is the Job's own; nothing else says when it has read.)
      const book = ((await (job as unknown as { listener: Promise<{ book: AddressBook }> }).listener).book);
      await until('the spare\'s address read ahead', () => book.has(7));
      // Gone from the store now: only a member that read it ahead can still bring the spare in.
      await store.delete(key);
      const reads = book.reads;
      fms({ type: 'idle', generation: 0 });
      fms({ type: 'generation', generation: 1, rank: 0, world: 2, members: [0, 7], slot: 0, spares: 0, spareNodes: [] });
      await until('generation 1\'s proxy', () => sent.some((m) => m.type === 'proxy_ready' && m.generation === 1) || sent.some((m) => m.type === 'proxy_broken'));
      assert.deepEqual(sent.filter((m) => m.type === 'proxy_broken'), []);
      assert.equal(book.reads, reads, 'no store read on the recovery path');
    } finally {
      await job.close();
      await store.close();
    }
  });

  it('an illegal move is refused, reported in the event log (program_error), and not made', async () => {
    sent.length = 0;
    const job = newJob();
    try {
      assert.equal(forceMove(job, JobState.Idle), false, 'waiting -> idle');
      assert.equal(job.state, JobState.Waiting);
      fms(generation(0));
      await job.started;
      assert.equal(forceMove(job, JobState.Waiting), false, 'running -> waiting');
      assert.equal(forceMove(job, JobState.Running), false, 'running -> running');
      assert.equal(job.state, JobState.Running);
      await job.close();
      assert.equal(forceMove(job, JobState.Running), false, 'closed -> running');
      assert.equal(job.state, JobState.Closed);
      assert.deepEqual(programErrors(), [
        { message: 'job: refused the move from waiting to idle' },
        { message: 'job: refused the move from running to waiting' },
        { message: 'job: refused the move from running to running' },
        { message: 'job: refused the move from closed to running' },
      ]);
    } finally {
      await job.close();
    }
  });

  it('state is read-only from outside', async () => {
    const job = newJob();
    try {
      assert.throws(() => {
        (job as unknown as { state: JobState }).state = JobState.Running;
      }, TypeError);
      assert.equal(job.state, JobState.Waiting);
      // So is its place in the generation: only joining one sets it.
      for (const k of ['generation', 'rank', 'world', 'members', 'slot'] as const) {
        const before = job[k];
        assert.throws(() => {
          (job as unknown as Record<string, unknown>)[k] = 7;
        }, TypeError, k);
        assert.equal(job[k], before);
      }
    } finally {
      await job.close();
    }
  });
});

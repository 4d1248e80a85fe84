import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMM_MOVES, CommState, type Communicator } from '../../src/comm/communicator.js';
import { AbortedError, ClosedError, PeerFailedError } from '../../src/errors.js';
import { FakeClock } from '../../src/util/clock.js';
import { SMALL_TUNING, closeAll, makeGroup } from '../helpers/group.js';
import { forceMove, refusedMoves, turn } from '../helpers/moves.js';

/** A promise's outcome, readable at any time without awaiting it. */
function track<T>(p: Promise<T>): { done: boolean; err?: unknown; value?: T } {
  const t: { done: boolean; err?: unknown; value?: T } = { done: false };
  p.then(
    (value) => Object.assign(t, { done: true, value }),
    (err: unknown) => Object.assign(t, { done: true, err }),
  );
  return t;
}

function events(c: Communicator): string[] {
  const seen: string[] = [];
  c.on('broken', (e) => seen.push(`broken:${e.code}`));
  c.on('closed', () => seen.push('closed'));
  return seen;
}

describe('communicator state machine', () => {
  it('the table: fail-stop, nothing ever goes back to ready, closed goes nowhere', () => {
    for (const [from, tos] of Object.entries(COMM_MOVES)) assert.ok(!tos.includes(CommState.Ready), `${from} may not go back to ready`);
    assert.deepEqual(COMM_MOVES[CommState.Closed], []);
  });

  it('the lifecycle: ready, broken by abort, then closed; ready, broken by the ABORT, then closed', async () => {
    const warnings = refusedMoves();
    const { comms } = await makeGroup(3, { tuning: SMALL_TUNING });
    try {
      const seen = comms.map(events);
      assert.deepEqual(comms.map((c) => c.state), [CommState.Ready, CommState.Ready, CommState.Ready]);
      await Promise.all(comms.map((c) => c.allreduce(Float32Array.of(1, 2))));
      comms[0]!.abort('test');
      assert.equal(comms[0]!.state, CommState.Broken);
      assert.ok(comms[0]!.error instanceof AbortedError);
      // Later failures, and an abort after the end, change nothing: the first failure stays.
      comms[0]!.abort('again');
      assert.match(comms[0]!.error!.message, /test/);
      comms[0]!.close();
      assert.equal(comms[0]!.state, CommState.Closed);
      comms[0]!.abort('after the close');
      comms[0]!.close();
      assert.equal(comms[0]!.state, CommState.Closed);
      assert.deepEqual(seen[0], ['broken:ERR_ABORTED', 'closed']);
      // The others were told by rank 0's ABORT.
      const r = await comms[1]!.barrier().catch((e: unknown) => e);
      assert.ok(r instanceof PeerFailedError);
      assert.equal(comms[1]!.state, CommState.Broken);
      comms[1]!.close();
      assert.equal(comms[1]!.state, CommState.Closed);
      assert.deepEqual(seen[1], ['broken:ERR_PEER_FAILED', 'closed']);
      await turn();
      assert.deepEqual(warnings.messages, [], 'no refused move on the way');
    } finally {
      warnings.stop();
      closeAll(comms);
    }
  });

  it('the lifecycle: ready, closed (a clean departure); ready, destroyed (as a crash)', async () => {
    const warnings = refusedMoves();
    const { comms } = await makeGroup(3, { tuning: SMALL_TUNING });
    try {
      const seen = comms.map(events);
      comms[0]!.close();
      assert.equal(comms[0]!.state, CommState.Closed);
      assert.deepEqual(seen[0], ['closed']);
      assert.ok((await comms[0]!.barrier().catch((e: unknown) => e)) instanceof ClosedError);
      comms[2]!.destroy('test');
      assert.equal(comms[2]!.state, CommState.Closed);
      assert.deepEqual(seen[2], [], 'destroy says nothing, as a crash would');
      // Rank 1 sees a departure (rank 0) and a loss (rank 2): its next operation fails.
      const r = await comms[1]!.barrier().catch((e: unknown) => e);
      assert.ok(r instanceof PeerFailedError, String(r));
      assert.equal(comms[1]!.state, CommState.Broken);
      await turn();
      assert.deepEqual(warnings.messages, []);
    } finally {
      warnings.stop();
      closeAll(comms);
    }
  });

  it('state is read-only from outside', async () => {
    const { comms } = await makeGroup(1);
    try {
      comms[0]!.close();
      assert.throws(() => {
        (comms[0] as unknown as { state: CommState }).state = CommState.Ready;
      }, TypeError);
      assert.equal(comms[0]!.state, CommState.Closed);
    } finally {
      closeAll(comms);
    }
  });

  it('an illegal move is refused, reported as a warning, and not made', async () => {
    const warnings = refusedMoves();
    const { comms } = await makeGroup(2, { tuning: SMALL_TUNING });
    try {
      const [a, b] = comms as [Communicator, Communicator];
      const seen = events(a);
      assert.equal(forceMove(a, CommState.Ready), false, 'ready -> ready is no move');
      assert.equal(a.state, CommState.Ready);
      a.abort('test');
      assert.equal(forceMove(a, CommState.Ready), false, 'broken -> ready');
      assert.equal(forceMove(a, CommState.Broken), false, 'broken -> broken');
      assert.equal(a.state, CommState.Broken);
      b.close();
      assert.equal(forceMove(b, CommState.Ready), false, 'closed -> ready');
      assert.equal(forceMove(b, CommState.Broken), false, 'closed -> broken');
      assert.equal(b.state, CommState.Closed);
      await turn();
      assert.deepEqual(warnings.messages, [
        'communicator of rank 0: refused the move from ready to ready',
        'communicator of rank 0: refused the move from broken to ready',
        'communicator of rank 0: refused the move from broken to broken',
        'communicator of rank 1: refused the move from closed to ready',
        'communicator of rank 1: refused the move from closed to broken',
      ]);
      assert.deepEqual(seen, ['broken:ERR_ABORTED'], 'a refused move emits nothing');
    } finally {
      warnings.stop();
      closeAll(comms);
    }
  });
});

describe('communicator liveness on a fake clock', () => {
  const tuning = { ...SMALL_TUNING, timeoutMs: 400, heartbeatMs: 100 };

  /** Moves the clock in 50 ms steps, letting the in-memory links deliver between steps. */
  async function run(clock: FakeClock, ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 50) {
      clock.advance(50);
      await turn();
      await turn();
    }
  }

  it('a silent peer is failed with reason timeout once silent for over timeoutMs, not before', async () => {
    const clock = new FakeClock(1000);
    const { comms, transports } = await makeGroup(2, { tuning, extra: { clock } });
    try {
      transports[1]!.silence();
      const op = track(comms[0]!.allreduce(new Float32Array(4)));
      await run(clock, tuning.timeoutMs);
      assert.equal(op.done, false, `still waiting after exactly timeoutMs: ${String(op.err)}`);
      await run(clock, 100);
      assert.ok(op.err instanceof PeerFailedError, `got ${String(op.err)}`);
      assert.equal(op.err.reason, 'timeout');
      assert.deepEqual(op.err.failedRanks, [1]);
      assert.equal(comms[0]!.state, CommState.Broken);
    } finally {
      closeAll(comms);
    }
  });

  it('a late tick of our own (a blocked event loop) does not blame a peer whose bytes wait unread', async () => {
    const clock = new FakeClock(1000);
    const { comms } = await makeGroup(2, { tuning, extra: { clock } });
    try {
      const mine = Float32Array.of(1, 2, 3, 4);
      const op = track(comms[0]!.allreduce(mine));
      // Rank 1 is alive but busy: its pings keep rank 0 waiting patiently.
      await run(clock, 2 * tuning.timeoutMs);
      assert.equal(op.done, false);
      // Our loop is blocked for 5 timeouts: no tick runs, nothing is read. Then the overdue
      // ticks run at once, before any waiting byte is read.
      clock.jump(5 * tuning.timeoutMs);
      clock.advance(0);
      await run(clock, 2 * tuning.timeoutMs);
      assert.equal(op.done, false, `rank 1 was blamed for our stall: ${String(op.err)}`);
      assert.equal(comms[0]!.state, CommState.Ready);
      await comms[1]!.allreduce(Float32Array.of(10, 20, 30, 40));
      await run(clock, 50);
      assert.equal(op.err, undefined);
      assert.deepEqual(Array.from(mine), [11, 22, 33, 44]);
    } finally {
      closeAll(comms);
    }
  });
});

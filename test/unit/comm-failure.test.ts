import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AbortedError, CommState, PeerFailedError, TcpTransport } from '../../src/index.js';
import { SMALL_TUNING, closeAll, makeGroup } from '../helpers/group.js';

const FAST = { ...SMALL_TUNING, timeoutMs: 300, heartbeatMs: 50 };

async function settle<T>(p: Promise<T>): Promise<{ err: unknown; ms: number }> {
  const t0 = Date.now();
  try {
    await p;
    return { err: undefined, ms: Date.now() - t0 };
  } catch (err) {
    return { err, ms: Date.now() - t0 };
  }
}

describe('peer failure', () => {
  it('a peer whose connections reset fails every survivor at once, naming the rank', async () => {
    const { comms, transports } = await makeGroup(4, { tuning: FAST });
    try {
      // Rank 3 never joins this allreduce; it dies while the others wait inside it.
      const pending = comms.slice(0, 3).map((c) => settle(c.allreduce(new Float32Array(1000), 'sum')));
      setTimeout(() => transports[3]!.kill(), 20);
      for (const { err, ms } of await Promise.all(pending)) {
        assert.ok(err instanceof PeerFailedError, `got ${String(err)}`);
        assert.equal(err.code, 'ERR_PEER_FAILED');
        assert.deepEqual(err.failedRanks, [3]);
        assert.ok(ms < FAST.timeoutMs, `rejected in ${ms} ms, before any timeout`);
      }
      // Later operations reject at once with the same typed error.
      const later = await settle(comms[0]!.barrier());
      assert.ok(later.err instanceof PeerFailedError);
      assert.equal(comms[0]!.state, CommState.Broken);
    } finally {
      closeAll(comms);
    }
  });

  it('a silent peer is declared failed within the timeout, by every survivor', async () => {
    const { comms, transports } = await makeGroup(4, { tuning: FAST });
    try {
      transports[2]!.silence();
      const pending = comms.filter((_, r) => r !== 2).map((c) => settle(c.allreduce(new Float64Array(500), 'max')));
      for (const { err, ms } of await Promise.all(pending)) {
        assert.ok(err instanceof PeerFailedError, `got ${String(err)}`);
        assert.deepEqual(err.failedRanks, [2], err.message);
        assert.ok(ms <= FAST.timeoutMs + 3 * FAST.heartbeatMs + 200, `took ${ms} ms`);
      }
    } finally {
      closeAll(comms);
    }
  });

  it('abort() cancels pending and later operations here, and tells the others', async () => {
    const { comms } = await makeGroup(3, { tuning: FAST });
    try {
      const mine = settle(comms[0]!.allreduce(new Int32Array(10)));
      const theirs = comms.slice(1, 2).map((c) => settle(c.allreduce(new Int32Array(10))));
      comms[0]!.abort('test says stop');
      const a = await mine;
      assert.ok(a.err instanceof AbortedError);
      assert.equal(a.err.code, 'ERR_ABORTED');
      for (const { err } of await Promise.all(theirs)) {
        assert.ok(err instanceof PeerFailedError);
        assert.deepEqual(err.failedRanks, [0]);
        assert.equal(err.reason, 'reported');
      }
      // Rank 2 never called anything; its next call fails instead of hanging.
      const idle = await settle(comms[2]!.allreduce(new Int32Array(10)));
      assert.ok(idle.err instanceof PeerFailedError);
    } finally {
      closeAll(comms);
    }
  });

  it("an operation's AbortSignal ends the communicator, as documented, with the signal's reason as the cause", async () => {
    const { comms } = await makeGroup(2, { tuning: FAST });
    try {
      const ac = new AbortController();
      const p = settle(comms[0]!.allreduce(new Float32Array(5), 'sum', { signal: ac.signal }));
      const reason = new Error('stopped by the user');
      ac.abort(reason);
      const { err } = await p;
      assert.ok(err instanceof AbortedError);
      assert.equal(err.cause, reason);
      assert.match(err.message, /stopped by the user.*the communicator is ended/);
      // Not only that operation: the communicator is ended (OpOptions.signal says so).
      assert.ok((await settle(comms[0]!.barrier())).err instanceof AbortedError);
      const pre = new AbortController();
      pre.abort('too late');
      const before = (await settle(comms[1]!.barrier({ signal: pre.signal }))).err;
      assert.ok(before instanceof AbortedError || before instanceof PeerFailedError, String(before));
    } finally {
      closeAll(comms);
    }
  });

  it('a pending recv fails when its sender dies', async () => {
    const { comms, transports } = await makeGroup(3, { tuning: FAST });
    try {
      const p = settle(comms[0]!.recv(new Float32Array(4), 1));
      transports[1]!.kill();
      const { err } = await p;
      assert.ok(err instanceof PeerFailedError);
      assert.deepEqual(err.failedRanks, [1]);
    } finally {
      closeAll(comms);
    }
  });

  it('a clean close after the last collective leaves the others intact and is noticed at their next call', async () => {
    // Over TCP, with real write completions. (The race this guards, a BYE processed while the
    // last frames sat queued, showed only with separate processes: see the e2e suite.)
    for (let round = 0; round < 20; round++) {
      const { comms } = await makeGroup(4, { tuning: FAST, transport: new TcpTransport() });
      const work = comms.map(async (c, r) => {
        await c.allreduce(new Float32Array(500), 'sum');
        await c.barrier();
        if (r === 0) c.close();
      });
      const results = await Promise.all(work.map((p) => settle(p)));
      for (const { err } of results) assert.equal(err, undefined, `round ${round}: ${String(err)}`);
      // The departed rank is noticed when it is next needed.
      const next = await settle(comms[1]!.barrier());
      assert.ok(next.err instanceof PeerFailedError && next.err.reason === 'closed', String(next.err));
      closeAll(comms);
    }
  });

  it('close() rejects pending operations and a clean goodbye fails only the ones that need it', async () => {
    const { comms } = await makeGroup(2, { tuning: FAST });
    const p = settle(comms[0]!.allreduce(new Float32Array(3)));
    comms[0]!.close();
    assert.equal((await p).err instanceof Error, true);
    const q = await settle(comms[1]!.allreduce(new Float32Array(3)));
    assert.ok(q.err instanceof PeerFailedError);
    assert.equal(q.err.reason, 'closed');
    comms[1]!.close();
  });
});

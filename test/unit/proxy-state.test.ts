import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { ClosedError, PeerFailedError } from '../../src/errors.js';
import { PROXY_MOVES, ProxyState, type CommProxy } from '../../src/proxy/proxy.js';
import { forceMove, refusedMoves, turn } from '../helpers/moves.js';
import { proxyStore } from '../helpers/proxy-store.js';

const store = proxyStore();
const { secret, standby } = store;
let jobNo = 0;

const connect = (job: string, rank: number, world: number) => ({
  store: store.address,
  secret,
  job,
  generation: 0,
  rank,
  world,
  tuning: { timeoutMs: 2000, heartbeatMs: 100 },
});

describe('proxy state table', () => {
  it('broken may only close, closed goes nowhere, and only activating goes back to starting', () => {
    assert.deepEqual(PROXY_MOVES[ProxyState.Broken], [ProxyState.Closed]);
    assert.deepEqual(PROXY_MOVES[ProxyState.Closed], []);
    for (const [from, tos] of Object.entries(PROXY_MOVES)) {
      if (from !== ProxyState.Standby) assert.ok(!tos.includes(ProxyState.Starting), `${from} -> starting`);
      if (from !== ProxyState.Starting) assert.ok(!tos.includes(ProxyState.Standby), `${from} -> standby`);
    }
  });
});

for (const kind of ['inline', 'thread'] as const) {
  const name = kind === 'inline' ? 'inline proxy' : 'thread proxy';

  describe(`proxy state machine (${kind})`, () => {
    it('the lifecycle: standby, starting while it joins, ready, broken when a peer is lost', async () => {
      const warnings = refusedMoves();
      const job = `proxy-state-${process.pid}-${jobNo++}`;
      const [a, b] = (await Promise.all([standby(kind), standby(kind)])) as [CommProxy, CommProxy];
      try {
        assert.deepEqual([a.state, b.state], [ProxyState.Standby, ProxyState.Standby]);
        const joins = [a, b].map((p, rank) => p.activate(connect(job, rank, 2), 10_000));
        assert.deepEqual([a.state, b.state], [ProxyState.Starting, ProxyState.Starting]);
        await Promise.all(joins);
        assert.deepEqual([a.state, b.state], [ProxyState.Ready, ProxyState.Ready]);
        const bufs = [Float64Array.of(1), Float64Array.of(2)];
        await Promise.all([a.allreduce(bufs[0]!), b.allreduce(bufs[1]!)]);
        assert.deepEqual(bufs.map((x) => x[0]), [3, 3]);
        const broken = once(a, 'broken');
        await b.terminate();
        assert.equal(b.state, ProxyState.Closed);
        // The communicator sees the links drop, with no operation needed.
        const [err] = (await broken) as [unknown];
        assert.ok(err instanceof PeerFailedError, String(err));
        assert.equal(a.state, ProxyState.Broken);
        const r = await a.allreduce(Float64Array.of(1)).catch((e: unknown) => e);
        assert.ok(r instanceof ClosedError, String(r));
        await a.terminate();
        if (kind === 'inline') assert.equal(a.state, ProxyState.Closed);
        assert.deepEqual(warnings.messages, [], 'no refused move on the way');
      } finally {
        warnings.stop();
        await Promise.all([a.terminate(), b.terminate()]);
      }
    });

    it('an illegal move is refused, reported as a warning, and not made', async () => {
      const warnings = refusedMoves();
      const p = await standby(kind);
      try {
        assert.equal(forceMove(p, ProxyState.Ready), false, 'standby -> ready skips the rendezvous');
        assert.equal(forceMove(p, ProxyState.Standby), false, 'standby -> standby');
        assert.equal(p.state, ProxyState.Standby);
        await p.terminate();
        assert.equal(p.state, ProxyState.Closed);
        assert.equal(forceMove(p, ProxyState.Standby), false, 'closed -> standby');
        assert.equal(forceMove(p, ProxyState.Ready), false, 'closed -> ready');
        assert.equal(p.state, ProxyState.Closed);
        // Through the public API a closed proxy is refused too, by a typed error, not a move.
        const r = await p.activate(connect(`proxy-state-${process.pid}-${jobNo++}`, 0, 1), 1000).catch((e: unknown) => e);
        assert.ok(r instanceof ClosedError, String(r));
        assert.equal(p.state, ProxyState.Closed);
        await turn();
        assert.deepEqual(warnings.messages, [
          `${name}: refused the move from standby to ready`,
          `${name}: refused the move from standby to standby`,
          `${name}: refused the move from closed to standby`,
          `${name}: refused the move from closed to ready`,
        ]);
      } finally {
        warnings.stop();
        await p.terminate();
      }
    });

    it('state is read-only from outside', async () => {
      const p = await standby(kind);
      try {
        assert.throws(() => {
          (p as unknown as { state: ProxyState }).state = ProxyState.Ready;
        }, TypeError);
        assert.equal(p.state, ProxyState.Standby);
      } finally {
        await p.terminate();
      }
    });
  });
}

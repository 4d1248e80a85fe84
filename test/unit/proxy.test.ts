import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sharedArray } from '../../src/proxy/proxy-handle.js';
import { ProxyState, type CommProxy, type ProxyKind } from '../../src/proxy/proxy.js';
import type { ProxyConnect } from '../../src/protocol/proxy-messages.js';
import { PeerFailedError } from '../../src/errors.js';
import { proxyStore } from '../helpers/proxy-store.js';

const store = proxyStore();
const { secret, standby } = store;
let jobNo = 0;

async function launch(kind: ProxyKind, connect: Omit<ProxyConnect, 'type'>, timeoutMs: number): Promise<CommProxy> {
  const p = await standby(kind, timeoutMs);
  await p.activate(connect, timeoutMs);
  return p;
}

async function launchAll(kind: ProxyKind, world: number, generation: number, job: string, timeoutMs = 10_000): Promise<CommProxy[]> {
  return Promise.all(
    Array.from({ length: world }, (_, rank) =>
      launch(kind, { store: store.address, secret, job, generation, rank, world, tuning: { timeoutMs: 2000, heartbeatMs: 100 } }, timeoutMs),
    ),
  );
}

for (const kind of ['thread', 'inline'] as const) {
  describe(`communication proxy (${kind})`, () => {
    it('runs collectives in the program’s shared memory, zero-copy, and staged for plain arrays', async () => {
      const job = `proxy-${process.pid}-${jobNo++}`;
      const proxies = await launchAll(kind, 3, 0, job);
      try {
        const shared = proxies.map((_, r) => {
          const a = sharedArray(Float32Array, 100_000, 4);
          a.fill(r + 1);
          return a;
        });
        await Promise.all(proxies.map((p, r) => p.allreduce(shared[r]!, 'sum')));
        for (const a of shared) assert.ok(a.every((v) => v === 6));
        const plain = proxies.map((_, r) => Float64Array.of(r, 2 * r));
        await Promise.all(proxies.map((p, r) => p.allreduce(plain[r]!, 'max')));
        for (const a of plain) assert.deepEqual(Array.from(a), [2, 4]);
        await Promise.all(proxies.map((p) => p.barrier()));
      } finally {
        await Promise.all(proxies.map((p) => p.terminate()));
      }
    });

    it('a proxy that dies breaks the others’ pending operations with a typed error; a new generation works', async () => {
      const job = `proxy-${process.pid}-${jobNo++}`;
      const gen0 = await launchAll(kind, 3, 0, job);
      const broken = gen0.slice(0, 2).map((p) => new Promise((res) => p.once('broken', res)));
      const pending = gen0.slice(0, 2).map((p) => p.allreduce(sharedArray(Int32Array, 10, 4)).then(() => undefined, (e: unknown) => e));
      await gen0[2]!.terminate();
      for (const e of await Promise.all(pending)) {
        assert.ok(e instanceof PeerFailedError, `got ${String(e)}`);
        assert.deepEqual(e.failedRanks, [2]);
        // The cause survives the thread boundary, not just the code. An inline proxy that is
        // terminated drops its links at once, as a crash would.
        assert.ok(['reset', 'closed'].includes(e.reason), e.reason);
      }
      await Promise.all(broken);
      for (const p of gen0.slice(0, 2)) assert.equal(p.state, ProxyState.Broken);
      await Promise.all(gen0.map((p) => p.terminate()));
      // Relaunch: the same "programs" (this process) get fresh proxies for generation 1.
      const t0 = Date.now();
      const gen1 = await launchAll(kind, 2, 1, job);
      const relaunchMs = Date.now() - t0;
      try {
        const bufs = gen1.map((_, r) => Int32Array.of(r + 10));
        await Promise.all(gen1.map((p, r) => p.allreduce(bufs[r]!)));
        for (const b of bufs) assert.equal(b[0], 21);
        assert.ok(relaunchMs < 5000, `relaunch took ${relaunchMs} ms`);
      } finally {
        await Promise.all(gen1.map((p) => p.terminate()));
      }
    });

    it('a standby proxy, started before it is needed, joins a generation when activated', async () => {
      const job = `proxy-${process.pid}-${jobNo++}`;
      const spares = await Promise.all([0, 1].map(() => standby(kind)));
      try {
        for (const p of spares) assert.equal(p.state, ProxyState.Standby);
        await assert.rejects(spares[0]!.barrier(), /standby/);
        await Promise.all(spares.map((p, rank) => p.activate({ store: store.address, secret, job, generation: 3, rank, world: 2 }, 10_000)));
        const bufs = spares.map((_, r) => Float32Array.of(r + 0.5));
        await Promise.all(spares.map((p, r) => p.allreduce(bufs[r]!, 'sum')));
        for (const b of bufs) assert.equal(b[0], 2);
        await assert.rejects(spares[0]!.activate({ store: store.address, secret, job, generation: 4, rank: 0, world: 2 }, 1000), /not standby/);
      } finally {
        await Promise.all(spares.map((p) => p.terminate()));
      }
    });

    it('a proxy that cannot meet its peers fails by the deadline, not never', async () => {
      const job = `proxy-${process.pid}-${jobNo++}`;
      await assert.rejects(
        launch(kind, { store: store.address, secret, job, generation: 0, rank: 0, world: 2, rendezvousTimeoutMs: 300 }, 5000),
        (e: Error) => /never published|never connected|not ready/.test(e.message),
      );
    });
  });
}

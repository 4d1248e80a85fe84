import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthError, PeerFailedError } from '../../src/errors.js';
import { Link } from '../../src/comm/link.js';
import { MemoryNetwork, MemoryTransport } from '../../src/comm/memory-transport.js';
import { applyFault, initMembership, readMembership } from '../../src/fms/membership.js';
import { InlineProxy } from '../../src/proxy/inline-proxy.js';
import { NodeListener } from '../../src/proxy/node-listener.js';
import type { CommProxy } from '../../src/proxy/proxy.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { PutOptions, Store } from '../../src/store/store.js';
import { realClock } from '../../src/util/clock.js';
import { deadlineIn } from '../../src/util/deadline.js';
import { SMALL_TUNING, closeAll, makeGroup } from '../helpers/group.js';

const FAST = { ...SMALL_TUNING, timeoutMs: 1000, heartbeatMs: 100 };

async function settle(p: Promise<unknown>): Promise<{ err: unknown; ms: number }> {
  const t0 = Date.now();
  return p.then(
    () => ({ err: undefined, ms: Date.now() - t0 }),
    (err: unknown) => ({ err, ms: Date.now() - t0 }),
  );
}

describe('connections on demand', () => {
  it('a ring allreduce of 8 ranks connects each rank to its two ring neighbours only, each dialed once', async () => {
    const { comms, transports } = await makeGroup(8, { tuning: FAST });
    try {
      assert.deepEqual(comms.map((c) => c.partners), comms.map(() => []), 'nothing is connected before the first use');
      // 1024 float32 = 4 KiB, above halvingMaxBytes (2 KiB): the ring.
      const bufs = comms.map((_, r) => new Float32Array(1024).fill(r));
      await Promise.all(comms.map((c, r) => c.allreduce(bufs[r]!)));
      for (const b of bufs) assert.ok(b.every((v) => v === 28));
      for (const [r, c] of comms.entries()) {
        const ring = [(r + 7) % 8, (r + 1) % 8].sort((a, b) => a - b);
        assert.deepEqual(c.partners, ring, `rank ${r}'s partners`);
        assert.deepEqual([...c.dialed].sort((a, b) => a - b), ring, `rank ${r} dialed each partner once`);
        assert.equal(transports[r]!.dialed.length, 2, `rank ${r}: 2 connections dialed`);
      }
    } finally {
      closeAll(comms);
    }
  });

  it('recursive doubling at 8 ranks connects each rank to its log2(8) = 3 partners; send/recv to the one rank it names', async () => {
    const { comms } = await makeGroup(8, { tuning: FAST });
    try {
      // 16 float32: a small allreduce, recursive doubling in a power-of-two world.
      await Promise.all(comms.map((c) => c.allreduce(new Float32Array(16).fill(1))));
      for (const [r, c] of comms.entries()) assert.deepEqual(c.partners, [r ^ 1, r ^ 2, r ^ 4].sort((a, b) => a - b), `rank ${r}`);
      const { comms: pair } = await makeGroup(4, { tuning: FAST });
      try {
        await Promise.all([pair[0]!.send(Float64Array.of(1, 2), 3), pair[3]!.recv(new Float64Array(2), 0)]);
        assert.deepEqual(pair.map((c) => c.partners), [[3], [], [], [0]]);
      } finally {
        closeAll(pair);
      }
    } finally {
      closeAll(comms);
    }
  });

  it('a stray, an unauthenticated or a stale dialer is refused, and the communicator goes on', async () => {
    const { comms, transports } = await makeGroup(3, { tuning: FAST });
    try {
      // Ranks 0 and 1 connect; rank 2 has not talked to rank 0 yet.
      await Promise.all([comms[0]!.send(Float32Array.of(1), 1), comms[1]!.recv(new Float32Array(1), 0)]);
      // Rank 0's address: the one rank 1 dialed to reach it.
      const addr0 = transports[1]!.dialed.find((a) => transports[0]!.conns.some((c) => c.remote === a))!;
      assert.ok(addr0, 'rank 1 dialed rank 0');
      const stray = new MemoryTransport({}, (transports[0] as unknown as { network: MemoryNetwork }).network);
      const job = comms[0]!.job;
      const dial = async (who: { job: string; generation: number; secret: string; rank: number }): Promise<unknown> => {
        const conn = await stray.dial(addr0, deadlineIn(2000));
        return Link.dial(conn, { ...who, world: 3, maxFrameBytes: 1 << 20 }, 0, deadlineIn(2000), realClock).then(
          (l) => l.destroy(),
          (e: unknown) => e,
        );
      };
      const wrongSecret = await dial({ job, generation: 0, secret: 'not the secret', rank: 2 });
      assert.ok(wrongSecret instanceof AuthError, String(wrongSecret));
      const otherJob = await dial({ job: 'another-job', generation: 0, secret: 's3cret', rank: 1 });
      assert.ok(otherJob instanceof AuthError, String(otherJob));
      // Rank 1 already holds its link to rank 0: a second dialer claiming rank 1 is refused.
      const impostor = await dial({ job, generation: 0, secret: 's3cret', rank: 1 });
      assert.ok(impostor instanceof Error, String(impostor));
      const bufs = comms.map((_, r) => Int32Array.of(r));
      await Promise.all(comms.map((c, r) => c.allreduce(bufs[r]!)));
      for (const b of bufs) assert.equal(b[0], 3);
    } finally {
      closeAll(comms);
    }
  });

  it('a partner dead before anyone connected to it fails the collective on every rank, within the timeout', async () => {
    const { comms, transports } = await makeGroup(8, { tuning: FAST });
    try {
      transports[5]!.kill();
      const pending = comms.filter((_, r) => r !== 5).map((c) => settle(c.allreduce(new Float32Array(1024))));
      for (const { err, ms } of await Promise.all(pending)) {
        assert.ok(err instanceof PeerFailedError, `got ${String(err)}`);
        assert.deepEqual(err.failedRanks, [5]);
        assert.ok(ms < FAST.timeoutMs, `took ${ms} ms`);
      }
    } finally {
      closeAll(comms);
    }
  });

  it('a rank waiting on a dead partner it never talked to gets PeerFailedError (it connects to find out)', async () => {
    const { comms, transports } = await makeGroup(2, { tuning: FAST });
    try {
      transports[1]!.kill();
      // No connection exists to hold the process open meanwhile (as a program's own work would).
      const hold = setInterval(() => undefined, 1000);
      const { err, ms } = await settle(comms[0]!.recv(new Float32Array(4), 1));
      clearInterval(hold);
      assert.ok(err instanceof PeerFailedError, `got ${String(err)}`);
      assert.deepEqual(err.failedRanks, [1]);
      assert.ok(ms <= FAST.timeoutMs, `took ${ms} ms`);
    } finally {
      closeAll(comms);
    }
  });

  it('a dead partner fails every rank of an 8-rank ring once connected, the failure spread over the links that exist', async () => {
    const { comms, transports } = await makeGroup(8, { tuning: FAST });
    try {
      await Promise.all(comms.map((c) => c.allreduce(new Float32Array(1024))));
      transports[3]!.kill();
      const pending = comms.filter((_, r) => r !== 3).map((c) => settle(c.allreduce(new Float32Array(1024))));
      for (const { err, ms } of await Promise.all(pending)) {
        assert.ok(err instanceof PeerFailedError, `got ${String(err)}`);
        assert.deepEqual(err.failedRanks, [3]);
        assert.ok(ms < FAST.timeoutMs, `took ${ms} ms`);
      }
    } finally {
      closeAll(comms);
    }
  });
});

/** A store that counts its writes. */
class CountingStore extends MemoryStore {
  writes: string[] = [];
  override put(key: string, value: string, opts?: PutOptions): Promise<number> {
    this.writes.push(key);
    return super.put(key, value, opts);
  }
  override compareAndSet(key: string, expectedRevision: number, value: string, opts?: PutOptions): ReturnType<Store['compareAndSet']> {
    this.writes.push(key);
    return super.compareAndSet(key, expectedRevision, value, opts);
  }
  override delete(key: string): Promise<boolean> {
    this.writes.push(key);
    return super.delete(key);
  }
}

/**
 * `members` nodes and one spare (the last), each listening once for its life on the memory network
 * and publishing that address once, the spare too; `activateAll` brings up a generation's inline
 * proxies on those listeners, as the SDK does.
 */
async function onListeners(store: Store, job: string, members: number) {
  const network = new MemoryNetwork();
  const nodes = Array.from({ length: members + 1 }, (_, n) => n);
  const transports = nodes.map(() => new MemoryTransport({}, network));
  const listeners = await Promise.all(nodes.map((node) => NodeListener.open({ store, job, node, transport: transports[node]! })));
  await initMembership(store, job, { nodes: nodes.slice(0, members), spares: [members], policy: 'replace', minNodes: members / 2 });
  const activateAll = async (generationMembers: number[], generation: number): Promise<CommProxy[]> =>
    Promise.all(
      generationMembers.map(async (node, rank) => {
        const p = InlineProxy.onNode(listeners[node]!);
        await p.activate({ store: 'unused', secret: 's3cret', job, generation, rank, world: generationMembers.length, members: generationMembers, tuning: { ...SMALL_TUNING, timeoutMs: 20_000 } }, 20_000);
        return p;
      }),
    );
  return { nodes, transports, listeners, activateAll };
}

describe('recovery on stable listeners', () => {
  it('at 16 ranks, the new generation is built and runs with no store write besides the membership', async () => {
    const store = new CountingStore();
    const job = `recovery-${process.pid}`;
    const { nodes, transports, listeners, activateAll } = await onListeners(store, job, 16);
    const allreduce = async (proxies: CommProxy[]): Promise<void> => {
      const bufs = proxies.map((_, r) => new Float64Array(300).fill(r + 1));
      await Promise.all(proxies.map((p, r) => p.allreduce(bufs[r]!)));
      for (const b of bufs) assert.ok(b.every((v) => v === (16 * 17) / 2), `got ${b[0]}`);
    };
    const gen0 = await activateAll(nodes.slice(0, 16), 0);
    let gen1: CommProxy[] = [];
    try {
      await allreduce(gen0);
      // Node 5 dies; the survivors' proxies are ended (the SDK does so when its FMS idles it).
      transports[5]!.kill();
      await Promise.all(gen0.map((p) => p.terminate()));
      const before = store.writes.length;
      const readsBefore = listeners.map((l) => l.book.reads);
      const { record } = await applyFault(store, job, [5], { deadline: deadlineIn(2000), proposer: 0 });
      assert.equal(record.generation, 1);
      assert.deepEqual(record.members, [0, 1, 2, 3, 4, 16, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
      gen1 = await activateAll(record.members, record.generation);
      await allreduce(gen1);
      assert.deepEqual(store.writes.slice(before), [`rollcall/${job}/membership`], 'the membership, and nothing else');
      // Reads: only the spare's address, once, by the nodes that had not seen it; the spare reads all 15 others.
      const reads = listeners.map((l, n) => l.book.reads - readsBefore[n]!);
      for (const n of record.members) if (n !== 16) assert.ok(reads[n]! <= 1, `node ${n} made ${reads[n]} reads`);
      assert.deepEqual((await readMembership(store, job))?.members, record.members);
    } finally {
      await Promise.all([...gen0, ...gen1].map((p) => p.terminate()));
      for (const l of listeners) l.close();
    }
  });
});

describe('links kept across generations', () => {
  it('a recovery at 8 nodes connects only to and from the spare: every other link is kept from the generation before', async () => {
    const store = new MemoryStore();
    const job = `kept-${process.pid}`;
    const { nodes, transports, listeners, activateAll } = await onListeners(store, job, 8);
    // 300 float64 = 2,400 bytes, above SMALL_TUNING's halvingMaxBytes: the ring, whose partners are a rank's two neighbours.
    const allreduce = async (proxies: CommProxy[], seed: number): Promise<void> => {
      const bufs = proxies.map((_, r) => new Float64Array(300).fill(r + seed));
      await Promise.all(proxies.map((p, r) => p.allreduce(bufs[r]!)));
      const want = (8 * 7) / 2 + 8 * seed;
      for (const b of bufs) assert.ok(b.every((v) => v === want), `got ${b[0]}, want ${want}`);
    };
    const gen0 = await activateAll(nodes.slice(0, 8), 0);
    let gen1: CommProxy[] = [];
    try {
      await allreduce(gen0, 1);
      transports[5]!.kill();
      // The survivors' proxies end as the SDK ends them when its FMS idles it.
      await Promise.all(gen0.map((p) => p.terminate()));
      const accepted = listeners.map((l) => l.endpoint.accepted);
      const dialed = transports.map((t) => t.dialed.length);
      const { record } = await applyFault(store, job, [5], { deadline: deadlineIn(2000), proposer: 0 });
      assert.deepEqual(record.members, [0, 1, 2, 3, 4, 8, 6, 7]);
      gen1 = await activateAll(record.members, record.generation);
      await allreduce(gen1, 2);
      // Rank 5 is now node 8: its ring neighbours (nodes 4 and 6) each dial it and accept its dial; nobody else connects anew.
      const newAccepts = listeners.map((l, n) => l.endpoint.accepted - accepted[n]!);
      const newDials = transports.map((t, n) => t.dialed.length - dialed[n]!);
      assert.deepEqual(newAccepts, [0, 0, 0, 0, 1, 0, 1, 0, 2], 'connections accepted in generation 1, by node');
      assert.deepEqual(newDials, [0, 0, 0, 0, 1, 0, 1, 0, 2], 'connections dialed in generation 1, by node');
      for (const n of [0, 1, 2, 3, 7]) assert.equal(listeners[n]!.endpoint.park.reused, 4, `node ${n} took back both links to each of its two neighbours`);
    } finally {
      await Promise.all([...gen0, ...gen1].map((p) => p.terminate()));
      for (const l of listeners) l.close();
    }
  });
});

describe('Unix domain sockets', () => {
  it('ranks on one host can listen on unix:<path> and run collectives over it', async () => {
    const { TcpTransport } = await import('../../src/comm/tcp-transport.js');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const store = new MemoryStore();
    const { createCommunicator } = await import('../../src/comm/rendezvous.js');
    const comms = await Promise.all(
      [0, 1, 2].map((rank) =>
        createCommunicator({ job: `uds-${process.pid}`, generation: 0, rank, world: 3, secret: 's', store, transport: new TcpTransport(), host: `unix:${join(tmpdir(), `rollcall-uds-${process.pid}-${rank}.sock`)}`, tuning: FAST }),
      ),
    );
    try {
      const bufs = comms.map((_, r) => new Float32Array(5000).fill(r));
      await Promise.all(comms.map((c, r) => c.allreduce(bufs[r]!)));
      for (const b of bufs) assert.ok(b.every((v) => v === 3));
    } finally {
      closeAll(comms);
    }
  });
});

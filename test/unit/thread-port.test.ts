import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyFault, initMembership } from '../../src/fms/membership.js';
import { ProxyHandle } from '../../src/proxy/proxy-handle.js';
import type { CommProxy } from '../../src/proxy/proxy.js';
import { ThreadPort } from '../../src/proxy/thread-port.js';
import { openStore } from '../../src/store/open-store.js';
import { revisionOf } from '../../src/store/store.js';
import { deadlineIn } from '../../src/util/deadline.js';
import { proxyStore } from '../helpers/proxy-store.js';

const server = proxyStore();
let jobNo = 0;

describe('thread proxies on their node\'s address (ThreadPort)', { timeout: 60_000 }, () => {
  it('a recovery binds each node\'s port again, dials that meet the gap are retried, and nothing but the membership is written', async () => {
    const job = `thread-port-${process.pid}-${jobNo++}`;
    const open = (): ReturnType<typeof openStore> => openStore(server.address, { secret: server.secret });
    const store = await open();
    // Every write under the job, as the store's watchers see it.
    const writes: string[] = [];
    let seen = 0;
    const watcher = await store.watch(`rollcall/${job}/`, (ev) => {
      writes.push(ev.type === 'put' ? ev.kv.key : ev.key);
      seen = revisionOf(ev);
    });
    // Every write under the job made so far has reached the watcher (events come in revision order).
    const caughtUp = async (): Promise<void> => {
      const { kvs } = await store.list(`rollcall/${job}/`);
      const last = Math.max(...kvs.map((kv) => kv.modRevision));
      const deadline = Date.now() + 5000;
      while (seen < last) {
        assert.ok(Date.now() < deadline, `the watcher saw revision ${seen}, the store is at ${last}`);
        await new Promise((r) => setImmediate(r));
      }
    };
    const nodes = [0, 1, 2, 3, 4];
    const stores = await Promise.all(nodes.map(open));
    const ports = await Promise.all(nodes.map((node) => ThreadPort.open({ store: stores[node]!, job, node })));
    const record0 = await initMembership(store, job, { nodes: [0, 1, 2, 3], spares: [4], policy: 'replace', minNodes: 2 });
    const proxies: CommProxy[] = [];
    // One member at a time, each starting its allreduce at once: the first ranks dial the later
    // ones before those have bound their port, so the refusals are met, not hoped for.
    const generation = async (members: number[], gen: number): Promise<CommProxy[]> => {
      const mine: CommProxy[] = [];
      const runs: Promise<Float64Array>[] = [];
      for (const [rank, node] of members.entries()) {
        const p = await ProxyHandle.standby(server.address, server.secret, 10_000, undefined, ports[node]);
        proxies.push(p);
        mine.push(p);
        await p.activate({ store: server.address, secret: server.secret, job, generation: gen, rank, world: members.length, members, tuning: { timeoutMs: 10_000 } }, 10_000);
        runs.push(p.allreduce(new Float64Array(1000).fill(node + 1)));
        await new Promise((r) => setTimeout(r, 50));
      }
      const sums = await Promise.all(runs);
      const want = members.reduce((a, n) => a + n + 1, 0);
      for (const s of sums) assert.ok(s.every((v) => v === want), `allreduce gave ${s[0]}, expected ${want}`);
      return mine;
    };
    try {
      assert.equal(record0.generation, 0);
      const gen0 = await generation([0, 1, 2, 3], 0);
      // Node 2 is lost; the others' proxies are ended, as their SDK does when idled.
      await Promise.all(gen0.map((p) => p.terminate()));
      await caughtUp();
      const before = writes.length;
      const { record } = await applyFault(store, job, [2], { deadline: deadlineIn(2000), proposer: 0 });
      assert.deepEqual(record.members, [0, 1, 4, 3]);
      await generation(record.members, record.generation);
      await caughtUp();
      assert.deepEqual(writes.slice(before), [`rollcall/${job}/membership`], 'the membership, and nothing else');
      // Each node still at the address it published once: its ports were bound again, not moved.
      for (const p of ports) assert.equal(p.writes, 1, `node ${p.node} published ${p.writes} times`);
    } finally {
      await Promise.all(proxies.map((p) => p.terminate()));
      for (const p of ports) p.close();
      await watcher.close();
      await Promise.all([store, ...stores].map((s) => s.close()));
    }
  });

  it('a port taken by someone else: the proxy listens on a new one and the node publishes it', async () => {
    const job = `thread-port-${process.pid}-${jobNo++}`;
    const store = await openStore(server.address, { secret: server.secret });
    const port = await ThreadPort.open({ store, job, node: 0 });
    const { createServer } = await import('node:net');
    const squatter = createServer();
    const [, portNo] = /:(\d+)$/.exec(port.address)!;
    await new Promise<void>((r) => squatter.listen(Number(portNo), '127.0.0.1', () => r()));
    const p = await ProxyHandle.standby(server.address, server.secret, 10_000, undefined, port);
    try {
      const before = port.address;
      await p.activate({ store: server.address, secret: server.secret, job, generation: 0, rank: 0, world: 1, members: [0] }, 10_000);
      assert.notEqual(port.address, before, 'moved to another port');
      assert.equal(port.writes, 2, 'published again');
      assert.equal((await store.get(`rollcall/${job}/comm/node/0/addr`))?.value, port.address);
      const x = await p.allreduce(Float64Array.of(3));
      assert.equal(x[0], 3);
    } finally {
      await p.terminate();
      squatter.close();
      port.close();
      await store.close();
    }
  });
});

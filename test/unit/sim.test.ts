import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Fms } from '../../src/fms/fms.js';
import { readMembership } from '../../src/fms/membership.js';
import type { Datagram } from '../../src/protocol/datagram.js';
import { SimCluster } from '../../src/sim/cluster.js';
import { MembershipView } from '../../src/sim/membership-view.js';
import { seededRng } from '../../src/sim/rng.js';
import { SimNetwork } from '../../src/sim/sim-network.js';
import { FakeClock } from '../../src/util/clock.js';

/** The cluster simulator (src/sim/): its clock, its network, and the real FMS running on them. */

describe('FakeClock at simulator scale (a heap of timers)', () => {
  it('fires thousands of timers in due order, ties in the order set, and never a cleared one', () => {
    const clock = new FakeClock(0);
    const rng = seededRng(7);
    const fired: { due: number; seq: number }[] = [];
    const cleared = new Set<number>();
    const handles: unknown[] = [];
    for (let i = 0; i < 5000; i++) {
      const due = Math.floor(rng() * 1000);
      handles.push(clock.setTimeout(() => fired.push({ due, seq: i }), due));
    }
    for (let i = 0; i < 5000; i += 3) {
      clock.clearTimeout(handles[i]);
      cleared.add(i);
    }
    assert.equal(clock.pending, 5000 - cleared.size);
    clock.advance(1000);
    assert.equal(fired.length, 5000 - cleared.size);
    assert.ok(fired.every((f) => !cleared.has(f.seq)), 'a cleared timer fired');
    for (let i = 1; i < fired.length; i++) {
      const a = fired[i - 1]!;
      const b = fired[i]!;
      assert.ok(a.due < b.due || (a.due === b.due && a.seq < b.seq), `out of order at ${i}: ${JSON.stringify([a, b])}`);
    }
    assert.equal(clock.pending, 0);
    assert.equal(clock.nextDue, undefined);
  });

  it('nextDue is the earliest live timer', () => {
    const clock = new FakeClock(10);
    const a = clock.setTimeout(() => undefined, 5);
    clock.setTimeout(() => undefined, 8);
    assert.equal(clock.nextDue, 15);
    clock.clearTimeout(a);
    assert.equal(clock.nextDue, 18);
  });
});

describe('SimNetwork', () => {
  const hb = (node: number): Datagram => ({ type: 'heartbeat', node });

  it('delays every datagram by the latency plus up to the jitter, and loses the given share', () => {
    const clock = new FakeClock(0);
    const net = new SimNetwork(clock, { latencyMs: 5, jitterMs: 20, loss: 0.1, rng: seededRng(3) });
    const got: number[] = [];
    net.endpoint(0, () => undefined);
    const b = net.endpoint(1, () => got.push(clock.now()));
    const a = net.endpoint(0, () => undefined);
    for (let i = 0; i < 10_000; i++) a.send(b.address, hb(0));
    clock.advance(100);
    assert.equal(net.counts.sent, 10_000);
    assert.equal(net.counts.lost + got.length, 10_000);
    assert.ok(net.counts.lost > 800 && net.counts.lost < 1200, `lost ${net.counts.lost} of 10,000 at 10 %`);
    assert.ok(got.every((t) => t >= 5 && t < 25), 'within latency + jitter');
    assert.ok(Math.max(...got) - Math.min(...got) > 15, 'jitter spreads the arrivals');
  });

  it('a partition drops datagrams both ways until it heals; a crashed node sends and hears nothing', () => {
    const clock = new FakeClock(0);
    const net = new SimNetwork(clock, { latencyMs: 1, jitterMs: 0, loss: 0, rng: seededRng(1) });
    const heard = new Map<number, number>([[0, 0], [1, 0], [2, 0]]);
    const ep = [0, 1, 2].map((n) => net.endpoint(n, () => heard.set(n, heard.get(n)! + 1)));
    const all = (): void => {
      for (const from of ep) for (const to of ep) if (from !== to) from.send(to.address, hb(0));
      clock.advance(5);
    };
    net.partition(1, [2]);
    all();
    assert.deepEqual([...heard.values()], [1, 1, 0], 'node 2 hears nobody, and nobody hears it');
    assert.equal(net.counts.cut, 4);
    net.heal(1);
    all();
    assert.deepEqual([...heard.values()], [3, 3, 2]);
    net.crash(0);
    all();
    assert.deepEqual([...heard.values()], [3, 4, 3], 'the crashed node is silent and deaf');
  });

  it('rejects a loss outside [0, 1)', () => {
    assert.throws(() => new SimNetwork(new FakeClock(), { latencyMs: 0, jitterMs: 0, loss: 1, rng: seededRng(1) }), /loss must be in \[0, 1\)/);
  });
});

describe('SimCluster: the real FMS on the simulator', () => {
  it('runs Fms objects; a crash is detected, agreed by every live node and written once to the store', async () => {
    const c = new SimCluster({ nodes: 8, spares: 1, loss: 0, latencyMs: 1, jitterMs: 0, heartbeatMs: 100, seed: 5 });
    try {
      assert.ok(c.nodes.every((n) => n.fms instanceof Fms), 'the same class the FMS process runs');
      await c.start();
      await c.run(2000);
      assert.equal(c.eventCounts.get('fault_detected') ?? 0, 0, 'no fault without one');
      c.crashAt(3);
      await c.run(5000);
      const [f] = c.faults;
      assert.ok(f && f.detectedAt !== undefined && f.agreedAt !== undefined, JSON.stringify(f));
      assert.ok(f.detectedAt - f.at <= 3 * 100 + 50, `detected within the fault timeout: ${f.detectedAt - f.at} ms`);
      assert.ok(f.agreedAt >= f.detectedAt);
      const rec = await readMembership(c.store, 'sim');
      assert.equal(rec?.generation, 1);
      assert.ok(!rec.members.includes(3) && rec.members.includes(8), 'the spare took the crashed node\'s place');
      assert.deepEqual(c.evictions(), { falseEvictions: [], partitionedEvictions: [] });
      assert.ok(c.storeCounts.writes >= 1 && c.storeCounts.watchEvents >= 8, JSON.stringify(c.storeCounts));
      assert.ok(c.network.counts.sent > 0 && c.network.counts.local > 0);
      // The crashed node vanished: its FMS judged nobody (it hears nothing) and logged nothing after.
      await c.run(3000);
      assert.equal(c.live.length, 8);
      assert.ok((c.lastEventAt.get(3) ?? 0) <= f.at, `node 3 logged at ${c.lastEventAt.get(3)}, after its crash at ${f.at}`);
    } finally {
      await c.stop();
    }
  });
});

describe('MembershipView', () => {
  const rec = (generation: number, members: number[], spares: number[] = [], state = 'running'): string => JSON.stringify({ generation, members, spares, failed: [], minNodes: 1, policy: 'shrink', state });

  it('knows who holds which record and who each new generation removed', () => {
    const v = new MembershipView(4);
    v.seed(1, rec(0, [0, 1, 2], [3]));
    assert.equal(v.of(2)?.generation, 0);
    v.delivered(0, 5, rec(1, [0, 1, 3]), 100);
    assert.deepEqual([...v.removed], [[2, 100]], 'node 2 removed at the first delivery of generation 1');
    assert.equal(v.of(0)?.generation, 1);
    assert.equal(v.of(1)?.generation, 0, 'node 1 has not handled it yet');
    v.delivered(1, 5, rec(1, [0, 1, 3]), 120);
    v.delivered(1, 1, rec(0, [0, 1, 2], [3]), 130);
    assert.equal(v.of(1)?.generation, 1, 'an older record never replaces a newer one');
    assert.equal(v.generation, 1);
    v.delivered(0, 9, 'not json', 140);
    assert.equal(v.of(0)?.generation, 1, 'a value that is no record is ignored');
  });
});

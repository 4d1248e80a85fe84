import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { FakeClock, type Clock } from '../../src/util/clock.js';
import { Fms, type FmsDeps } from '../../src/fms/fms.js';
import type { Datagram } from '../../src/protocol/datagram.js';
import type { DatagramEndpoint } from '../../src/fms/datagram-endpoint.js';
import type { EventName, EventOf, LogEvent } from '../../src/protocol/events.js';
import { initMembership, readMembership, type MembershipRecord } from '../../src/fms/membership.js';
import { peerTimings } from '../../src/fms/peer-watch.js';
import { fmsConfig } from '../../src/launch/fms-config.js';
import { resolveLaunchOptions } from '../../src/launch/launch-options.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { FakeProgram, FAULT_TIMEOUT, HEARTBEAT, START_TIMEOUT, turn, until } from '../helpers/fms-fakes.js';

/**
 * Whole FMSes, N of them, on one fake clock and one memory store, with a datagram network the
 * test can make lossy per link, count, and hold (a node whose event loop is starved). Members
 * 0..N-2 and the spare N-1, `replace`, heartbeat 100 ms, fault timeout 300 ms, K = 3.
 */
const JOB = 'detection-unit';
const T = peerTimings({ heartbeatMs: HEARTBEAT, faultTimeoutMs: FAULT_TIMEOUT });

/** Datagrams between endpoints on a later turn; links can drop, nodes can be held (starved). */
class Net {
  private readonly handlers = new Map<string, (d: Datagram) => void>();
  /** Sends by node and datagram type, from its FMS's endpoint (a program's beats are not sends of the FMS). */
  readonly sent = new Map<number, Map<string, number>>();
  drop: (from: number, to: number, d: Datagram) => boolean = () => false;
  /** Called as a datagram is handed over (after drop), before the receiver sees it. */
  onDeliver: (to: number, d: Datagram) => void = () => undefined;
  private readonly held = new Map<number, (() => void)[]>();

  endpoint(node: number, onDatagram: (d: Datagram) => void): DatagramEndpoint {
    const address = `mem-${node}:1`;
    this.handlers.set(address, onDatagram);
    const counts = new Map<string, number>();
    this.sent.set(node, counts);
    return {
      address,
      send: (to, d) => {
        counts.set(d.type, (counts.get(d.type) ?? 0) + 1);
        const dest = Number(/^mem-(\d+):1$/.exec(to)?.[1]);
        if (this.drop(node, dest, d)) return;
        queueMicrotask(() => this.deliver(dest, d));
      },
      close: () => this.handlers.delete(address),
    };
  }

  deliver(to: number, d: Datagram): void {
    const q = this.held.get(to);
    if (q) {
      q.push(() => this.deliver(to, d));
      return;
    }
    const h = this.handlers.get(`mem-${to}:1`);
    if (!h) return;
    this.onDeliver(to, d);
    h(d);
  }

  hold(node: number): void {
    this.held.set(node, []);
  }

  /** Releases what queued up for `node` while it was held, in order. */
  release(node: number): void {
    const q = this.held.get(node) ?? [];
    this.held.delete(node);
    for (const f of q) f();
  }

  total(type: string, nodes: Iterable<number>): number {
    let n = 0;
    for (const node of nodes) n += this.sent.get(node)?.get(type) ?? 0;
    return n;
  }

  reset(): void {
    for (const c of this.sent.values()) c.clear();
  }
}

/**
 * A node's clock while its event loop is starved: its timers come due but do not run, nor what
 * it deferred, and (through Net.hold) its datagrams wait unread; when the stall ends, the late
 * timers run first, then the queued datagrams, as a Node process runs them.
 */
class StarvableClock implements Clock {
  private starved = false;
  private readonly late: (() => void)[] = [];
  constructor(private readonly clock: FakeClock) {}
  now(): number {
    return this.clock.now();
  }
  setTimeout(fn: () => void, ms: number): unknown {
    return this.clock.setTimeout(() => (this.starved ? this.late.push(fn) : fn()), ms);
  }
  clearTimeout(h: unknown): void {
    this.clock.clearTimeout(h);
  }
  defer(fn: () => void): void {
    this.clock.defer(() => (this.starved ? this.late.push(fn) : fn()));
  }
  starve(): void {
    this.starved = true;
  }
  feed(): void {
    this.starved = false;
    for (const fn of this.late.splice(0)) fn();
  }
}

interface World {
  n: number;
  clock: FakeClock;
  clocks: Map<number, StarvableClock>;
  store: MemoryStore;
  net: Net;
  fms: Map<number, Fms>;
  programs: Map<number, FakeProgram>;
  dead: Set<number>;
  events: LogEvent[];
}

const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) {
    for (const f of w.fms.values()) await f.stop(0);
    await w.store.close();
  }
});

async function startWorld(n: number, watchers = 3): Promise<World> {
  const w: World = { n, clock: new FakeClock(1000), clocks: new Map(), store: new MemoryStore(), net: new Net(), fms: new Map(), programs: new Map(), dead: new Set(), events: [] };
  worlds.push(w);
  const members = Array.from({ length: n - 1 }, (_, i) => i);
  await initMembership(w.store, JOB, { nodes: members, spares: [n - 1], minNodes: 1, policy: 'replace' });
  const opts = resolveLaunchOptions({ nodes: n - 1, spares: 1, heartbeatMs: HEARTBEAT, faultTimeoutMs: FAULT_TIMEOUT, startTimeoutMs: START_TIMEOUT, watchers, command: ['fake'] });
  for (let node = 0; node < n; node++) {
    const deps: FmsDeps = {
      openStore: () => Promise.resolve(w.store),
      openEndpoint: (o) => Promise.resolve(w.net.endpoint(node, o.onDatagram)),
      startProgram: () => {
        const p = new FakeProgram();
        w.programs.set(node, p);
        return p;
      },
    };
    const clock = new StarvableClock(w.clock);
    w.clocks.set(node, clock);
    const cfg = fmsConfig(opts, { job: JOB, node, secret: 's', store: 'memory', host: '127.0.0.1', stateDir: '/nonexistent' });
    w.fms.set(node, new Fms(cfg, { event: (e) => w.events.push(e), progress: () => undefined, finished: () => undefined }, clock, deps));
  }
  w.store.close = () => Promise.resolve();
  await Promise.all([...w.fms.values()].map((f) => f.start()));
  for (const p of w.programs.values()) p.emit('message', { type: 'hello', pid: p.pid, version: 1 });
  await until('every member told of generation 0', () => members.every((m) => w.programs.get(m)!.generations().includes(0)));
  return w;
}

/** Moves the clock in half heartbeats; every live program's thread beats to its FMS once a heartbeat. */
let step = 0;
async function run(w: World, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += HEARTBEAT / 2) {
    if (step++ % 2 === 0) for (const [node, p] of w.programs) if (p.running && !w.dead.has(node)) w.net.deliver(node, { type: 'program_heartbeat', node, pid: p.pid });
    w.clock.advance(HEARTBEAT / 2);
    await turn();
  }
}

/** Runs until `cond`; returns the FMS clock's time it took. */
async function runUntil(w: World, what: string, cond: () => boolean | Promise<boolean>, maxMs = 5000): Promise<number> {
  const t0 = w.clock.now();
  while (!(await cond())) {
    if (w.clock.now() - t0 > maxMs) throw new Error(`${what}: not within ${maxMs} ms of the FMS's clock`);
    await run(w, HEARTBEAT / 2);
    await turn();
  }
  return w.clock.now() - t0;
}

/** A whole node dies (FMS and program): nothing more from it, nothing reaches it. */
async function kill(w: World, node: number): Promise<void> {
  w.dead.add(node);
  await w.fms.get(node)!.stop(0);
}

const record = async (w: World): Promise<MembershipRecord> => (await readMembership(w.store, JOB)) as MembershipRecord;
const of = <N extends EventName>(w: World, name: N): EventOf<N>[] => w.events.filter((e): e is EventOf<N> => e.event === name);

describe('failure detection at scale (whole FMSes, fake clock, memory store, in-memory datagrams)', () => {
  it('datagrams sent per node per heartbeat interval do not depend on N: K beats each, the same at 8 and 64 nodes', async () => {
    const rates: number[] = [];
    for (const n of [8, 64]) {
      const w = await startWorld(n);
      await run(w, 1000);
      w.net.reset();
      await run(w, 2000);
      const nodes = [...w.fms.keys()];
      const all = [...new Set([...w.net.sent.values()].flatMap((m) => [...m.keys()]))];
      const perNodeInterval = all.reduce((acc, type) => acc + w.net.total(type, nodes), 0) / n / (2000 / HEARTBEAT);
      rates.push(perNodeInterval);
      assert.deepEqual(of(w, 'peer_suspected'), [], `no suspicion at ${n} nodes`);
      assert.deepEqual(all, ['heartbeat'], 'nothing but heartbeats while nobody fails');
      for (const f of w.fms.values()) await f.stop(0);
      worlds.splice(worlds.indexOf(w), 1);
    }
    assert.ok(rates.every((r) => r <= 3 + 0.01), `at most K = 3 per node per interval: ${rates.join(', ')}`);
    assert.ok(Math.abs(rates[0]! - rates[1]!) / rates[0]! < 0.1, `the same within 10 % at 8 and 64 nodes: ${rates.join(', ')}`);
  });

  it('one lossy link evicts nobody: the observer across it suspects, the others answer for the suspect', async () => {
    const w = await startWorld(8);
    await run(w, 500);
    // Every datagram between nodes 2 and 3 is lost, both ways, for 10 s (node 2 watches 3).
    w.net.drop = (from, to) => (from === 2 && to === 3) || (from === 3 && to === 2);
    await run(w, 10_000);
    assert.deepEqual(of(w, 'fault_detected'), []);
    assert.equal((await record(w)).generation, 0);
    assert.ok(of(w, 'peer_suspected').some((e) => e.node === 2 && e.suspect === 3), 'node 2 did suspect node 3');
    assert.ok(of(w, 'peer_cleared').some((e) => e.node === 2 && e.suspect === 3 && e.how === 'ack'), 'cleared by an ack through a helper');
  });

  it('a starved observer accuses nobody: its late timers and the beats queued behind them clear everyone', async () => {
    const w = await startWorld(8);
    await run(w, 500);
    const starved = w.clocks.get(0)!;
    for (let i = 0; i < 5; i++) {
      // Node 0's event loop is blocked for 250 ms: its timers and datagrams wait, then run late.
      starved.starve();
      w.net.hold(0);
      await run(w, 250);
      starved.feed();
      w.net.release(0);
      await run(w, 1000);
    }
    assert.deepEqual(of(w, 'fault_detected'), [], 'nobody accused');
    assert.equal((await record(w)).generation, 0);
    assert.ok(w.fms.get(0)!.healthScore > 0 || of(w, 'peer_suspected').every((e) => e.node !== 0), "its own health took the blame, or it suspected nobody");
  });

  it('a real crash (a whole node) is confirmed within the bound: fault timeout + probe + batch window, one generation', async () => {
    const w = await startWorld(8);
    await run(w, 500);
    await kill(w, 5);
    const ms = await runUntil(w, 'generation 1', async () => (await record(w)).generation === 1);
    const bound = FAULT_TIMEOUT + T.probeMs + T.peerBatchMs + HEARTBEAT;
    assert.ok(ms <= bound, `written ${ms} ms after the crash, bound ${bound} ms`);
    const r = await record(w);
    assert.deepEqual([r.members, r.spares, r.failed], [[0, 1, 2, 3, 4, 7, 6], [], [5]]);
    await run(w, 1000);
    assert.deepEqual(of(w, 'membership_updated').map((e) => e.generation), [1], 'one write');
    assert.ok(of(w, 'fault_detected').every((e) => (e.failed as number[]).join() === '5'), 'nobody else blamed');
  });

  it('two crashes close together make one generation: program exits and whole nodes alike', async () => {
    const w = await startWorld(8);
    await run(w, 500);
    w.programs.get(2)!.crash();
    // Its report reaches the coordinator before the second crash, 5 ms later on the FMS's clock.
    await turn();
    w.clock.advance(5);
    await turn();
    w.programs.get(4)!.crash();
    await runUntil(w, 'generation 1', async () => (await record(w)).generation === 1);
    await run(w, 500);
    let r = await record(w);
    assert.deepEqual([r.generation, r.failed], [1, [2, 4]], 'both in one generation');

    await kill(w, 1);
    await kill(w, 3);
    await runUntil(w, 'generation 2', async () => (await record(w)).generation === 2);
    await run(w, 1000);
    r = await record(w);
    assert.deepEqual([r.generation, r.failed], [2, [2, 4, 1, 3]], 'both in one generation');
  });

  it('the proposer dies mid-proposal: the reporter takes over after its timeout and the fault is written once', async () => {
    const w = await startWorld(8);
    await run(w, 500);
    // Node 0 is the coordinator; it dies as the report reaches it, before its batch is written.
    w.net.onDeliver = (to, d) => {
      if (to === 0 && d.type === 'fault') void kill(w, 0);
    };
    w.programs.get(3)!.crash();
    const ms = await runUntil(w, 'generation 1', async () => (await record(w)).generation === 1);
    assert.ok(ms <= T.takeoverMs + HEARTBEAT, `written ${ms} ms after the crash`);
    assert.deepEqual(of(w, 'fault_notified').filter((e) => e.by === 3).map((e) => e.to), [[0]]);
    assert.deepEqual(
      of(w, 'membership_updated').map((e) => [e.generation, e.by, e.removed]),
      [[1, 3, [3]]],
      'written by the reporter itself',
    );
    // The coordinator's own death is found next, and written by the next lowest.
    await runUntil(w, 'generation 2', async () => (await record(w)).generation === 2);
    assert.deepEqual((await record(w)).failed, [3, 0]);
  });
});

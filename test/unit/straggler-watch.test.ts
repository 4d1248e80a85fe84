import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { FakeClock } from '../../src/util/clock.js';
import { Fms, type FmsDeps } from '../../src/fms/fms.js';
import type { StragglerAction } from '../../src/protocol/fms-messages.js';
import type { EventName, EventOf, LogEvent } from '../../src/protocol/events.js';
import { initMembership, readMembership, type MembershipRecord } from '../../src/fms/membership.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { FakeProgram, HEARTBEAT, Hub, testFmsConfig, turn, turns, until } from '../helpers/fms-fakes.js';

/**
 * Stragglers through the whole FMS, on fakes (as test/unit/fms.test.ts): four FMSes, members
 * 0, 1, 2 and node 3 a spare (or a fourth member when there is no spare), window 2 s. The
 * programs are fakes that report their compute times as the SDK's exchange does; node 1's is 3x
 * the median when it is slow.
 */
const JOB = 'straggler-unit';
const WINDOW = 2000;
const EVERY = 400;

interface World {
  clock: FakeClock;
  hub: Hub;
  store: MemoryStore;
  fms: Map<number, Fms>;
  programs: Map<number, FakeProgram>;
  events: LogEvent[];
}

const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) {
    for (const f of w.fms.values()) await f.stop(0);
    await w.store.close();
  }
});

async function startWorld(on: StragglerAction, spare = true): Promise<World> {
  const w: World = { clock: new FakeClock(1000), hub: new Hub(), store: new MemoryStore(), fms: new Map(), programs: new Map(), events: [] };
  const hub = w.hub;
  worlds.push(w);
  await initMembership(w.store, JOB, { nodes: spare ? [0, 1, 2] : [0, 1, 2, 3], spares: spare ? [3] : [], minNodes: 1, policy: spare ? 'replace' : 'shrink' });
  for (const node of [0, 1, 2, 3]) {
    const deps: FmsDeps = {
      openStore: () => Promise.resolve(w.store),
      openEndpoint: (o) => Promise.resolve(hub.endpoint(node, o.onDatagram)),
      startProgram: () => {
        const p = new FakeProgram();
        w.programs.set(node, p);
        return p;
      },
    };
    const cfg = { ...testFmsConfig(JOB, node), straggler: { factor: 1.5, windowMs: WINDOW, on } };
    w.fms.set(node, new Fms(cfg, { event: (e) => w.events.push(e), progress: () => undefined, finished: () => undefined }, w.clock, deps));
  }
  w.store.close = () => Promise.resolve();
  await Promise.all([...w.fms.values()].map((f) => f.start()));
  for (const p of w.programs.values()) p.emit('message', { type: 'hello', pid: p.pid, version: 1 });
  await until('every member told of generation 0', () => [0, 1, 2].every((n) => w.programs.get(n)!.generations().includes(0)));
  return w;
}

/**
 * `ms` of exchanges, one every EVERY ms: node 1 at 3x the median while `slow`, every member
 * (the world's members) reporting like the SDK does after an exchange.
 */
async function exchanges(w: World, ms: number, slow: boolean): Promise<void> {
  for (let t = 0; t < ms; t += EVERY) {
    // Heartbeats go on meanwhile; the FMS's judgement of them is fms.test.ts's.
    for (let b = 0; b < EVERY; b += HEARTBEAT / 2) {
      for (const [node, p] of w.programs) if (p.running) w.hub.deliver(node, { type: 'program_heartbeat', node, pid: p.pid });
      w.clock.advance(HEARTBEAT / 2);
      await turn();
    }
    const r = (await readMembership(w.store, JOB)) as MembershipRecord;
    for (const n of r.members) {
      const p = w.programs.get(n)!;
      if (p.running) p.emit('message', { type: 'compute', generation: r.generation, computeMs: n === 1 && slow ? 30 : 10, medianMs: 10, world: r.members.length, spanMs: EVERY });
    }
    await turn();
  }
  await turns();
}

const record = async (w: World): Promise<MembershipRecord> => (await readMembership(w.store, JOB)) as MembershipRecord;
const of = <N extends EventName>(w: World, name: N): EventOf<N>[] => w.events.filter((e): e is EventOf<N> => e.event === name);

describe('stragglers through the FMS (fake clock, memory store, fake programs)', () => {
  it('slow for the window: its own FMS declares it (cause slow), and the spare takes its rank', async () => {
    const w = await startWorld('replace');
    await exchanges(w, 1000, false);
    await exchanges(w, WINDOW + EVERY, true);
    await until('generation 1', async () => (await record(w)).generation === 1);
    assert.deepEqual(of(w, 'straggler_suspected').map((e) => [e.node, e.compute_ms, e.median_ms]), [[1, 30, 10]]);
    const d = of(w, 'fault_detected');
    assert.deepEqual(d.map((e) => [e.by, e.failed, e.cause]), [[1, [1], 'slow']], 'one declaration, by the node itself');
    assert.match(d[0]!.detail, /3\.0x the members' median/);
    const r = await record(w);
    assert.deepEqual([r.members, r.failed], [[0, 3, 2], [1]]);
    assert.deepEqual(of(w, 'membership_updated').map((e) => e.cause), ['slow']);
    await until('node 1 fenced', () => of(w, 'node_fenced').some((e) => e.node === 1));
    assert.equal(w.programs.get(1)!.killedWith, 'SIGKILL');
  });

  it('slow for less than the window: suspected, cleared, and the membership stays', async () => {
    const w = await startWorld('replace');
    await exchanges(w, WINDOW - EVERY, true);
    await exchanges(w, 2 * WINDOW, false);
    assert.deepEqual(of(w, 'straggler_suspected').map((e) => e.node), [1]);
    assert.deepEqual(of(w, 'straggler_cleared').map((e) => [e.node, e.why]), [[1, 'fast_again']]);
    assert.deepEqual(of(w, 'fault_detected'), []);
    assert.equal((await record(w)).generation, 0);
  });

  it('--on-straggler report: reported once, and the membership never changes', async () => {
    const w = await startWorld('report');
    await exchanges(w, 3 * WINDOW, true);
    assert.deepEqual(of(w, 'straggler_reported').map((e) => [e.node, e.why]), [[1, '--on-straggler report']]);
    assert.deepEqual(of(w, 'fault_detected'), []);
    const r = await record(w);
    assert.deepEqual([r.generation, r.members, r.spares], [0, [0, 1, 2], [3]]);
  });

  it('replace with no spare left: reported, not declared', async () => {
    const w = await startWorld('replace', false);
    await exchanges(w, 2 * WINDOW, true);
    assert.deepEqual(of(w, 'straggler_reported').map((e) => [e.node, e.why]), [[1, 'no spare left to replace it']]);
    assert.deepEqual(of(w, 'fault_detected'), []);
    assert.equal((await record(w)).generation, 0);
  });

  it('shrink with no spare: declared, and the job goes on with one member fewer', async () => {
    const w = await startWorld('shrink', false);
    await exchanges(w, WINDOW + EVERY, true);
    await until('generation 1', async () => (await record(w)).generation === 1);
    assert.deepEqual((await record(w)).members, [0, 2, 3]);
  });
});

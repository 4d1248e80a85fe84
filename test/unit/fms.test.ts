import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { FakeClock } from '../../src/util/clock.js';
import { Fms, FmsState, type FmsDeps } from '../../src/fms/fms.js';
import type { EventName, EventOf, LogEvent } from '../../src/protocol/events.js';
import { initMembership, readMembership, type MembershipRecord } from '../../src/fms/membership.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { FakeProgram, HEARTBEAT, Hub, testFmsConfig, turn, until } from '../helpers/fms-fakes.js';

/**
 * The FMS on its own, with fakes for everything it reaches: the memory store, datagrams handed
 * over in memory, programs that are objects the test drives, and a clock the test moves. Four
 * nodes: members 0, 1, 2 and the spare 3, heartbeat 100 ms, fault timeout 300 ms.
 */
const JOB = 'fms-unit';

interface World {
  clock: FakeClock;
  store: MemoryStore;
  hub: Hub;
  fms: Map<number, Fms>;
  programs: Map<number, FakeProgram>;
  events: LogEvent[];
  finished: { node: number; state: FmsState }[];
}

const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) {
    for (const f of w.fms.values()) await f.stop(0);
    await w.store.close();
  }
});

async function startWorld(): Promise<World> {
  const w: World = { clock: new FakeClock(1000), store: new MemoryStore(), hub: new Hub(), fms: new Map(), programs: new Map(), events: [], finished: [] };
  worlds.push(w);
  await initMembership(w.store, JOB, { nodes: [0, 1, 2], spares: [3], minNodes: 1, policy: 'replace' });
  for (const node of [0, 1, 2, 3]) {
    const deps: FmsDeps = {
      openStore: () => Promise.resolve(w.store),
      openEndpoint: (o) => Promise.resolve(w.hub.endpoint(node, o.onDatagram)),
      startProgram: () => {
        const p = new FakeProgram();
        w.programs.set(node, p);
        return p;
      },
    };
    const fms = new Fms(testFmsConfig(JOB, node), { event: (e) => w.events.push(e), progress: () => undefined, finished: (o) => w.finished.push(o) }, w.clock, deps);
    w.fms.set(node, fms);
  }
  // The store is shared, so closing it is the world's business, not each FMS's.
  w.store.close = () => Promise.resolve();
  await Promise.all([...w.fms.values()].map((f) => f.start()));
  for (const p of w.programs.values()) p.emit('message', { type: 'hello', pid: p.pid, version: 1 });
  await until('every member told of generation 0', () => [0, 1, 2].every((n) => w.programs.get(n)!.generations().includes(0)));
  return w;
}

/** Moves the clock in heartbeat steps; every live program sends its heartbeat thread's datagram. */
async function run(w: World, ms: number, silentPrograms: number[] = []): Promise<void> {
  for (let t = 0; t < ms; t += HEARTBEAT / 2) {
    for (const [node, p] of w.programs) if (p.running && !silentPrograms.includes(node)) w.hub.deliver(node, { type: 'program_heartbeat', node, pid: p.pid });
    w.clock.advance(HEARTBEAT / 2);
    await turn();
  }
}

/**
 * Runs the world (every live program beating) until `cond` holds: the coordinator's batching
 * window and the probes run on the FMS's clock, so time has to move for a fault to be written.
 */
async function runUntil(w: World, what: string, cond: () => boolean | Promise<boolean>, maxMs = 5000, silentPrograms: number[] = []): Promise<void> {
  for (let t = 0; !(await cond()); t += HEARTBEAT / 2) {
    if (t > maxMs) throw new Error(`${what}: not within ${maxMs} ms of the FMS's clock`);
    await run(w, HEARTBEAT / 2, silentPrograms);
    await turn();
  }
}

const record = async (w: World): Promise<MembershipRecord> => (await readMembership(w.store, JOB)) as MembershipRecord;
const of = <N extends EventName>(w: World, name: N): EventOf<N>[] => w.events.filter((e): e is EventOf<N> => e.event === name);

describe('FMS (fake clock, memory store, fake programs)', () => {
  it('a crashed program: its FMS detects it, reports it to the coordinator, and the spare takes its rank', async () => {
    const w = await startWorld();
    await run(w, 500);
    assert.deepEqual(of(w, 'fault_detected'), [], 'no fault while every node beats');
    w.programs.get(1)!.crash();
    await runUntil(w, 'generation 1', async () => (await record(w)).generation === 1);
    const detected = of(w, 'fault_detected');
    assert.equal(detected.length, 1);
    assert.deepEqual([detected[0]!.by, detected[0]!.failed, detected[0]!.cause], [1, [1], 'exit']);
    assert.deepEqual(of(w, 'fault_notified')[0]!.to, [0], 'reported to the lowest live node, which writes the record');
    assert.deepEqual(of(w, 'membership_updated').map((e) => e.by), [0], 'one write, by the coordinator');
    const r = await record(w);
    assert.deepEqual([r.members, r.failed], [[0, 3, 2], [1]]);
    await until('the survivors and the spare told of generation 1', () => [0, 2, 3].every((n) => w.programs.get(n)!.generations().includes(1)));
    // The survivors were idled first, and keep their process: no second program was started.
    for (const n of [0, 2]) assert.ok(w.programs.get(n)!.got.some((m) => m.type === 'idle'), `node ${n} idled`);
    const spare = w.programs.get(3)!.got.find((m) => m.type === 'generation' && m.generation === 1);
    assert.ok(spare && spare.type === 'generation' && spare.rank === 1, 'the spare has rank 1');
    assert.equal(of(w, 'program_started').length, 4);
  });

  it('a silent FMS is judged by the others from its missing heartbeats, and fences itself on seeing it', async () => {
    const w = await startWorld();
    await run(w, 300);
    w.hub.muted.add('mem-2:1');
    await run(w, 1000);
    await runUntil(w, 'generation 1', async () => (await record(w)).generation === 1);
    const detected = of(w, 'fault_detected').filter((e) => (e.failed as number[]).includes(2));
    assert.ok(detected.length >= 1);
    assert.ok(detected.every((e) => e.cause === 'heartbeat' && e.by !== 2));
    assert.deepEqual((await record(w)).members, [0, 1, 3]);
    // Node 2 still reaches the store: it reads that it was declared failed, and leaves.
    await until('node 2 fenced', () => of(w, 'node_fenced').some((e) => e.node === 2));
    assert.equal(w.programs.get(2)!.killedWith, 'SIGKILL');
    assert.deepEqual(w.finished.filter((f) => f.node === 2).map((f) => f.state), [FmsState.Fenced]);
    // Cut off from the others, it saw them silent too, but judged nobody once fenced.
    await run(w, 1000);
    assert.ok(!of(w, 'fault_detected').some((e) => e.by === 2 && (e.generation as number) >= 1));
    // Fenced is for good: a later generation does not bring it back.
    w.programs.get(1)!.crash();
    await runUntil(w, 'generation 2', async () => (await record(w)).generation === 2);
    await run(w, 200);
    assert.equal(w.fms.get(2)!.state, FmsState.Fenced);
    await w.fms.get(2)!.stop(0);
    assert.equal(w.fms.get(2)!.state, FmsState.Stopped);
    assert.deepEqual(of(w, 'fms_error'), [], 'no illegal move was attempted');
  });

  it('a hung program (no heartbeats from its thread) is killed by its own FMS and replaced', async () => {
    const w = await startWorld();
    await run(w, 300);
    await run(w, 600, [0]);
    await runUntil(w, 'generation 1', async () => (await record(w)).generation === 1);
    const d = of(w, 'fault_detected').find((e) => (e.failed as number[]).includes(0))!;
    assert.deepEqual([d.by, d.cause], [0, 'heartbeat']);
    assert.equal(w.programs.get(0)!.killedWith, 'SIGKILL', 'killed before anything else');
    assert.deepEqual((await record(w)).members, [3, 1, 2]);
  });

  it('a fault during a recovery: the next generation follows, with no spare left the job shrinks', async () => {
    const w = await startWorld();
    await run(w, 300);
    w.programs.get(1)!.crash();
    // Before generation 1 has settled everywhere, the spare brought in dies too.
    await runUntil(w, 'generation 1', async () => (await record(w)).generation === 1);
    w.programs.get(3)!.crash();
    await runUntil(w, 'generation 2', async () => (await record(w)).generation === 2);
    const r = await record(w);
    assert.deepEqual([r.members, r.spares, r.failed], [[0, 2], [], [1, 3]]);
    await until('the survivors told of generation 2', () => [0, 2].every((n) => w.programs.get(n)!.generations().includes(2)));
    const last = w.programs.get(2)!.got.filter((m) => m.type === 'generation').at(-1);
    assert.ok(last && last.type === 'generation' && last.rank === 1 && last.world === 2);
  });

  it('a fault notice whose detector died before writing: another FMS makes the same change', async () => {
    const w = await startWorld();
    await run(w, 300);
    // Node 1 "detected" node 2 and told node 0, then vanished before its compare-and-set.
    w.hub.deliver(0, { type: 'fault', by: 1, failed: [2], cause: 'heartbeat', generation: 0 });
    await turn();
    assert.ok(w.programs.get(0)!.got.some((m) => m.type === 'idle'), 'idled at once on the notice');
    assert.equal((await record(w)).generation, 0, 'nothing written yet');
    w.clock.advance(HEARTBEAT / 2);
    await runUntil(w, 'generation 1', async () => (await record(w)).generation === 1);
    assert.deepEqual((await record(w)).failed, [2]);
    assert.ok(of(w, 'membership_updated').some((e) => e.by === 0));
  });
});

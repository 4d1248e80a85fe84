import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { FmsState } from '../../src/fms/fms.js';
import { applyFault, failJob, initMembership, readMembership, type MembershipRecord } from '../../src/fms/membership.js';
import { MembershipReactor } from '../../src/fms/membership-reactor.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { FakeProgram, recordEvents, stateHolder, testFmsConfig, turns, until } from '../helpers/fms-fakes.js';

/**
 * The membership reactor alone: the job's record in the memory store (members 0, 1, 2, the
 * spare 3, `replace`), this node's program as a fake, and what the reactor asks of the rest of
 * the FMS (forget peers, silence) recorded. Other FMSes are only their writes to the store.
 */
const JOB = 'reactor-unit';

interface Bench {
  store: MemoryStore;
  reactor: MembershipReactor;
  program: FakeProgram;
  /** Whether the program has said hello. */
  connected: boolean;
  forgotten: number[][];
  silenced: number;
  finished: { node: number; state: FmsState }[];
  state: ReturnType<typeof stateHolder>;
  ev: ReturnType<typeof recordEvents>;
}

const benches: Bench[] = [];
afterEach(async () => {
  for (const b of benches.splice(0)) {
    await b.reactor.stop();
    await b.store.close();
  }
});

async function bench(node: number, opts: { connected?: boolean } = {}): Promise<Bench> {
  const store = new MemoryStore();
  await initMembership(store, JOB, { nodes: [0, 1, 2], spares: [3], minNodes: 1, policy: 'replace' });
  const program = new FakeProgram();
  const b: Bench = {
    store,
    program,
    connected: opts.connected ?? true,
    forgotten: [],
    silenced: 0,
    finished: [],
    state: stateHolder(),
    ev: recordEvents(node),
    reactor: undefined as unknown as MembershipReactor,
  };
  b.reactor = new MembershipReactor(testFmsConfig(JOB, node), store, { finished: (o) => b.finished.push(o) }, {
    emit: b.ev.emit,
    state: b.state.state,
    moveTo: b.state.moveTo,
    program: {
      get connected() {
        return b.connected;
      },
      send: (m) => program.send(m),
      kill: () => program.kill('SIGKILL'),
      restart: () => assert.fail('not in replace mode'),
    },
    forget: (nodes) => b.forgotten.push([...nodes]),
    silence: () => b.silenced++,
  });
  benches.push(b);
  await b.reactor.start();
  await until('generation 0 read', () => b.reactor.record?.generation === 0);
  return b;
}

/** What another FMS does on a fault: its compare-and-set. */
const otherProposes = (b: Bench, failed: number[]): Promise<unknown> => applyFault(b.store, JOB, failed, { deadline: Date.now() + 2000, proposer: 0 });
const stored = async (b: Bench): Promise<MembershipRecord> => (await readMembership(b.store, JOB)) as MembershipRecord;
const sent = (b: Bench, type: string): unknown[] => b.program.got.filter((m) => m.type === type);

describe('membership reactor (memory store, fake program)', () => {
  it('generation 0: a member runs and its program is told its rank and slot once, when connected', async () => {
    const b = await bench(2, { connected: false });
    assert.equal(b.state.state(), FmsState.Running);
    assert.deepEqual(b.program.got, [], 'nothing sent before hello');
    b.connected = true;
    b.reactor.sendGeneration();
    b.reactor.sendGeneration();
    assert.deepEqual(b.program.got, [{ type: 'generation', generation: 0, rank: 2, world: 3, members: [0, 1, 2], slot: 2, spares: 1, spareNodes: [3] }]);
  });

  it('a new generation: the spare brought in is told it with the failed rank and its slot', async () => {
    const b = await bench(3);
    assert.equal(b.state.state(), FmsState.Spare);
    // Told once that it waits as a spare (it follows the addresses then), and joins no generation.
    assert.deepEqual(b.program.got, [{ type: 'spare', generation: 0 }]);
    await otherProposes(b, [1]);
    await until('told of generation 1', () => b.program.generations().includes(1));
    assert.deepEqual(b.program.got, [
      { type: 'spare', generation: 0 },
      { type: 'idle', generation: 0 },
      { type: 'generation', generation: 1, rank: 1, world: 3, members: [0, 3, 2], slot: 1, spares: 0, spareNodes: [] },
    ]);
    assert.deepEqual(b.forgotten.at(-1), [1], 'the failed node is no longer judged');
  });

  it('a new generation: a surviving member is idled for the old one, then told the new one', async () => {
    const b = await bench(2);
    await otherProposes(b, [0]);
    await until('told of generation 1', () => b.program.generations().includes(1));
    assert.deepEqual(b.program.got.slice(1), [
      { type: 'idle', generation: 0 },
      { type: 'generation', generation: 1, rank: 2, world: 3, members: [3, 1, 2], slot: 2, spares: 0, spareNodes: [] },
    ]);
    assert.deepEqual(b.ev.of('program_idle').map((e) => e.generation), [0]);
    assert.deepEqual(b.state.moves, [FmsState.Running, FmsState.Recovering]);
  });

  it('a record where this node is failed fences it: program killed, monitors silenced, finished once', async () => {
    const b = await bench(1);
    await otherProposes(b, [1]);
    await until('fenced', () => b.ev.of('node_fenced').length > 0);
    assert.equal(b.program.killedWith, 'SIGKILL');
    assert.equal(b.silenced, 1);
    assert.equal(b.state.state(), FmsState.Fenced);
    assert.deepEqual(b.ev.of('node_fenced').map((e) => e.generation), [1]);
    assert.deepEqual(b.finished, [{ node: 1, state: FmsState.Fenced }]);
    // Later generations change nothing for it.
    await otherProposes(b, [2]);
    await until('generation 2 read', () => b.reactor.record?.generation === 2);
    assert.deepEqual([b.ev.of('node_fenced').length, b.silenced, b.finished.length], [1, 1, 1]);
    assert.deepEqual(b.program.generations(), [0]);
  });

  it('a proposal writes the next generation by compare-and-set, logged once by the writer', async () => {
    const b = await bench(0);
    await Promise.all([b.reactor.propose([2], 'heartbeat', false, 0), b.reactor.propose([2], 'heartbeat', false, 0)]);
    assert.deepEqual([(await stored(b)).generation, (await stored(b)).members], [1, [0, 1, 3]]);
    assert.deepEqual(
      b.ev.of('membership_updated').map((e) => [e.generation, e.members, e.removed, e.added, e.by, e.cause]),
      [[1, [0, 1, 3], [2], [3], 0, 'heartbeat']],
    );
  });

  it('a fault during a recovery makes a newer generation; with no spare left the job shrinks', async () => {
    const b = await bench(0);
    await b.reactor.propose([1], 'exit', false, 0);
    await until('told of generation 1', () => b.program.generations().includes(1));
    // The spare brought in dies before this node's proxy for generation 1 is even ready.
    assert.equal(b.state.state(), FmsState.Recovering);
    await b.reactor.propose([3], 'exit', false, 1);
    await until('told of generation 2', () => b.program.generations().includes(2));
    const r = await stored(b);
    assert.deepEqual([r.generation, r.members, r.spares, r.failed], [2, [0, 2], [], [1, 3]]);
    assert.deepEqual(sent(b, 'generation').at(-1), { type: 'generation', generation: 2, rank: 0, world: 2, members: [0, 2], slot: 0, spares: 0, spareNodes: [] });
    assert.deepEqual(sent(b, 'idle'), [
      { type: 'idle', generation: 0 },
      { type: 'idle', generation: 1 },
    ]);
    assert.deepEqual(b.ev.of('membership_updated').map((e) => e.generation), [1, 2]);
  });

  it('a terminal record stops the node; a proposal that finds the job failed reports nothing', async () => {
    const b = await bench(0);
    await failJob(b.store, JOB, 'program on node 2 exited with code 1', { deadline: Date.now() + 2000 });
    await until('stopped', () => b.state.state() === FmsState.Stopped);
    await b.reactor.propose([2], 'exit', false, 0);
    await turns();
    assert.deepEqual(b.ev.of('fms_error'), []);
  });
});

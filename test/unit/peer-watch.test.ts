import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { FakeClock } from '../../src/util/clock.js';
import type { Datagram, FaultCause } from '../../src/protocol/datagram.js';
import { FmsState } from '../../src/fms/fms.js';
import type { FmsHooks } from '../../src/fms/fms-shared.js';
import type { MembershipRecord } from '../../src/fms/membership.js';
import { fmsAddressKey, MAX_REJOINS, PeerWatch } from '../../src/fms/peer-watch.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { HEARTBEAT, Hub, recordEvents, stateHolder, testFmsConfig, turns, until } from '../helpers/fms-fakes.js';

/**
 * The peer watch alone, on node 0 of members 0, 1, 2 and the spare 3: the other FMSes are only
 * addresses in the memory store and inboxes on the in-memory datagram hub; the record is the
 * test's, and what the watch asks of the rest of the FMS (idle, propose) is recorded.
 */
const JOB = 'peer-watch-unit';
const NODE = 0;
const OTHERS = [1, 2, 3];

interface Proposal {
  failed: number[];
  cause: FaultCause;
  programFault: boolean;
  generation: number;
}

interface Bench {
  clock: FakeClock;
  store: MemoryStore;
  hub: Hub;
  watch: PeerWatch;
  record: MembershipRecord;
  /** Datagrams each other node received. */
  inbox: Map<number, Datagram[]>;
  idles: number[];
  proposals: Proposal[];
  rejoins: number[];
  ev: ReturnType<typeof recordEvents>;
  /** Events, idles and proposals in the order they happened. */
  log: string[];
  /** The stall each other node reports in its beats (ms), and our own (stall-meter.ts). */
  stalls: Map<number, number>;
  ownStallMs: number;
}

const benches: Bench[] = [];
afterEach(async () => {
  for (const b of benches.splice(0)) {
    b.watch.silence();
    await b.store.close();
  }
});

async function bench(health?: FmsHooks['health']): Promise<Bench> {
  const store = new MemoryStore();
  const hub = new Hub();
  const inbox = new Map<number, Datagram[]>();
  for (const n of OTHERS) {
    const got: Datagram[] = [];
    inbox.set(n, got);
    await store.put(fmsAddressKey(JOB, n), hub.endpoint(n, (d) => got.push(d)).address);
  }
  const state = stateHolder(FmsState.Running);
  const b: Bench = {
    clock: new FakeClock(1000),
    store,
    hub,
    inbox,
    idles: [],
    proposals: [],
    rejoins: [],
    record: { generation: 0, members: [0, 1, 2], spares: [3], failed: [], minNodes: 1, policy: 'replace', state: 'running' },
    ev: recordEvents(NODE),
    log: [],
    stalls: new Map(),
    ownStallMs: 0,
    watch: undefined as unknown as PeerWatch,
  };
  const endpoint = hub.endpoint(NODE, (d) => {
    if (d.type === 'heartbeat') b.watch.onHeartbeat(d.node, d.stall ?? 0);
    else if (d.type === 'fault') b.watch.onFaultNotice(d);
    else if (d.type !== 'program_heartbeat') b.watch.onProbeDatagram(d);
  });
  b.watch = new PeerWatch(testFmsConfig(JOB, NODE), b.clock, store, endpoint, health ? { health } : {}, {
    emit: (event, fields, ts) => {
      b.log.push(event);
      b.ev.emit(event, fields, ts);
    },
    state: state.state,
    stopping: () => false,
    stallMs: () => b.ownStallMs,
    record: () => b.record,
    idle: (generation) => {
      b.log.push('idle');
      b.idles.push(generation);
    },
    propose: (failed, cause, programFault, generation) => {
      b.log.push('propose');
      b.proposals.push({ failed, cause, programFault, generation });
      return Promise.resolve();
    },
    rejoin: (generation) => {
      b.log.push('rejoin');
      b.rejoins.push(generation);
      return Promise.resolve();
    },
  });
  benches.push(b);
  await b.watch.register();
  assert.equal((await store.get(fmsAddressKey(JOB, NODE)))?.value, 'mem-0:1');
  await b.watch.start();
  return b;
}

/**
 * Moves the clock in half heartbeats; every other node in `beating` sends its FMS heartbeat, and
 * our program's beat comes in at the end of each whole heartbeat unless `programBeats` is false.
 */
async function run(b: Bench, ms: number, beating: number[] = OTHERS, programBeats = true): Promise<void> {
  for (let t = 0; t < ms; t += HEARTBEAT / 2) {
    for (const n of beating) {
      const stall = b.stalls.get(n);
      b.hub.deliver(NODE, stall ? { type: 'heartbeat', node: n, stall } : { type: 'heartbeat', node: n });
    }
    b.clock.advance(HEARTBEAT / 2);
    if (programBeats && (t + HEARTBEAT / 2) % HEARTBEAT === 0) b.watch.programBeat();
    await turns(1);
  }
}

type Of<T extends Datagram['type']> = Extract<Datagram, { type: T }>;
const sent = <T extends Datagram['type']>(b: Bench, n: number, type: T): Of<T>[] => b.inbox.get(n)!.filter((d): d is Of<T> => d.type === type);

/** The helpers asked about `target` answer: each forwards an ack (the target answered them) or a nack. */
function answer(b: Bench, target: number, how: 'ack' | 'nack', helpers: number[] = OTHERS.filter((n) => n !== target)): number {
  let answered = 0;
  for (const h of helpers) {
    for (const r of sent(b, h, 'probe_request').filter((r) => r.target === target)) {
      b.hub.deliver(NODE, how === 'ack' ? { type: 'ack', node: target, from: NODE, seq: r.seq } : { type: 'nack', node: h, target, seq: r.seq });
      answered++;
    }
    b.inbox.get(h)!.splice(0);
  }
  return answered;
}

/** Runs until the watch suspects `target` (the others in `beating` beat meanwhile). */
async function untilSuspected(b: Bench, target: number, beating: number[], maxMs = 2000): Promise<void> {
  for (let t = 0; !b.ev.of('peer_suspected').some((e) => e.suspect === target); t += HEARTBEAT / 2) {
    assert.ok(t < maxMs, `node ${target} not suspected within ${maxMs} ms`);
    await run(b, HEARTBEAT / 2, beating);
  }
}

describe('peer watch (fake clock, memory store, in-memory datagrams)', () => {
  it('reports the phis about once a second, with a beat and on no timer of their own', async () => {
    const reports: { at: number; phis: Record<string, number> }[] = [];
    // The first report comes with the first beat, inside bench(), before its clock is ours.
    const at: { clock?: FakeClock } = {};
    const b = await bench((node, phis) => {
      assert.equal(node, NODE);
      reports.push({ at: at.clock?.now() ?? 1000, phis });
    });
    at.clock = b.clock;
    const timers = b.clock.pending;
    await run(b, 5_000);
    assert.ok(reports.length >= 5 && reports.length <= 6, `${reports.length} reports in 5 s`);
    for (let i = 1; i < reports.length; i++) assert.ok(reports[i]!.at - reports[i - 1]!.at >= 1000 - HEARTBEAT / 2);
    assert.deepEqual(Object.keys(reports.at(-1)!.phis).sort(), ['1', '2', '3']);
    assert.ok(b.clock.pending <= timers, 'no timer added for the reports');
  });

  it('beats with its program: in the wake-up of each program beat, and on a timer 1.25 intervals apart only while the program is away', async () => {
    const b = await bench();
    const beats = (): number => b.inbox.get(1)!.filter((d) => d.type === 'heartbeat' && d.node === NODE).length;
    await run(b, 10 * HEARTBEAT);
    assert.equal(beats(), 11, 'one at start, then one with each program beat, none of the timer');
    // The program stops beating (stopped, restarting): the timer stands in, every 1.25 intervals.
    const before = beats();
    await run(b, 10 * HEARTBEAT, OTHERS, false);
    assert.equal(beats() - before, 8);
    // A burst of program beats (its thread late, then caught up) sends one beat, not a burst.
    const burst = beats();
    for (let i = 0; i < 5; i++) b.watch.programBeat();
    assert.ok(beats() - burst <= 1);
    assert.deepEqual(b.ev.of('fault_detected'), []);
  });

  it('beats to every other FMS each heartbeat, and to none the record counts failed', async () => {
    const b = await bench();
    await run(b, 3 * HEARTBEAT);
    const beats = (n: number): number => b.inbox.get(n)!.filter((d) => d.type === 'heartbeat' && d.node === NODE).length;
    assert.deepEqual(OTHERS.map(beats), [4, 4, 4], 'one at start, then one per heartbeat');
    b.record = { ...b.record, generation: 1, members: [0, 3, 2], spares: [], failed: [1], slots: { '3': 1 } };
    b.watch.forget([1]);
    await run(b, 3 * HEARTBEAT, [2, 3]);
    assert.deepEqual(OTHERS.map(beats), [4, 7, 7]);
    assert.deepEqual(b.ev.of('fault_detected'), [], 'a node already failed is no longer judged');
  });

  it('a silent peer is only suspected; probed directly and through the others, their nacks confirm it: declared once, idled, proposed', async () => {
    const b = await bench();
    await run(b, 500);
    assert.deepEqual(b.ev.of('peer_suspected'), [], 'no suspicion while every node beats');
    await untilSuspected(b, 2, [1, 3]);
    assert.deepEqual(b.ev.of('fault_detected'), [], 'a suspicion is not a fault');
    assert.equal(sent(b, 2, 'probe').length, 1, 'the suspect itself is probed');
    assert.deepEqual([1, 3].map((n) => sent(b, n, 'probe_request').map((r) => r.target)), [[2], [2]], 'and the others are asked to probe it');
    assert.equal(answer(b, 2, 'nack'), 2);
    await run(b, 300, [1, 3]);
    const detected = b.ev.of('fault_detected');
    assert.deepEqual(
      detected.map((e) => [e.by, e.failed, e.cause, e.generation]),
      [[NODE, [2], 'heartbeat', 0]],
    );
    assert.match(detected[0]!.detail as string, /FMS of node 2 silent for \d+ ms .*no answer to a probe, nor through 2 of 2 other node\(s\)/);
    // Node 0 is the lowest live node: it is the coordinator and writes the record itself.
    assert.deepEqual(b.ev.of('fault_notified').map((e) => [e.failed, e.to]), [[[2], []]]);
    assert.deepEqual(sent(b, 1, 'fault'), [], 'no fault notice to every node');
    assert.deepEqual(b.idles, [0]);
    assert.deepEqual(b.proposals, [{ failed: [2], cause: 'heartbeat', programFault: false, generation: 0 }]);
    assert.deepEqual(b.log, ['peer_suspected', 'fault_detected', 'idle', 'fault_notified', 'propose']);
  });

  it('a suspect that answers through a helper (a lossy link of ours) is cleared, judged again, and our health gets worse', async () => {
    const b = await bench();
    await run(b, 500);
    await untilSuspected(b, 2, [1, 3]);
    assert.equal(b.watch.healthScore, 0);
    assert.ok(answer(b, 2, 'ack', [1]) >= 1);
    await run(b, 400, [1, 3]);
    assert.deepEqual(b.ev.of('peer_cleared').map((e) => [e.suspect, e.how]), [[2, 'ack']]);
    assert.deepEqual(b.ev.of('fault_detected'), []);
    assert.deepEqual(b.proposals, []);
    assert.ok(b.watch.healthScore >= 1, 'a refuted suspicion counts against ourselves');
    // Judged again, with its beats heard: no new suspicion while it beats.
    const n = b.ev.of('peer_suspected').length;
    await run(b, 1000);
    assert.equal(b.ev.of('peer_suspected').length, n);
  });

  it('a cut-off observer (nobody answers its probes) accuses nobody: rounds tried again with longer timeouts, then dropped', async () => {
    const b = await bench();
    await run(b, 500);
    // We hear nobody, and nobody answers us.
    await untilSuspected(b, 1, [], 3000);
    await run(b, 10_000, [], true);
    assert.deepEqual(b.ev.of('fault_detected'), [], 'no answer from anyone is no evidence against them');
    assert.deepEqual(b.proposals, []);
    assert.ok(b.ev.of('peer_cleared').some((e) => e.how === 'unresolved'));
    assert.ok(b.watch.healthScore >= 3, `health score ${b.watch.healthScore}`);
  });

  it('a report from another FMS: the coordinator idles its program and proposes once for the reports gathered in its window', async () => {
    const b = await bench();
    await run(b, 300);
    b.hub.deliver(NODE, { type: 'fault', by: 1, failed: [2], cause: 'heartbeat', generation: 0 });
    b.hub.deliver(NODE, { type: 'fault', by: 3, failed: [2], cause: 'heartbeat', generation: 0 });
    assert.ok(b.idles.length > 0 && b.idles.every((g) => g === 0), 'idled at once on the report');
    b.clock.advance(5);
    b.hub.deliver(NODE, { type: 'fault', by: 2, failed: [1], cause: 'connection', generation: 0 });
    b.clock.advance(HEARTBEAT / 2);
    assert.deepEqual(b.proposals, [{ failed: [2, 1], cause: 'heartbeat', programFault: false, generation: 0 }], 'one proposal for both');
    assert.deepEqual(b.ev.of('fault_detected'), [], 'not declared again here');
  });

  it("a report of a node's own program fault proposes it as that; none once the record has it", async () => {
    const b = await bench();
    b.watch.onFaultNotice({ type: 'fault', by: 2, failed: [2], cause: 'exit', generation: 0 });
    b.clock.advance(HEARTBEAT / 2);
    assert.deepEqual(b.proposals, [{ failed: [2], cause: 'exit', programFault: true, generation: 0 }]);
    b.record = { ...b.record, generation: 1, members: [0, 3, 1], spares: [], failed: [2], slots: { '3': 2 } };
    b.watch.forget([2]);
    b.watch.onFaultNotice({ type: 'fault', by: 1, failed: [2], cause: 'heartbeat', generation: 0 });
    b.clock.advance(HEARTBEAT);
    assert.equal(b.proposals.length, 1, 'a report the record has already dealt with is dropped');
  });

  it('a proxy_broken suspects the peer only after one heartbeat interval, and it is confirmed as any other', async () => {
    const b = await bench();
    await run(b, 300);
    b.watch.onProxyBroken(0, { failedRanks: [1], message: 'connection reset by rank 1' });
    assert.deepEqual(b.ev.of('proxy_broken').map((e) => [e.generation, e.failed, e.message]), [[0, [1], 'connection reset by rank 1']]);
    assert.deepEqual(b.idles, [0], 'idled at once');
    b.clock.advance(HEARTBEAT - 1);
    await turns();
    assert.deepEqual(b.log, ['proxy_broken', 'idle'], "node 1's own FMS is given a heartbeat to report");
    b.clock.advance(1);
    await until('the peer suspected', () => b.ev.of('peer_suspected').length > 0);
    assert.deepEqual(b.ev.of('peer_suspected').map((e) => [e.suspect, e.cause]), [[1, 'connection']]);
    answer(b, 1, 'nack');
    b.clock.advance(300);
    assert.deepEqual(
      b.ev.of('fault_detected').map((e) => [e.by, e.failed, e.cause]),
      [[NODE, [1], 'connection']],
    );
    assert.match(b.ev.of('fault_detected')[0]!.detail as string, /^connection reset by rank 1; no answer/);
    assert.deepEqual(b.proposals, [{ failed: [1], cause: 'connection', programFault: false, generation: 0 }]);
  });

  it('a proxy_broken whose peer answers evicts nobody: the same members are asked for in a new generation', async () => {
    const b = await bench();
    await run(b, 300);
    b.watch.onProxyBroken(0, { missingRanks: [2], message: 'handshake with rank 2 did not finish by the deadline' });
    b.clock.advance(HEARTBEAT);
    await until('the peer suspected', () => b.ev.of('peer_suspected').length > 0);
    answer(b, 2, 'ack', [1]);
    await run(b, 300);
    assert.deepEqual(b.ev.of('fault_detected'), []);
    assert.deepEqual(b.proposals, []);
    assert.deepEqual(b.rejoins, [0]);
  });

  it(`a peer that answers but is blamed for a broken communicator ${MAX_REJOINS} generations running is a fault; blamed with a gap between, it is not`, async () => {
    const blame = async (b: Awaited<ReturnType<typeof bench>>, generation: number): Promise<void> => {
      const before = b.ev.of('peer_suspected').length;
      b.record = { ...b.record, generation };
      b.watch.onProxyBroken(generation, { missingRanks: [2], message: 'node(s) 2 never published a listening address' });
      b.clock.advance(HEARTBEAT);
      await until(`the peer suspected in generation ${generation}`, () => b.ev.of('peer_suspected').length > before);
      answer(b, 2, 'ack', [1]);
      await run(b, 300);
    };
    const b = await bench();
    await run(b, 300);
    for (let g = 0; g < MAX_REJOINS - 1; g++) await blame(b, g);
    assert.deepEqual(b.rejoins, Array.from({ length: MAX_REJOINS - 1 }, (_, g) => g));
    assert.deepEqual(b.ev.of('fault_detected'), []);
    await blame(b, MAX_REJOINS - 1);
    assert.deepEqual(b.rejoins.length, MAX_REJOINS - 1, 'not renewed again');
    assert.deepEqual(b.ev.of('fault_detected').map((e) => [e.failed, e.cause]), [[[2], 'connection']]);
    assert.match(String(b.ev.of('fault_detected')[0]!.detail), new RegExp(`node 2 answers its probes, but the communicator broke on it ${MAX_REJOINS} generations running: node\\(s\\) 2 never published`));

    // A generation in between that did not blame it starts the count again.
    const c = await bench();
    await run(c, 300);
    for (let g = 0; g < MAX_REJOINS - 1; g++) await blame(c, g);
    await blame(c, MAX_REJOINS);
    assert.deepEqual(c.ev.of('fault_detected'), []);
    assert.equal(c.rejoins.length, MAX_REJOINS);
  });

  it('a proxy_broken does not blame a peer that finished (its done key), nor one the record replaced meanwhile', async () => {
    const b = await bench();
    await b.store.put(`rollcall/${JOB}/done/2`, '4242');
    b.watch.onProxyBroken(0, { failedRanks: [1, 2], message: 'closed' });
    b.clock.advance(HEARTBEAT);
    await until('the unfinished peer suspected', () => b.ev.of('peer_suspected').length > 0);
    await turns();
    assert.deepEqual(b.ev.of('peer_suspected').map((e) => e.suspect), [1], 'node 2 finished: its closing links are no fault');

    const c = await bench();
    c.watch.onProxyBroken(0, { missingRanks: [2], message: 'rendezvous' });
    c.record = { ...c.record, generation: 1, members: [0, 1, 3], spares: [], failed: [2], slots: { '3': 2 } };
    c.clock.advance(HEARTBEAT);
    await turns();
    assert.deepEqual(c.ev.of('peer_suspected'), [], 'a newer generation already dealt with it');
  });
  it('a peer that says it could not run for half a second lately is allowed twice that more silence; one that did not say so, the usual', async () => {
    const silentFor = async (stall: number): Promise<{ at: number; detail: string }> => {
      const b = await bench();
      if (stall > 0) b.stalls.set(2, stall);
      await run(b, 2000);
      const from = b.clock.now();
      await untilSuspected(b, 2, [1, 3], 6000);
      const e = b.ev.of('peer_suspected').find((x) => x.suspect === 2)!;
      return { at: b.clock.now() - from, detail: String(e.detail) };
    };
    const usual = await silentFor(0);
    const stalled = await silentFor(500);
    assert.ok(usual.at <= testFmsConfig(JOB, NODE).faultTimeoutMs + HEARTBEAT, `suspected ${usual.at} ms into the silence`);
    assert.ok(stalled.at >= usual.at + 1000 - HEARTBEAT && stalled.at <= usual.at + 1000 + HEARTBEAT, `${stalled.at} ms against ${usual.at} ms`);
    assert.match(stalled.detail, /1000 ms more allowed for its own recent stalls/);
    assert.doesNotMatch(usual.detail, /allowed/);
    // The allowance is bounded: a dead node's last word cannot hide it for long.
    const capped = await silentFor(60_000);
    assert.ok(capped.at <= usual.at + 5 * testFmsConfig(JOB, NODE).faultTimeoutMs + HEARTBEAT, `${capped.at} ms`);
  });

  it('its beats say how long this FMS itself could not run lately, in 100 ms steps, and nothing when it ran on time', async () => {
    const b = await bench();
    b.ownStallMs = 437;
    await run(b, 2 * HEARTBEAT);
    const last = (): Datagram | undefined => b.inbox.get(1)!.filter((d) => d.type === 'heartbeat').at(-1);
    assert.deepEqual(last(), { type: 'heartbeat', node: NODE, stall: 500 });
    b.ownStallMs = 40;
    await run(b, 2 * HEARTBEAT);
    assert.deepEqual(last(), { type: 'heartbeat', node: NODE });
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthError, InvalidArgumentError, ProtocolError } from '../../src/errors.js';
import { cachingDecoder, cachingEncoder, decodeDatagram, encodeDatagram, type Datagram } from '../../src/protocol/datagram.js';
import { openDatagramEndpoint } from '../../src/fms/datagram-endpoint.js';
import { failedMembership, nextMembership, restartMembership, type MembershipRecord } from '../../src/fms/membership.js';
import { resolveLaunchOptions, timingWarnings } from '../../src/launch/launch-options.js';
import { RecoveryTracker, describeRecovery, silenceOf } from '../../src/launch/recovery-tracker.js';
import { logEvent, type LogEvent } from '../../src/protocol/events.js';

const record = (over: Partial<MembershipRecord> = {}): MembershipRecord => ({
  generation: 0,
  members: [0, 1, 2],
  spares: [3],
  failed: [],
  minNodes: 1,
  policy: 'replace',
  state: 'running',
  ...over,
});

describe('FMS datagrams', () => {
  const fault: Datagram = { type: 'fault', by: 1, failed: [2], cause: 'exit', generation: 4 };

  it('round-trips every kind', () => {
    for (const d of [fault, { type: 'heartbeat', node: 3 }, { type: 'program_heartbeat', node: 0, pid: 42 }] satisfies Datagram[]) {
      assert.deepEqual(decodeDatagram('j', 's', encodeDatagram('j', 's', d)), d);
    }
  });

  it('refuses a datagram without the secret, or from another job', () => {
    assert.throws(() => decodeDatagram('j', 's', encodeDatagram('j', 'other', fault)), AuthError);
    assert.throws(() => decodeDatagram('j', 's', encodeDatagram('k', 's', fault)), AuthError);
    const tampered = Buffer.from(encodeDatagram('j', 's', fault).toString().replace('"failed":[2]', '"failed":[0]'));
    assert.throws(() => decodeDatagram('j', 's', tampered), AuthError);
  });

  it('names what is wrong with a malformed datagram', () => {
    assert.throws(() => decodeDatagram('j', 's', Buffer.from('hello')), /no HMAC header/);
    assert.throws(() => decodeDatagram('j', 's', Buffer.alloc(5000)), /exceeds/);
    // Correctly signed bad bodies, so the check that fails is the schema, not the HMAC.
    const bad = (body: string): Buffer => encodeDatagram('j', 's', JSON.parse(body) as Datagram);
    assert.throws(() => decodeDatagram('j', 's', bad('{"type":"fault","by":1,"failed":[],"cause":"exit","generation":0}')), ProtocolError);
    assert.throws(() => decodeDatagram('j', 's', bad('{"type":"heartbeat","node":-1}')), ProtocolError);
    assert.throws(() => decodeDatagram('j', 's', bad('{"type":"gossip"}')), ProtocolError);
  });

  it('caches verified heartbeats only: a repeat is not verified again, anything else is', () => {
    const decode = cachingDecoder('j', 's');
    const encode = cachingEncoder('j', 's');
    const hb: Datagram = { type: 'heartbeat', node: 3 };
    assert.equal(encode(hb), encode(hb), 'signed once');
    assert.notEqual(encode(fault), encode(fault), 'a fault is signed every time');
    const first = decode(encode(hb));
    assert.deepEqual(first, hb);
    assert.equal(decode(Buffer.from(encode(hb))), first, 'the same bytes: the verified datagram');
    // Other bytes take the whole path, however close to a cached packet.
    const forged = Buffer.from(encode(hb).toString().replace('"node":3', '"node":4'));
    assert.throws(() => decode(forged), AuthError);
    assert.throws(() => decode(encodeDatagram('j', 'other', hb)), AuthError);
    // Faults are never cached (each is verified), and the cache stays bounded.
    assert.deepEqual(decode(encode(fault)), fault);
    for (let node = 0; node < 100; node++) assert.deepEqual(decode(encode({ type: 'heartbeat', node })), { type: 'heartbeat', node });
    assert.deepEqual(decode(encode(hb)), hb);
  });

  it('an endpoint delivers good datagrams and reports bad ones without throwing', async () => {
    const got: Datagram[] = [];
    const bad: Error[] = [];
    let arrived!: () => void;
    const both = new Promise<void>((r) => (arrived = r));
    const a = await openDatagramEndpoint({
      job: 'j',
      secret: 's',
      onDatagram: (d) => {
        got.push(d);
        if (bad.length > 0) arrived();
      },
      onBad: (e) => bad.push(e),
    });
    const stranger = await openDatagramEndpoint({ job: 'j', secret: 'wrong', onDatagram: () => undefined });
    const b = await openDatagramEndpoint({ job: 'j', secret: 's', onDatagram: () => undefined });
    stranger.send(a.address, { type: 'heartbeat', node: 9 });
    // Loopback UDP keeps order between one pair of sockets, but not across two senders.
    await new Promise((r) => setTimeout(r, 50));
    b.send(a.address, { type: 'heartbeat', node: 1 });
    // Endpoints are unref'd (they must never keep an FMS alive); this deadline keeps the test alive.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([both, new Promise((_, rej) => (timer = setTimeout(() => rej(new Error('no datagram within 5 s')), 5000)))]);
    clearTimeout(timer);
    assert.deepEqual(got, [{ type: 'heartbeat', node: 1 }]);
    assert.ok(bad[0] instanceof AuthError);
    for (const e of [a, b, stranger]) e.close();
  });
});

describe('launch options', () => {
  const cmd = ['node', 'x.js'];

  it('fills defaults: replace with spares, shrink without, fault timeout 3 heartbeats', () => {
    const o = resolveLaunchOptions({ nodes: 4, spares: 1, command: cmd });
    assert.equal(o.policy, 'replace');
    assert.equal(o.heartbeatMs, 200);
    assert.equal(o.faultTimeoutMs, 600);
    // Replace mode never shrinks unless asked: the job keeps its size or fails.
    assert.equal(o.minNodes, 4);
    assert.equal(resolveLaunchOptions({ nodes: 4, spares: 1, minNodes: 2, command: cmd }).minNodes, 2);
    assert.equal(resolveLaunchOptions({ nodes: 4, spares: 1, onFault: 'shrink', command: cmd }).minNodes, 1);
    assert.equal(resolveLaunchOptions({ nodes: 2, command: cmd }).policy, 'shrink');
    assert.equal(resolveLaunchOptions({ nodes: 2, command: cmd }).minNodes, 1);
    assert.deepEqual(resolveLaunchOptions({ nodes: 2, chaos: 'kill:node=1@step=3', command: cmd }).chaos[0]?.trigger, { step: 3 });
    // State tiers and the proxy: the figures in docs/benchmarks.md were measured with these.
    assert.equal(o.keep, 3);
    assert.equal(o.replicateEvery, undefined, 'chosen from the step time');
    assert.equal(o.replicateMs, 250);
    assert.equal(resolveLaunchOptions({ nodes: 2, replicateEvery: 10, command: cmd }).replicateEvery, 10);
    assert.equal(o.persistEvery, undefined, 'every 10th replicated version');
    assert.equal(o.proxy, 'inline');
  });

  for (const [input, message] of [
    [{ nodes: 0 }, /--nodes/],
    [{ nodes: 2, minNodes: 3 }, /--min-nodes 3 is more than --nodes 2/],
    [{ nodes: 2, onFault: 'replace' }, /--on-fault replace needs at least one spare/],
    [{ nodes: 2, onFault: 'explode' }, /--on-fault/],
    [{ nodes: 2, heartbeatMs: 100, faultTimeoutMs: 150 }, /at least twice --heartbeat-ms/],
    [{ nodes: 2, command: [] }, /no program command given/],
    [{ nodes: 2, chaos: 'kill:node=5@step=3' }, /names node 5, but the job has nodes 0..1/],
    [{ nodes: 2, chaos: 'boom' }, /chaos action "boom"/],
    [{ nodes: 2, job: 'a/b' }, /--job/],
    [{ nodes: 2, proxy: 'process' }, /--proxy: use inline or thread/],
    [{ nodes: 2, replicateEvery: 0 }, /--replicate-every/],
    [{ nodes: 2, replicateMs: 0 }, /--replicate-ms/],
    [{ nodes: 2, replicateEvery: 10, replicateMs: 100 }, /give one/],
    [{ nodes: 2, heartbeatMs: 20 }, /--heartbeat-ms must be at least 50: shorter beats are declared failed by any stall of a busy host/],
  ] as const) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(() => resolveLaunchOptions({ command: cmd, ...input } as Parameters<typeof resolveLaunchOptions>[0]), (e: unknown) => e instanceof InvalidArgumentError && message.test(e.message));
    });
  }
});

describe('timings a busy host cannot honour', () => {
  const cmd = ['node', 'p.js'];
  it('warns under 100 ms heartbeats or a 300 ms fault timeout, and says nothing at the defaults', () => {
    assert.deepEqual(timingWarnings(resolveLaunchOptions({ nodes: 2, command: cmd })), []);
    assert.deepEqual(timingWarnings(resolveLaunchOptions({ nodes: 2, heartbeatMs: 100, command: cmd })), []);
    const [w] = timingWarnings(resolveLaunchOptions({ nodes: 2, heartbeatMs: 50, command: cmd }));
    assert.match(w ?? '', /--heartbeat-ms 50 with a fault timeout of 150 ms: a busy host .* declared failed/);
    assert.equal(timingWarnings(resolveLaunchOptions({ nodes: 2, heartbeatMs: 100, faultTimeoutMs: 200, command: cmd })).length, 1);
  });
});

describe('membership rules for restart and failure', () => {
  it('restart keeps the members in a new generation, once per observed generation', () => {
    const r = record({ policy: 'restart', generation: 2 });
    const t = restartMembership(r, 2);
    assert.equal(t.bumped, true);
    assert.deepEqual(t.record, { ...r, generation: 3 });
    assert.equal(restartMembership(t.record, 2).write, false, 'a second proposer of the same restart changes nothing');
  });

  it('a lost node under restart is replaced by a spare, as under replace', () => {
    const t = nextMembership(record({ policy: 'restart' }), [1]);
    assert.deepEqual(t.record.members, [0, 3, 2]);
  });

  it('failing a job writes a terminal record once', () => {
    const t = failedMembership(record(), 'program bug');
    assert.equal(t.record.state, 'failed');
    assert.equal(t.record.reason, 'program bug');
    assert.equal(failedMembership(t.record, 'again').write, false);
  });
});

describe('recovery tracker', () => {
  // Events as the FMSes write them.
  const detected = (ts: number, generation: number, failed: number): LogEvent => logEvent('fault_detected', { node: failed, by: failed, failed: [failed], cause: 'exit', generation, detail: 'killed' }, ts);
  const resumed = (ts: number, node: number, generation: number): LogEvent => logEvent('program_resumed', { node, generation, pid: 100 + node }, ts);

  it('measures from the injection to the last member resuming in the new generation', () => {
    const t = new RecoveryTracker();
    const g1 = record({ generation: 1, members: [0, 3, 2], spares: [], failed: [1] });
    t.injected(1000, 0);
    assert.equal(t.observe(detected(1010, 0, 1), record()), undefined);
    assert.equal(t.observe(resumed(1050, 0, 1), g1), undefined);
    assert.equal(t.observe(resumed(1070, 3, 1), g1), undefined);
    const rec = t.observe(resumed(1060, 2, 1), g1);
    assert.deepEqual(rec, { generation: 1, ms: 70, from: 'fault_injected', faultTs: 1000, detectionMs: 10, cause: 'exit' });
    assert.equal(describeRecovery(rec!), 'recovered: generation 1 running 70 ms after the fault was injected (detected 10 ms after it)');
    assert.equal(t.check(g1), undefined, 'closed once');
  });

  it('a second fault during the recovery lengthens it', () => {
    const t = new RecoveryTracker();
    const g1 = record({ generation: 1, members: [0, 3, 2], spares: [4], failed: [1] });
    const g2 = record({ generation: 2, members: [0, 4, 2], spares: [], failed: [1, 3] });
    t.observe(detected(500, 0, 1), record());
    t.observe(resumed(550, 0, 1), g1);
    t.observe(detected(560, 1, 3), g1);
    assert.equal(t.observe(resumed(570, 2, 1), g2), undefined);
    for (const n of [0, 2]) t.observe(resumed(600, n, 2), g2);
    const rec = t.observe(resumed(640, 4, 2), g2);
    assert.deepEqual(rec, { generation: 2, ms: 140, from: 'fault_detected', faultTs: 500, detectionMs: null, cause: 'exit' });
    assert.equal(describeRecovery(rec!), 'recovered: generation 2 running 140 ms after the fault (exit: seen as it happened)');
  });

  it('a silence from outside (a SIGSTOP nobody injected) counts from the last sign of life, the detection apart', () => {
    const t = new RecoveryTracker();
    const g1 = record({ generation: 1, members: [0, 3, 2], spares: [], failed: [1] });
    t.observe(logEvent('fault_detected', { node: 1, by: 1, failed: [1], cause: 'heartbeat', generation: 0, detail: 'program pid 7 silent for 600 ms' }, 5600), record());
    for (const n of [0, 3]) t.observe(resumed(5650, n, 1), g1);
    const rec = t.observe(resumed(5655, 2, 1), g1);
    assert.deepEqual(rec, { generation: 1, ms: 655, from: 'last_sign_of_life', faultTs: 5000, detectionMs: 600, cause: 'heartbeat' });
    assert.equal(describeRecovery(rec!), "recovered: generation 1 running 655 ms after the last sign of life (the fault's heartbeat silence detected 600 ms after it)");
    assert.equal(silenceOf('FMS of node 2 silent for 31 ms (max_silence)'), 31);
    assert.equal(silenceOf('no heartbeat'), undefined);
  });
});

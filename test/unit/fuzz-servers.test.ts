import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeHeader, EMPTY_HEADER, FrameType, padOf } from '../../src/comm/frame.js';
import { TcpTransport } from '../../src/comm/tcp-transport.js';
import { RollcallError } from '../../src/errors.js';
import { openDatagramEndpoint } from '../../src/fms/datagram-endpoint.js';
import { ProgramProcess } from '../../src/fms/program-process.js';
import { newNonce } from '../../src/protocol/challenge.js';
import { encodeDatagram, type Datagram } from '../../src/protocol/datagram.js';
import { frame, keeperMac, MessageReader } from '../../src/protocol/keeper-wire.js';
import type { FromProgram } from '../../src/protocol/program-ipc.js';
import { KeeperClient } from '../../src/state/keeper-client.js';
import { connectStore } from '../../src/store/tcp-store-client.js';
import { startStoreServer } from '../../src/store/tcp-store-server.js';
import { bytes, fuzzParams, FUZZ_SEED, mutated } from '../helpers/fuzz.js';
import { startTestKeeper } from '../helpers/keeper.js';
import { closeAll, makeGroup } from '../helpers/group.js';

/**
 * The servers that read from the network or another process, fed random and mutated bytes by
 * fast-check (fuzz-decoders.test.ts fuzzes their decoders alone): after every case the server
 * still serves a good peer, and what it reports about the bad one is a typed error. A crash
 * (an uncaught exception in a socket handler) fails the test process; a hang times it out.
 */
const cleanup: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Dials, writes `data`, and ends once the server closes the connection or `ms` pass. */
function hurl(address: string, data: Uint8Array[], ms = 30, onData?: (d: Buffer, s: Socket) => void): Promise<void> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const sock = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) });
    const done = (): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve();
    };
    const timer = setTimeout(done, ms);
    sock.on('connect', () => {
      for (const d of data) sock.write(d);
    });
    if (onData) sock.on('data', (d: Buffer) => onData(d, sock));
    sock.on('error', () => undefined);
    sock.on('close', done);
  });
}

describe('fuzz: servers go on serving their good peers', { timeout: 60_000 }, () => {
  it('the keeper: random and mutated bytes before and after authentication', async () => {
    const JOB = 'fuzz-keeper';
    const SECRET = 'fuzz-keeper-secret-0123456789';
    const { core, out, address: at } = await startTestKeeper(JOB, SECRET);
    cleanup.push(() => core.close());
    const good = new KeeperClient(at, JOB, SECRET);
    cleanup.push(() => good.close());

    const hello = fc.record({ op: fc.constant('hello'), job: fc.constantFrom(JOB, 'other'), nonce: fc.constantFrom(newNonce(), 'zz') }).map((h) => Uint8Array.from(Buffer.concat(frame(h))));
    // After a real handshake: requests with any head and body (the ops the keeper knows, and others).
    const request = fc
      .tuple(
        fc.record({ op: fc.constantFrom('list', 'get', 'get_any', 'push', 'push_data', 'nope'), slot: fc.jsonValue({ maxDepth: 1 }), version: fc.jsonValue({ maxDepth: 1 }), meta: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: ['op'] }),
        fc.uint8Array({ maxLength: 64 }),
      )
      .map(([h, b]) => Uint8Array.from(Buffer.concat(frame(h, b))));
    await fc.assert(
      fc.asyncProperty(fc.oneof(bytes(), mutated(hello)), fc.oneof(bytes(), request, mutated(request)), async (pre, post) => {
        await hurl(at, [pre]);
        // Authenticate for real, then send the fuzzed bytes.
        const nonce = newNonce();
        const reader = new MessageReader();
        await hurl(at, [Buffer.concat(frame({ op: 'hello', job: JOB, nonce }))], 60, (d, sock) =>
          reader.push(d, (m) => {
            if (m.head.op !== 'challenge') return;
            for (const b of frame({ op: 'auth', mac: keeperMac(SECRET, 'dialer', JOB, nonce, String(m.head.nonce)) })) sock.write(b);
            sock.write(post);
          }),
        );
        const r = await good.request({ op: 'list', slot: 0 }, undefined, 3000);
        assert.deepEqual(r.head, { versions: [] });
      }),
      fuzzParams(40),
    );
    // All the keeper said of the bad peers is auth_refused, never an error of its own.
    assert.deepEqual([...new Set(out.filter((m) => m.type !== 'ready').map((m) => (m.type === 'event' ? m.event : m.type)))].filter((e) => e !== 'auth_refused'), []);
  });

  it('the embedded store server: random and mutated request lines', async () => {
    const SECRET = 'fuzz-store-secret-0123456789';
    const server = await startStoreServer({ secret: SECRET });
    cleanup.push(() => server.close());
    const good = await connectStore(server.address, { secret: SECRET });
    cleanup.push(() => good.close());
    const line = fc
      .record({ id: fc.oneof(fc.nat(), fc.jsonValue({ maxDepth: 1 })), op: fc.constantFrom('auth', 'get', 'put', 'cas', 'watch', 'grant', 'keepAlive', 'x'), key: fc.string(), value: fc.string(), ttlMs: fc.integer(), token: fc.string() }, { requiredKeys: ['op'] })
      .map((r) => Uint8Array.from(Buffer.from(`${JSON.stringify(r)}\n`)));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(bytes(), line, mutated(line)), async (data) => {
        await hurl(server.address, [data]);
        n += 1;
        await good.put('fuzz/k', String(n));
        assert.equal((await good.get('fuzz/k'))?.value, String(n));
      }),
      fuzzParams(60),
    );
    // A peer arriving after all that is served too.
    const late = await connectStore(server.address, { secret: SECRET });
    assert.equal((await late.get('fuzz/k'))?.value, String(n));
    await late.close();
  });

  it('a communicator: strangers dialling its listener with random and mutated frames', async () => {
    const { comms, store } = await makeGroup(2, { transport: new TcpTransport(), tuning: { timeoutMs: 5000 } });
    cleanup.push(() => closeAll(comms));
    const addrs = (await store.list('rollcall/')).kvs.map((kv) => kv.value).filter((v) => /:\d+$/.test(v));
    assert.ok(addrs.length > 0, 'the ranks published their addresses');
    const frames = fc
      .tuple(fc.integer({ min: FrameType.Hello, max: FrameType.Bye }), fc.uint8Array({ maxLength: 200 }))
      .map(([type, payload]) => Uint8Array.from([...encodeHeader({ ...EMPTY_HEADER, type, length: payload.byteLength }), ...payload, ...new Uint8Array(padOf(payload.byteLength))]));
    const helloJson = fc
      .record({ job: fc.string(), generation: fc.nat(), from: fc.nat(), to: fc.nat(), world: fc.nat(), nonce: fc.string() })
      .map((h) => {
        const p = Buffer.from(JSON.stringify(h));
        return Uint8Array.from([...encodeHeader({ ...EMPTY_HEADER, type: FrameType.Hello, length: p.byteLength }), ...p, ...new Uint8Array(padOf(p.byteLength))]);
      });
    let step = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(bytes(), frames, mutated(frames), helloJson), fc.constantFrom(...addrs), async (data, to) => {
        await hurl(to, [data]);
        step += 1;
        const bufs = comms.map((_, r) => new Float32Array([r + step, 1]));
        await Promise.all(comms.map((c, r) => c.allreduce(bufs[r]!)));
        for (const b of bufs) assert.deepEqual([...b], [2 * step + 1, 2]);
      }),
      fuzzParams(40),
    );
  });

  it("an FMS's datagram endpoint: random and mutated datagrams; its good heartbeats still arrive", async () => {
    const JOB = 'fuzz-fms';
    const SECRET = 'fuzz-fms-secret-0123456789';
    const bad: Error[] = [];
    const heard: Datagram[] = [];
    let wake: () => void = () => undefined;
    const ep = await openDatagramEndpoint({
      job: JOB,
      secret: SECRET,
      onDatagram: (d) => {
        heard.push(d);
        wake();
      },
      onBad: (e) => bad.push(e),
    });
    cleanup.push(() => ep.close());
    const sender = createSocket('udp4');
    cleanup.push(() => sender.close());
    const port = Number(ep.address.slice(ep.address.lastIndexOf(':') + 1));
    const send = (b: Uint8Array): Promise<void> => new Promise((r) => sender.send(b, port, '127.0.0.1', () => r()));
    const valid = fc.nat({ max: 1000 }).map((node) => Uint8Array.from(encodeDatagram(JOB, SECRET, { type: 'fault', by: node, failed: [node + 1], cause: 'exit', generation: 1 })));
    let node = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(bytes(1400), mutated(valid)), async (data) => {
        await send(data);
        node += 1;
        // Woken by each datagram heard; done once this case's heartbeat is among them.
        const arrived = new Promise<void>((r) => (wake = () => heard.some((d) => d.type === 'heartbeat' && d.node === node) && r()));
        await send(encodeDatagram(JOB, SECRET, { type: 'heartbeat', node }));
        let t: NodeJS.Timeout | undefined;
        await Promise.race([arrived, new Promise((_, reject) => (t = setTimeout(() => reject(new Error(`heartbeat ${node} did not arrive`)), 2000)))]);
        clearTimeout(t);
      }),
      fuzzParams(60),
    );
    for (const e of bad) assert.ok(e instanceof RollcallError, `onBad got ${e.constructor.name}: ${e.message}`);
  });

  it("a program's IPC messages: each valid one delivered, every other refused, and the FMS side goes on", async () => {
    // Messages drawn once from the fixed seed, sent by a real child process over a real channel.
    const from = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record({ type: fc.constantFrom('hello', 'progress', 'event', 'result', 'compute', 'fault', 'job_failed'), step: fc.jsonValue({ maxDepth: 1 }), event: fc.string(), fields: fc.jsonValue({ maxDepth: 2 }), value: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: ['type'] }),
      fc.constant({ type: 'progress', step: 5 }),
    );
    const messages = fc.sample(from, { seed: FUZZ_SEED, numRuns: fuzzParams(150).numRuns! });
    const dir = mkdtempSync(join(tmpdir(), 'rollcall-fuzz-ipc-'));
    writeFileSync(join(dir, 'messages.json'), JSON.stringify(messages));
    writeFileSync(
      join(dir, 'program.mjs'),
      `import { readFileSync } from 'node:fs';
const ms = JSON.parse(readFileSync(process.env.FUZZ_MESSAGES, 'utf8'));
for (const m of ms) process.send(m);
process.send({ type: 'hello', pid: process.pid, version: 1 });
process.on('disconnect', () => process.exit(0));
`,
    );
    const p = new ProgramProcess([process.execPath, join(dir, 'program.mjs')], { ...process.env, FUZZ_MESSAGES: join(dir, 'messages.json') });
    cleanup.push(() => p.kill('SIGKILL'));
    const got: FromProgram[] = [];
    const bad: string[] = [];
    const helloSeen = new Promise<void>((resolve) => {
      p.on('message', (m) => {
        got.push(m);
        if (m.type === 'hello' && m.pid === p.pid) resolve();
      });
      p.on('bad', (b) => bad.push(b));
    });
    await Promise.race([helloSeen, p.exited.then((e) => assert.fail(`the program exited first: ${JSON.stringify(e)}`))]);
    // Every message was accounted for, in order, the last one the good hello.
    assert.equal(got.length + bad.length, messages.length + 1);
    assert.ok(bad.length > 0 && got.length > 1, `${got.length} delivered, ${bad.length} refused`);
    for (const b of bad) assert.match(b, /^program sent an invalid message: /);
  });
});

import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { newNonce } from '../../src/protocol/challenge.js';
import { AuthError } from '../../src/errors.js';
import type { FromKeeper } from '../../src/protocol/keeper-messages.js';
import { frame, keeperMac, MessageReader, type WireMessage } from '../../src/protocol/keeper-wire.js';
import { parseEvent } from '../../src/protocol/events.js';
import { KeeperClient } from '../../src/state/keeper-client.js';
import type { KeeperCore } from '../../src/state/keeper-core.js';
import { startTestKeeper } from '../helpers/keeper.js';

/**
 * The keeper's authentication (protocol/keeper-wire.ts): a nonce challenge with the job secret.
 * A real client's exchange is captured through a recording relay, then replayed byte for byte:
 * the keeper must refuse it and log `auth_refused` with the replayer's address.
 */
const JOB = 'keeper-auth';
const SECRET = 'keeper-auth-secret-0123456789';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function keeper(secret = SECRET): Promise<{ core: KeeperCore; out: FromKeeper[]; address: string }> {
  const k = await startTestKeeper(JOB, secret);
  cleanup.push(() => k.core.close());
  return k;
}

/** A TCP relay to `target` that records every byte its clients send. */
async function recordingRelay(target: string): Promise<{ address: string; sent: Buffer[] }> {
  const sent: Buffer[] = [];
  const [host, port] = target.split(':') as [string, string];
  const socks = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host, port: Number(port) });
    socks.add(client).add(upstream);
    client.on('data', (d: Buffer) => {
      sent.push(Buffer.from(d));
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => client.write(d));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => {
    for (const s of socks) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, sent };
}

/**
 * Dials `address`, writes `bytes`, and collects what comes back until the keeper closes the
 * connection (a refusal ends with a close) or 2 s pass. `talk` may answer each message.
 */
function exchange(address: string, bytes: Buffer[], talk?: (m: WireMessage, sock: Socket) => void): Promise<{ got: WireMessage[]; closed: boolean; local: string }> {
  const [host, port] = address.split(':') as [string, string];
  return new Promise((resolve) => {
    const sock = connect({ host, port: Number(port) });
    const got: WireMessage[] = [];
    const reader = new MessageReader();
    let local = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ got, closed: false, local });
    }, 2000);
    sock.on('connect', () => {
      local = `127.0.0.1:${sock.localPort}`;
      for (const b of bytes) sock.write(b);
    });
    sock.on('data', (d: Buffer) =>
      reader.push(d, (m) => {
        got.push(m);
        talk?.(m, sock);
      }),
    );
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ got, closed: true, local });
    });
  });
}

function refusals(out: FromKeeper[]): { peer: string; reason: string }[] {
  return out.flatMap((m) => (m.type === 'event' && m.event === 'auth_refused' ? [m.fields as { peer: string; reason: string }] : []));
}

describe('keeper authentication', () => {
  it('a captured good exchange, replayed, is refused and logged as auth_refused with the peer address; good peers are still served', async () => {
    const k = await keeper();
    const relay = await recordingRelay(k.address);
    // A real client through the relay: its hello, auth and request are what an eavesdropper sees.
    const honest = new KeeperClient(relay.address, JOB, SECRET);
    const listed = await honest.request({ op: 'list', slot: 0 }, undefined, 3000);
    assert.deepEqual(listed.head, { versions: [] });
    honest.close();
    const captured = Buffer.concat(relay.sent);
    assert.match(captured.toString('latin1'), /"op":"hello"/);
    assert.match(captured.toString('latin1'), /"op":"auth"/);
    assert.deepEqual(refusals(k.out), [], 'the honest exchange is not refused');

    const replay = await exchange(k.address, [captured]);
    assert.ok(replay.closed, 'the keeper closes a replayed exchange');
    const ops = replay.got.map((m) => m.head.op);
    assert.deepEqual(ops, ['challenge', 'refused'], `the replay got ${JSON.stringify(replay.got.map((m) => m.head))}`);
    assert.ok(!replay.got.some((m) => 'versions' in m.head), 'the replayed request was not answered');
    const [r] = refusals(k.out);
    assert.ok(r, 'auth_refused was posted');
    assert.equal(r.peer, replay.local, "the event names the replayer's address");
    assert.match(r.reason, /does not match/);
    const logged = parseEvent({ ts: 1, event: 'auth_refused', node: 0, ...r });
    assert.ok(logged, 'the posted fields are those of the log event');

    // The keeper goes on serving a peer that holds the secret.
    const good = new KeeperClient(k.address, JOB, SECRET);
    assert.deepEqual((await good.request({ op: 'list', slot: 0 }, undefined, 3000)).head, { versions: [] });
    good.close();
  });

  it('a forged MAC, the old fixed token, another job, or garbage first is refused and logged', async () => {
    const k = await keeper();
    // Forged: a well-formed exchange with a MAC made from another secret.
    const nonce = newNonce();
    const forged = await exchange(k.address, frame({ op: 'hello', job: JOB, nonce }), (m, sock) => {
      if (m.head.op === 'challenge') for (const b of frame({ op: 'auth', mac: keeperMac('not-the-secret-000000', 'dialer', JOB, nonce, String(m.head.nonce)) })) sock.write(b);
    });
    assert.deepEqual(forged.got.map((m) => m.head.op), ['challenge', 'refused']);
    const oldToken = await exchange(k.address, frame({ op: 'auth', token: 'ab'.repeat(32) }));
    assert.deepEqual(oldToken.got.map((m) => m.head.op), ['refused']);
    const otherJob = await exchange(k.address, frame({ op: 'hello', job: 'other-job', nonce: newNonce() }));
    assert.deepEqual(otherJob.got.map((m) => m.head.op), ['refused']);
    const garbage = await exchange(k.address, [Buffer.from([5, 0, 0, 0]), Buffer.from('nope!'), Buffer.alloc(4)]);
    assert.ok(garbage.closed);
    const got = refusals(k.out);
    assert.deepEqual(
      got.map((r) => r.peer),
      [forged.local, oldToken.local, otherJob.local, garbage.local],
    );
    assert.match(got[1]!.reason, /expected hello/);
    assert.match(got[2]!.reason, /other-job/);
    assert.match(got[3]!.reason, /malformed message before authentication/);
  });

  it('a client refuses a keeper that does not hold the secret (its challenge MAC does not match)', async () => {
    const impostor = await keeper('an-impostor-secret-0000000');
    const c = new KeeperClient(impostor.address, JOB, SECRET);
    await assert.rejects(c.request({ op: 'list', slot: 0 }, undefined, 3000), (e: unknown) => e instanceof AuthError && /challenge MAC does not match/.test(e.message));
    c.close();
  });
});

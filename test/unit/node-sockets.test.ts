import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Communicator } from '../../src/comm/communicator.js';
import { dialAddress, formatNodeAddress, parseNodeAddress } from '../../src/comm/node-address.js';
import { openCommunicator } from '../../src/comm/rendezvous.js';
import { AddressBook, nodeAddressKey } from '../../src/comm/roster.js';
import { TcpTransport } from '../../src/comm/tcp-transport.js';
import type { Conn } from '../../src/comm/transport.js';
import { CorruptRecordError, RendezvousTimeoutError } from '../../src/errors.js';
import { NodeListener } from '../../src/proxy/node-listener.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { PutOptions } from '../../src/store/store.js';
import { deadlineIn, type Deadline } from '../../src/util/deadline.js';
import { hostIdentity, hostIdentityFrom } from '../../src/util/host-identity.js';
import { SMALL_TUNING, closeAll } from '../helpers/group.js';

const FAST = { ...SMALL_TUNING, timeoutMs: 5000, heartbeatMs: 200 };
const BOOT = '08830918-85cb-4785-ac13-4574bed94772';

// The address book's waits hold no timer of their own (unref'd, as in the product): this one keeps the loop up.
let keepAlive: NodeJS.Timeout | undefined;
before(() => (keepAlive = setInterval(() => {}, 1_000)));
after(() => clearInterval(keepAlive));

/** The real TCP transport, remembering where it dialed. */
class RecordingTcp extends TcpTransport {
  readonly dials: string[] = [];
  override dial(address: string, deadline: Deadline): Promise<Conn> {
    this.dials.push(address);
    return super.dial(address, deadline);
  }
}

class CountingStore extends MemoryStore {
  readonly puts: string[] = [];
  override put(key: string, value: string, opts?: PutOptions): ReturnType<MemoryStore['put']> {
    this.puts.push(key);
    return super.put(key, value, opts);
  }
}

describe('a node\'s published address', () => {
  it('round-trips both forms; a plain address (a node without a socket, or an old one) is its TCP address', () => {
    const key = nodeAddressKey('j', 3);
    const full = { tcp: '10.0.0.3:4000', unix: { path: '/tmp/sock-x/node-3.sock', host: `${BOOT}/net:1` } };
    assert.deepEqual(parseNodeAddress(formatNodeAddress(full), key, 3), full);
    assert.equal(formatNodeAddress({ tcp: '10.0.0.3:4000' }), '10.0.0.3:4000', 'no socket: the old form, unchanged');
    assert.deepEqual(parseNodeAddress('10.0.0.3:4000', key, 3), { tcp: '10.0.0.3:4000' });
    assert.deepEqual(parseNodeAddress('[fe80::1]:4000', key, 3), { tcp: '[fe80::1]:4000' });
    assert.deepEqual(parseNodeAddress('mem://7', key, 3), { tcp: 'mem://7' });
  });

  it('anything else is a CorruptRecordError naming the key and the node', () => {
    const key = nodeAddressKey('j', 3);
    const rec = (o: Record<string, unknown>): string => JSON.stringify({ tcp: '10.0.0.3:4000', unix: '/tmp/s/node-3.sock', host: 'h', ...o });
    const bad = [
      '',
      '10.0.0.3:4000 extra',
      '10.0.0.3:\u00014000',
      '{"tcp":"10.0.0.3:4000"',
      rec({ unix: 'relative/node-3.sock' }),
      rec({ unix: `/tmp/${'x'.repeat(120)}.sock` }),
      rec({ host: '' }),
      rec({ tcp: '' }),
      rec({ port: 4 }),
      JSON.stringify({ tcp: '10.0.0.3:4000', unix: '/tmp/s/node-3.sock' }),
      '[1,2]',
    ];
    for (const v of bad) {
      assert.throws(
        () => parseNodeAddress(v, key, 3),
        (e: unknown) => e instanceof CorruptRecordError && e.key === key && e.node === 3 && /node 3's published address does not parse/.test(e.message),
        `accepted ${JSON.stringify(v)}`,
      );
    }
  });

  it('is dialed at its socket from the same host only, and not once the socket has failed', () => {
    const a = { tcp: '10.0.0.3:4000', unix: { path: '/tmp/s/node-3.sock', host: 'A' } };
    assert.equal(dialAddress(a, 'A'), 'unix:/tmp/s/node-3.sock');
    assert.equal(dialAddress(a, 'B'), '10.0.0.3:4000');
    assert.equal(dialAddress(a, undefined), '10.0.0.3:4000', 'no identity here: TCP');
    assert.equal(dialAddress({ tcp: '10.0.0.3:4000' }, 'A'), '10.0.0.3:4000');
    assert.equal(dialAddress(a, 'A', new Set(['/tmp/s/node-3.sock'])), '10.0.0.3:4000');
  });
});

describe('host identity', () => {
  it('is the boot id and the network namespace; it differs when either does, and is absent when either is unreadable', () => {
    const id = hostIdentityFrom(`${BOOT}\n`, 'net:[4026531833]');
    assert.equal(id, `${BOOT}/net:4026531833`);
    assert.notEqual(hostIdentityFrom(BOOT, 'net:[4026532999]'), id, 'another namespace of the same machine');
    assert.notEqual(hostIdentityFrom('18830918-85cb-4785-ac13-4574bed94772', 'net:[4026531833]'), id, 'another machine, same namespace inode');
    assert.equal(hostIdentityFrom(undefined, 'net:[4026531833]'), undefined);
    assert.equal(hostIdentityFrom(BOOT, undefined), undefined);
    assert.equal(hostIdentityFrom('not-a-boot-id', 'net:[1]'), undefined);
    assert.equal(hostIdentityFrom(BOOT, 'mnt:[1]'), undefined);
  });

  // Like the multi-host tests, this needs Linux and root (as CI has): it fails loudly without them rather than skipping.
  it('on this machine: the same in a child process, another in a child in a new network namespace (needs root)', () => {
    const mine = hostIdentity();
    assert.ok(mine, `this machine has a host identity (Linux with /proc; here: ${process.platform})`);
    const script = `import(${JSON.stringify(fileURLToPath(new URL('../../src/util/host-identity.js', import.meta.url)))}).then((m) => console.log(m.hostIdentity()))`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(child.stdout.trim(), mine, child.stderr);
    const apart = spawnSync('unshare', ['--net', process.execPath, '-e', script], { encoding: 'utf8' });
    assert.equal(apart.status, 0, `unshare --net failed: ${apart.stderr}`);
    assert.notEqual(apart.stdout.trim(), mine, 'a process in another network namespace is on another host');
    assert.match(apart.stdout.trim(), /\/net:\d+$/);
  });
});

describe('node listeners on one host and across hosts (real sockets on 127.0.0.1)', () => {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'rc-uds-test-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('nodes 0 and 1 on host A talk over their sockets, node 2 on host B over TCP; one write per node', async () => {
    const store = new CountingStore();
    const job = `uds-hosts-${process.pid}`;
    const parent = tempDir();
    const hosts = ['A', 'A', 'B'];
    const transports = hosts.map(() => new RecordingTcp());
    const listeners = await Promise.all(hosts.map((hostId, node) => NodeListener.open({ store, job, node, transport: transports[node]!, hostId, socketParent: parent })));
    const comms: Communicator[] = [];
    try {
      assert.deepEqual(store.puts, [0, 1, 2].map((n) => nodeAddressKey(job, n)).sort(), 'one write per node');
      for (const l of listeners) assert.ok(l.socketPath?.startsWith(parent), `socket ${l.socketPath} under ${parent}`);
      const members = [0, 1, 2];
      for (const [rank, l] of listeners.entries()) {
        const roster = await l.book.roster(members, deadlineIn(2000));
        comms.push(await openCommunicator({ job, generation: 0, rank, world: 3, secret: 's', endpoint: l.endpoint, roster, tuning: FAST }));
      }
      // A barrier of 3: every rank hears from both others, so each dials both.
      await Promise.all(comms.map((c) => c.barrier()));
      const bufs = comms.map((_, r) => new Float64Array(70_000).fill(r + 1));
      await Promise.all(comms.map((c, r) => c.allreduce(bufs[r]!)));
      for (const b of bufs) assert.ok(b.every((v) => v === 6));
      const sock = (n: number): string => `unix:${listeners[n]!.socketPath}`;
      assert.deepEqual([...new Set(transports[0]!.dials)].sort(), [sock(1), listeners[2]!.address].sort(), 'node 0: node 1 at its socket, node 2 over TCP');
      assert.deepEqual([...new Set(transports[1]!.dials)].sort(), [sock(0), listeners[2]!.address].sort(), 'node 1: node 0 at its socket, node 2 over TCP');
      assert.deepEqual([...new Set(transports[2]!.dials)].sort(), [listeners[0]!.address, listeners[1]!.address].sort(), 'node 2 (host B): TCP only');
      // A generation ends (a recovery destroys the communicator, with an error): over a socket
      // too, without throwing (a Unix domain socket has no reset to send), and the peers learn.
      const broken = new Promise((resolve) => comms[1]!.once('broken', resolve));
      comms[0]!.destroy('superseded');
      await broken;
    } finally {
      closeAll(comms);
      for (const l of listeners) l.close();
    }
  });

  it('a socket removed under a live node: the dialer falls back to its TCP address at once, and keeps to TCP for it', async () => {
    const store = new MemoryStore();
    const job = `uds-fallback-${process.pid}`;
    const parent = tempDir();
    const transports = [new RecordingTcp(), new RecordingTcp()];
    const listeners = await Promise.all([0, 1].map((node) => NodeListener.open({ store, job, node, transport: transports[node]!, hostId: 'A', socketParent: parent })));
    const comms: Communicator[] = [];
    try {
      rmSync(listeners[1]!.socketPath!);
      const t0 = Date.now();
      for (const generation of [0, 1]) {
        closeAll(comms.splice(0));
        for (const [rank, l] of listeners.entries()) {
          const roster = await l.book.roster([0, 1], deadlineIn(2000));
          const readdress = (r: number, stale: string, deadline: Deadline): Promise<string> => l.book.moved(r, r, stale, deadline);
          // A connect deadline far below the test's: the fallback must not wait for it.
          comms.push(await openCommunicator({ job, generation, rank, world: 2, secret: 's', endpoint: l.endpoint, roster, tuning: FAST, connectTimeoutMs: 3000, readdress }));
        }
        await Promise.all(comms.map((c) => c.barrier()));
      }
      assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
      const sock1 = `unix:${listeners[1]!.socketPath}`;
      assert.deepEqual(transports[0]!.dials, [sock1, listeners[1]!.address, listeners[1]!.address], 'the socket once, then TCP (generation 1 too)');
      assert.deepEqual(transports[1]!.dials, [`unix:${listeners[0]!.socketPath}`, `unix:${listeners[0]!.socketPath}`], 'node 0\'s socket is fine');
    } finally {
      closeAll(comms);
      for (const l of listeners) l.close();
    }
  });

  it('a node without a socket (localSocket false, or an old version) publishes its TCP address alone and is dialed there', async () => {
    const store = new MemoryStore();
    const job = `uds-plain-${process.pid}`;
    const l = await NodeListener.open({ store, job, node: 0, transport: new TcpTransport(), hostId: 'A', localSocket: false });
    const m = await NodeListener.open({ store, job, node: 1, transport: new TcpTransport(), hostId: 'A', socketParent: tempDir() });
    try {
      assert.equal((await store.get(nodeAddressKey(job, 0)))?.value, l.address);
      assert.equal(l.socketPath, undefined);
      assert.deepEqual(await m.book.roster([0, 1], deadlineIn(1000)), [l.address, `unix:${m.socketPath}`]);
    } finally {
      l.close();
      m.close();
    }
  });

  it('the socket is in a directory of its own, removed on close; a killed node\'s file does not stop the next; a too-long parent falls back', async () => {
    const store = new MemoryStore();
    const job = `uds-files-${process.pid}`;
    const parent = tempDir();
    // Node 0's program was killed: its listener never closed (its socket file stays).
    const killed = await NodeListener.open({ store, job, node: 0, transport: new TcpTransport(), hostId: 'A', socketParent: parent });
    const stale = killed.socketPath!;
    const restarted = await NodeListener.open({ store, job, node: 0, transport: new TcpTransport(), hostId: 'A', socketParent: parent });
    const long = await NodeListener.open({ store, job, node: 1, transport: new TcpTransport(), hostId: 'A', socketParent: join(tempDir(), 'x'.repeat(90)) });
    try {
      assert.ok(existsSync(stale));
      assert.ok(restarted.socketPath && restarted.socketPath !== stale && existsSync(restarted.socketPath));
      assert.equal(statSync(join(restarted.socketPath, '..')).mode & 0o777, 0o700, 'a private directory');
      assert.ok(long.socketPath?.startsWith(tmpdir()), `a too-long parent: ${long.socketPath}`);
      const dir = join(restarted.socketPath, '..');
      restarted.close();
      assert.equal(existsSync(dir), false, 'closing removes the socket and its directory');
    } finally {
      for (const l of [killed, restarted, long]) l.close();
    }
  });
});

describe('address book and sockets', () => {
  it('moved(): a refused socket of an unchanged record gives its TCP address at once; a refused TCP address waits for a new record', async () => {
    const store = new MemoryStore();
    const key = nodeAddressKey('j', 4);
    const old = { tcp: '10.0.0.4:1', unix: { path: '/tmp/a/node-4.sock', host: 'A' } };
    await store.put(key, formatNodeAddress(old));
    const book = new AddressBook(store, 'j', 'A');
    assert.deepEqual(await book.roster([4], deadlineIn(100)), ['unix:/tmp/a/node-4.sock']);
    assert.equal(await book.moved(4, 0, 'unix:/tmp/a/node-4.sock', deadlineIn(100)), '10.0.0.4:1');
    assert.deepEqual(await book.roster([4], deadlineIn(100)), ['10.0.0.4:1'], 'TCP for it from then on');
    // Its TCP address refused too: the program is gone; a restarted one publishes a new record.
    await assert.rejects(book.moved(4, 0, '10.0.0.4:1', deadlineIn(50)), RendezvousTimeoutError);
    const waiting = book.moved(4, 0, '10.0.0.4:1', deadlineIn(2000));
    await store.put(key, formatNodeAddress({ tcp: '10.0.0.4:2', unix: { path: '/tmp/b/node-4.sock', host: 'A' } }));
    assert.equal(await waiting, 'unix:/tmp/b/node-4.sock', 'the restarted program at its new socket');
  });

  it('a wait that times out names exactly the nodes that never published, by rank', async () => {
    const store = new MemoryStore();
    const members = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
    for (const n of members) if (n !== 12 && n !== 15) await store.put(nodeAddressKey('j', n), `10.0.0.${n}:1`);
    const err = await new AddressBook(store, 'j', 'A').roster(members, deadlineIn(100)).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof RendezvousTimeoutError, String(err));
    assert.deepEqual(err.missingRanks, [2, 5]);
    assert.equal(err.message, 'node(s) 12,15 never published a listening address');
  });

  it('a record that does not parse fails the roster with CorruptRecordError, in a read and in a wait', async () => {
    const store = new MemoryStore();
    await store.put(nodeAddressKey('j', 1), '{"tcp":1}');
    await assert.rejects(new AddressBook(store, 'j', 'A').roster([1], deadlineIn(100)), CorruptRecordError);
    const waiting = new AddressBook(store, 'j', 'A').roster([...Array(10).keys()], deadlineIn(2000));
    for (let n = 0; n < 10; n++) if (n !== 1) await store.put(nodeAddressKey('j', n), `10.0.0.${n}:1`);
    await assert.rejects(waiting, (e: unknown) => e instanceof CorruptRecordError && e.node === 1);
  });
});

import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { AuthError, InvalidArgumentError, LeaseExpiredError, StoreUnavailableError } from '../../src/errors.js';
import { ManualClock, MemoryStore } from '../../src/store/memory-store.js';
import { waitForPrefix, type Store, type WatchEvent, type Watcher } from '../../src/store/store.js';
import { connectEtcdStore } from '../../src/store/etcd-store.js';
import { connectStore } from '../../src/store/tcp-store-client.js';
import { startStoreServer, type StoreServer } from '../../src/store/tcp-store-server.js';
import { deadlineIn, sleep } from '../../src/util/deadline.js';
import { startEtcd } from '../helpers/etcd.js';
import { settle } from '../helpers/wait.js';

interface Env {
  store: Store;
  ttlMs: number;
  /** Memory: moves the fake clock and expires leases. TCP: a real, bounded wait. */
  passTime(ms: number): Promise<void>;
  /**
   * Makes revisions below `revision` unwatchable. The memory and TCP stores already keep only
   * `historyLimit` revisions; etcd keeps everything until it is compacted.
   */
  trimHistory(revision: number): Promise<void>;
  close(): Promise<void>;
}

interface Backend {
  name: string;
  open(opts?: { historyLimit?: number }): Promise<Env>;
}

const backends: Backend[] = [
  {
    name: 'MemoryStore',
    async open(opts = {}) {
      const clock = new ManualClock(1_000);
      const store = new MemoryStore({ clock, autoExpire: false, historyLimit: opts.historyLimit });
      return {
        store,
        ttlMs: 1000,
        passTime: async (ms) => {
          clock.advance(ms);
          store.tick();
        },
        trimHistory: async () => {},
        close: () => store.close(),
      };
    },
  },
  {
    name: 'TCP client + server',
    async open(opts = {}) {
      const server = await startStoreServer({ historyLimit: opts.historyLimit });
      const store = await connectStore(server.address);
      return {
        store,
        // Long enough that scheduling jitter on a busy machine cannot expire a lease early.
        ttlMs: 500,
        passTime: (ms) => sleep(ms),
        trimHistory: async () => {},
        close: async () => {
          await store.close();
          await server.close();
        },
      };
    },
  },
  {
    name: 'etcd (a real etcd-server)',
    async open() {
      const etcd = await startEtcd();
      const store = await connectEtcdStore(etcd.url, { requestTimeoutMs: 3000 });
      return {
        store,
        // etcd counts leases in seconds and raises short ones to 1.5 election timeouts (here 2 s).
        ttlMs: 2000,
        passTime: (ms) => sleep(ms),
        trimHistory: (revision) => etcd.compact(revision),
        close: async () => {
          await store.close();
          await etcd.stop();
        },
      };
    },
  },
];

/** Records a watch's events and lets a test wait for a condition on them, with a deadline. */
async function record(store: Store, prefix: string, fromRevision?: number) {
  const events: WatchEvent[] = [];
  let error: Error | undefined;
  let wake = (): void => {};
  const watcher: Watcher = await store.watch(
    prefix,
    (ev) => {
      events.push(ev);
      wake();
    },
    {
      fromRevision,
      onError: (e) => {
        error = e;
        wake();
      },
    },
  );
  const until = (done: () => boolean, what: string, ms = 3000): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (!done()) return;
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events)}; error: ${String(error)}`)), ms);
      wake = check;
      check();
    });
  return { events, watcher, until, error: () => error };
}

for (const backend of backends) {
  describe(`Store contract: ${backend.name}`, () => {
    let env: Env;
    let s: Store;
    before(async () => {
      env = await backend.open();
      s = env.store;
    });
    after(() => env.close());

    it('puts, gets and lists in key order with the store revision', async () => {
      const r1 = await s.put('kv/b', '2');
      const r2 = await s.put('kv/a', '1');
      await s.put('other', 'x');
      assert.ok(r2 > r1, 'revisions increase on every write');
      assert.deepEqual(await s.get('kv/a'), { key: 'kv/a', value: '1', modRevision: r2, lease: 0 });
      assert.equal(await s.get('kv/missing'), undefined);
      const { kvs, revision } = await s.list('kv/');
      assert.deepEqual(kvs.map((kv) => [kv.key, kv.value]), [['kv/a', '1'], ['kv/b', '2']]);
      assert.ok(revision >= r2 + 1);
      await assert.rejects(s.put('', 'x'), InvalidArgumentError);
      await assert.rejects(s.grantLease(-5), InvalidArgumentError);
    });

    it('compare-and-set writes on a matching revision and reports the current value on conflict', async () => {
      const created = await s.compareAndSet('cas/k', 0, 'v1');
      assert.equal(created.ok, true);
      const rev = created.current!.modRevision;
      const dup = await s.compareAndSet('cas/k', 0, 'other');
      assert.equal(dup.ok, false, 'expectedRevision 0 means the key must not exist');
      assert.equal(dup.current?.value, 'v1');
      const next = await s.compareAndSet('cas/k', rev, 'v2');
      assert.equal(next.ok, true);
      assert.equal(next.current?.value, 'v2');
      const stale = await s.compareAndSet('cas/k', rev, 'v3');
      assert.equal(stale.ok, false);
      assert.equal(stale.current?.value, 'v2');
      assert.equal((await s.get('cas/k'))?.value, 'v2');
    });

    it('deletes, reporting whether there was a key', async () => {
      await s.put('del/k', 'v');
      assert.equal(await s.delete('del/k'), true);
      assert.equal(await s.delete('del/k'), false);
      assert.equal(await s.get('del/k'), undefined);
    });

    it('watches from a revision, replaying history then following live changes', async () => {
      const r1 = await s.put('w/a', '1');
      await s.put('elsewhere', 'x');
      await s.put('w/b', '2');
      await s.delete('w/a');
      const rec = await record(s, 'w/', r1);
      await s.put('w/c', '3');
      await rec.until(() => rec.events.length >= 4, 'replay plus one live event');
      assert.deepEqual(
        rec.events.map((e) => (e.type === 'put' ? `put ${e.kv.key}=${e.kv.value}` : `delete ${e.key}`)),
        ['put w/a=1', 'put w/b=2', 'delete w/a', 'put w/c=3'],
      );
      const revs = rec.events.map((e) => (e.type === 'put' ? e.kv.modRevision : e.modRevision));
      assert.deepEqual(revs, [...revs].sort((a, b) => a - b));
      assert.equal(revs[0], r1);
      rec.watcher.close();
    });

    it('lease expiry deletes its keys and emits delete events', async () => {
      const lease = await s.grantLease(env.ttlMs);
      await s.put('lease/x', 'v', { lease: lease.id });
      assert.equal((await s.get('lease/x'))?.lease, lease.id);
      const rec = await record(s, 'lease/');
      await env.passTime(env.ttlMs + 50);
      await rec.until(() => rec.events.some((e) => e.type === 'delete' && e.key === 'lease/x'), 'the delete event');
      assert.equal(await s.get('lease/x'), undefined);
      await assert.rejects(lease.keepAlive(), LeaseExpiredError);
      await assert.rejects(s.put('lease/y', 'v', { lease: lease.id }), LeaseExpiredError);
      rec.watcher.close();
    });

    it('keepAlive extends a lease past its original TTL', async () => {
      const lease = await s.grantLease(env.ttlMs);
      await s.put('ka/x', 'v', { lease: lease.id });
      await env.passTime(env.ttlMs * 0.6);
      await lease.keepAlive();
      await env.passTime(env.ttlMs * 0.6);
      assert.equal((await s.get('ka/x'))?.value, 'v', 'alive 1.2 TTLs after grant thanks to keepAlive');
      await lease.revoke();
    });

    it('revoke deletes the keys at once and is idempotent', async () => {
      const lease = await s.grantLease(60_000);
      await s.put('rv/x', 'v', { lease: lease.id });
      const rec = await record(s, 'rv/');
      await lease.revoke();
      await lease.revoke();
      assert.equal(await s.get('rv/x'), undefined);
      await rec.until(() => rec.events.some((e) => e.type === 'delete'), 'the delete event');
      await assert.rejects(lease.keepAlive(), LeaseExpiredError);
      rec.watcher.close();
    });

    it('waitForPrefix resolves once the keys arrive', async () => {
      const waiting = waitForPrefix(
        s,
        'wfp/',
        (kvs) => (kvs.size === 3 ? [...kvs.values()].map((kv) => kv.value).sort() : undefined),
        deadlineIn(3000),
        () => new Error('should not time out'),
      );
      for (const r of ['0', '1', '2']) await s.put(`wfp/${r}`, `addr${r}`);
      assert.deepEqual(await waiting, ['addr0', 'addr1', 'addr2']);
    });

    it('waitForPrefix rejects with the caller-built error at the deadline', async () => {
      class Missing extends Error {}
      await s.put('wfp2/0', 'a');
      const { err, ms } = await settle(
        waitForPrefix(s, 'wfp2/', (kvs) => (kvs.size === 2 ? true : undefined), deadlineIn(100), (kvs) => new Missing(`have ${kvs.size}`)),
      );
      assert.ok(err instanceof Missing, `got ${String(err)}`);
      assert.equal(err.message, 'have 1');
      assert.ok(ms < 2000);
    });

    it('watching from a revision older than the kept history reports an error', async () => {
      const small = await backend.open({ historyLimit: 5 });
      try {
        const revs: number[] = [];
        for (let i = 0; i < 10; i++) revs.push(await small.store.put(`h/${i}`, 'v'));
        await small.trimHistory(revs[5]!);
        const rec = await record(small.store, 'h/', revs[0]);
        await rec.until(() => rec.error() !== undefined, 'onError');
        assert.match(rec.error()!.message, /history/);
        assert.equal(rec.events.length, 0);
        const ok = await record(small.store, 'h/', revs[6]);
        await ok.until(() => ok.events.length === 4, 'replay of the kept revisions');
        ok.watcher.close();
      } finally {
        await small.close();
      }
    });
  });
}

/** Reads newline-delimited JSON from a raw socket, one message per call. */
function lineReader(sock: Socket): (ms?: number) => Promise<Record<string, unknown> | 'closed'> {
  let buf = '';
  const queue: (Record<string, unknown> | 'closed')[] = [];
  let wake = (): void => {};
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
      queue.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      buf = buf.slice(nl + 1);
    }
    wake();
  });
  sock.on('close', () => {
    queue.push('closed');
    wake();
  });
  sock.on('error', () => {});
  return (ms = 3000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message from server')), ms);
      const take = (): void => {
        const m = queue.shift();
        if (m === undefined) return;
        clearTimeout(timer);
        resolve(m);
      };
      wake = take;
      take();
    });
}

async function rawConnect(address: string): Promise<{ sock: Socket; next: ReturnType<typeof lineReader> }> {
  const [host, port] = address.split(':');
  const sock = connect({ host: host!, port: Number(port) });
  const next = lineReader(sock);
  const hello = await next();
  assert.ok(hello !== 'closed' && 'hello' in hello);
  return { sock, next };
}

describe('TCP store server and client', () => {
  let server: StoreServer;
  before(async () => {
    server = await startStoreServer();
  });
  after(() => server.close());

  it('answers a malformed line with an error and keeps serving', async () => {
    const other = await connectStore(server.address);
    const { sock, next } = await rawConnect(server.address);
    try {
      sock.write('this is not json\n');
      const bad = await next();
      assert.ok(bad !== 'closed');
      assert.equal(bad.ok, false);
      assert.equal(bad.id, null);
      assert.deepEqual(Object.keys(bad.error as object).sort(), ['code', 'message']);
      assert.equal((bad.error as { code: string }).code, 'ERR_PROTOCOL');

      sock.write(JSON.stringify({ id: 7, op: 'put', key: 'k' }) + '\n');
      const missing = await next();
      assert.ok(missing !== 'closed');
      assert.equal(missing.id, 7);
      assert.match((missing.error as { message: string }).message, /value/);

      await other.put('shared', 'yes');
      sock.write(JSON.stringify({ id: 8, op: 'get', key: 'shared' }) + '\n');
      const good = await next();
      assert.ok(good !== 'closed');
      assert.equal(good.ok, true);
      assert.equal((good.kv as { value: string }).value, 'yes');
    } finally {
      sock.destroy();
      await other.close();
    }
  });

  it('cuts off a line over 1 MiB with an error, and other clients are unaffected', async () => {
    const other = await connectStore(server.address);
    const { sock, next } = await rawConnect(server.address);
    try {
      sock.write('x'.repeat(1024 * 1024 + 10));
      const bad = await next();
      assert.ok(bad !== 'closed');
      assert.match((bad.error as { message: string }).message, /longer than 1048576 bytes/);
      assert.equal(await next(), 'closed');
      assert.equal(await other.put('still', 'fine') > 0, true);
    } finally {
      sock.destroy();
      await other.close();
    }
  });

  it('rejects an oversized request on the client before sending it', async () => {
    const c = await connectStore(server.address);
    try {
      await assert.rejects(c.put('big', 'x'.repeat(1024 * 1024)), InvalidArgumentError);
      assert.equal(await c.get('big'), undefined);
    } finally {
      await c.close();
    }
  });

  it('with a secret, admits the right one and refuses a wrong or missing one with AuthError', async () => {
    const secured = await startStoreServer({ secret: 's3cret' });
    try {
      const good = await connectStore(secured.address, { secret: 's3cret' });
      await good.put('k', 'v');
      await good.close();
      await assert.rejects(connectStore(secured.address, { secret: 'wrong' }), (e: unknown) => e instanceof AuthError && /wrong secret/.test(e.message));
      await assert.rejects(connectStore(secured.address), AuthError);
      const { sock, next } = await rawConnect(secured.address);
      sock.write(JSON.stringify({ id: 1, op: 'get', key: 'k' }) + '\n');
      const refused = await next();
      assert.ok(refused !== 'closed');
      assert.equal((refused.error as { code: string }).code, 'ERR_AUTH');
      assert.equal(await next(), 'closed');
    } finally {
      await secured.close();
    }
  });

  it('a killed server fails pending requests and watches at once, not at the timeout', async () => {
    const doomed = await startStoreServer();
    const c = await connectStore(doomed.address, { requestTimeoutMs: 10_000 });
    const rec = await record(c, '');
    const pending = settle(c.get('k'));
    await doomed.close();
    const { err, ms } = await pending;
    assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`);
    assert.equal(err.retryable, true);
    assert.ok(ms < 1000, `rejected after ${ms} ms`);
    await rec.until(() => rec.error() instanceof StoreUnavailableError, 'the watch to report the loss');
    await assert.rejects(c.put('k', 'v'), StoreUnavailableError);
    await c.close();
  });

  it('connecting to nothing rejects with StoreUnavailableError', async () => {
    const gone = await startStoreServer();
    const address = gone.address;
    await gone.close();
    await assert.rejects(connectStore(address), StoreUnavailableError);
    await assert.rejects(connectStore('no-port-here'), InvalidArgumentError);
  });
});

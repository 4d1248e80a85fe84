import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InvalidArgumentError, StoreUnavailableError } from '../../src/errors.js';
import { connectEtcdStore, parseEtcdUrl } from '../../src/store/etcd-store.js';
import type { Store, WatchEvent } from '../../src/store/store.js';
import { freePort, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { settle } from '../helpers/wait.js';

function until(cond: () => boolean, what: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = setInterval(() => {
      if (cond()) {
        clearInterval(tick);
        resolve();
      } else if (Date.now() - t0 > ms) {
        clearInterval(tick);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }
    }, 10);
  });
}

describe('etcd store: addresses and reachability', () => {
  it('parses etcd:// URLs and refuses malformed ones with InvalidArgumentError', () => {
    assert.deepEqual(parseEtcdUrl('etcd://10.0.0.1:2379,[fd00::2]:2379, node-c:2379'), ['http://10.0.0.1:2379', 'http://[fd00::2]:2379', 'http://node-c:2379']);
    for (const bad of ['10.0.0.1:2379', 'etcd://', 'etcd://host', 'etcd://h:0', 'etcd://h:2379,,h2:1']) {
      assert.throws(() => parseEtcdUrl(bad), InvalidArgumentError, bad);
    }
  });

  it('a store nobody answers at fails with StoreUnavailableError within its deadline', async () => {
    const port = await freePort();
    const { err, ms } = await settle(connectEtcdStore(`etcd://127.0.0.1:${port}`, { requestTimeoutMs: 800 }));
    assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`);
    assert.match(err.message, /no etcd quorum answered/);
    assert.ok(ms < 3000, `took ${ms} ms`);
  });
});

describe('etcd store on a 3-member cluster', () => {
  let etcd: EtcdCluster;
  let store: Store;
  before(async () => {
    etcd = await startEtcd({ members: 3 });
    store = await connectEtcdStore(etcd.url, { requestTimeoutMs: 5000, watchGraceMs: 8000 });
  });
  after(async () => {
    await store?.close();
    await etcd?.stop();
  });

  it('killing the leader loses no write, no watch event and no lease', async () => {
    const lease = await store.grantLease(3000);
    await store.put('job/alive', 'yes', { lease: lease.id });
    const seen: WatchEvent[] = [];
    let watchError: Error | undefined;
    const w = await store.watch('job/steps/', (ev) => seen.push(ev), { onError: (e) => (watchError = e) });
    const keepAlive = setInterval(() => void lease.keepAlive().catch(() => {}), 500);
    try {
      const leader = await etcd.leader();
      const written: number[] = [];
      let failures = 0;
      // Writes go on through the election; each either lands or fails with a typed, retryable error.
      for (let i = 0; i < 40; i++) {
        if (i === 10) etcd.kill(leader);
        for (let attempt = 0; ; attempt++) {
          try {
            await store.put(`job/steps/${String(i).padStart(3, '0')}`, String(i));
            written.push(i);
            break;
          } catch (e) {
            assert.ok(e instanceof StoreUnavailableError && e.retryable, `write ${i}: ${String(e)}`);
            failures++;
            assert.ok(attempt < 20, `write ${i} still failing after ${attempt} tries`);
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
      assert.equal(written.length, 40);
      await until(() => seen.length >= 40, 'every write to reach the watcher', 10_000);
      // A put whose answer was lost with the leader is re-sent by the client, so one write may
      // land twice (at-least-once); the watch must still see every write, in revision order.
      const values = seen.map((e) => (e.type === 'put' ? e.kv.value : `delete ${e.key}`));
      assert.deepEqual(
        values.filter((v, i) => v !== values[i - 1]),
        written.map(String),
        'the watch saw every write, in order, across the election',
      );
      const revs = seen.map((e) => (e.type === 'put' ? e.kv.modRevision : e.modRevision));
      assert.ok(revs.every((r, i) => i === 0 || r > revs[i - 1]!), `revisions increase: ${revs.join(',')}`);
      assert.equal(watchError, undefined);
      assert.equal((await store.get('job/alive'))?.value, 'yes', 'the kept-alive lease outlived the election');
      const after = await store.compareAndSet('job/cas', 0, 'v');
      assert.equal(after.ok, true, 'compare-and-set works under the new leader');
      assert.notEqual((await etcd.leader()).name, leader.name);
      console.log(`# leader ${leader.name} killed; ${failures} write attempts failed retryably during the election`);
    } finally {
      clearInterval(keepAlive);
      w.close();
    }
  });

  it('losing the quorum fails requests and watches with StoreUnavailableError, not a hang', async () => {
    const grace = await connectEtcdStore(etcd.url, { requestTimeoutMs: 1500, watchGraceMs: 1500 });
    let watchError: Error | undefined;
    await grace.watch('job/', () => {}, { onError: (e) => (watchError = e) });
    for (const m of etcd.members) etcd.kill(m);
    const { err, ms } = await settle(grace.put('job/x', 'y'));
    assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`);
    assert.ok(ms < 4000, `took ${ms} ms`);
    await until(() => watchError !== undefined, 'the watch to report the loss', 6000);
    assert.ok(watchError instanceof StoreUnavailableError, String(watchError));
    await grace.close();
  });
});

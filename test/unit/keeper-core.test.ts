import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, truncateSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { createKeeperCore, type KeeperCore } from '../../src/state/keeper-core.js';
import { KeeperClient } from '../../src/state/keeper-client.js';
import type { FromKeeper, ToKeeper } from '../../src/protocol/keeper-messages.js';
import { checksum, type StateVersion } from '../../src/state/version-format.js';
import { noCost, type FurtherStreamCost } from '../../src/state/stream-cost.js';
import { MemoryStore } from '../../src/store/memory-store.js';

/**
 * The keeper's core without its thread: keepers in this process, meeting through a memory store
 * and serving each other over real sockets on loopback, each with its own state directory (no
 * shared disk, as on separate hosts).
 */
const JOB = 'keeper-unit';

/** Omit, distributed over the union (a plain Omit of a union keeps only the common fields). */
type Request = Extract<ToKeeper, { id: number }> extends infer T ? (T extends unknown ? Omit<T, 'id'> : never) : never;

interface K {
  core: KeeperCore;
  out: FromKeeper[];
  dir: string;
  request(m: Request): Promise<Extract<FromKeeper, { type: 'reply' }>>;
}

const open: K[] = [];
afterEach(async () => {
  for (const k of open.splice(0)) await k.core.close();
});

function unclosable(store: MemoryStore): MemoryStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'close') return () => Promise.resolve();
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

let nextId = 1;
async function keeper(store: MemoryStore, node: number, dir = mkdtempSync(join(tmpdir(), `rollcall-keeper-${node}-`))): Promise<K> {
  const out: FromKeeper[] = [];
  const waiting = new Map<number, (m: Extract<FromKeeper, { type: 'reply' }>) => void>();
  const core = createKeeperCore(
    (m) => {
      out.push(m);
      if (m.type === 'reply') waiting.get(m.id)?.(m);
    },
    // The store is the job's, shared by every keeper: one keeper closing must not close it.
    { openStore: () => Promise.resolve(unclosable(store)) },
  );
  const k: K = {
    core,
    out,
    dir,
    request: (m) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        const t = setTimeout(() => reject(new Error(`no reply to ${m.type} within 10 s`)), 10_000);
        waiting.set(id, (r) => {
          clearTimeout(t);
          resolve(r);
        });
        core.handle({ ...m, id } as ToKeeper);
      }),
  };
  open.push(k);
  core.handle({ type: 'init', job: JOB, secret: 'keeper-secret', node, store: 'memory', host: '127.0.0.1', stateDir: dir, keep: 3, persistEvery: null, base: 1 });
  const t0 = Date.now();
  while (!out.some((m) => m.type === 'ready')) {
    if (Date.now() - t0 > 5000) throw new Error(`keeper ${node} not ready`);
    await new Promise((r) => setImmediate(r));
  }
  return k;
}

function version(slot: number, v: number): StateVersion {
  const data = new Uint8Array(new Float32Array([v, v + 0.5, -v, 42]).buffer);
  return { meta: { slot, version: v, step: v, entries: [{ name: 'w', kind: 'float32', bytes: data.byteLength, crc: 0 }] }, data: [data] };
}

describe('keeper core (no thread)', () => {
  it('replicates committed versions to the buddy, which serves them to a replacement after the node is lost', async () => {
    // The store is shared by the keepers, as the job's store is.
    const store = new MemoryStore();
    const k0 = await keeper(store, 0);
    const k1 = await keeper(store, 1);
    k0.core.handle({ type: 'topology', slot: 0, buddies: [1] });
    k1.core.handle({ type: 'topology', slot: 1, buddies: [0] });
    for (let v = 1; v <= 3; v++) k0.core.handle({ type: 'commit', ...version(0, v), replicate: true, further: false, persist: v === 1 });
    await k0.request({ type: 'durable', slot: 0 });
    const atBuddy = await k1.request({ type: 'list', slot: 0 });
    assert.ok(atBuddy.versions?.some((x) => x.version === 3), `buddy holds ${JSON.stringify(atBuddy.versions)}`);
    assert.deepEqual(readdirSync(join(k0.dir, 'slot-0')).filter((f) => f.endsWith('.rcs')), ['v000000000001.rcs'], 'the persisted version is on disk');

    // Node 0 is lost with its memory and its disk; a spare takes slot 0 on another host.
    await k0.core.close();
    const spare = await keeper(store, 2);
    spare.core.handle({ type: 'topology', slot: 0, buddies: [1] });
    const found = await spare.request({ type: 'list', slot: 0 });
    assert.ok(found.versions?.some((x) => x.version === 3));
    const got = await spare.request({ type: 'fetch', slot: 0, version: 3 });
    assert.equal(got.error, undefined);
    assert.deepEqual([...new Float32Array((got.version as StateVersion).data[0]!.slice().buffer)], [3, 3.5, -3, 42]);
    // A version no one holds is a clear error, not a hang.
    const none = await spare.request({ type: 'fetch', slot: 0, version: 99 });
    assert.match(none.error ?? '', /version 99 of slot 0 is not held intact anywhere/);
    await store.close();
  });

  it('replicas to K = 2 peers: the second gets only the versions marked further; node 0 lost with its first peer, the second still serves those', async () => {
    const store = new MemoryStore();
    const [k0, k1, k2] = [await keeper(store, 0), await keeper(store, 1), await keeper(store, 2)];
    k0.core.handle({ type: 'topology', slot: 0, buddies: [1, 2] });
    k1.core.handle({ type: 'topology', slot: 1, buddies: [2, 0] });
    k2.core.handle({ type: 'topology', slot: 2, buddies: [0, 1] });
    k0.core.handle({ type: 'commit', ...version(0, 4), replicate: true, further: true, persist: false });
    await k0.request({ type: 'durable', slot: 0 });
    // On the first peer's lattice only (replica-cadence.ts, toFurtherPeers).
    k0.core.handle({ type: 'commit', ...version(0, 5), replicate: true, further: false, persist: false });
    await k0.request({ type: 'durable', slot: 0 });
    const listed = async (k: K): Promise<number[]> => ((await k.request({ type: 'list', slot: 0 })).versions ?? []).map((x) => x.version);
    assert.deepEqual(await listed(k1), [4, 5], 'the first peer holds both');
    assert.deepEqual(await listed(k2), [4], 'the second peer only the one marked further');
    await k0.core.close();
    await k1.core.close();
    const spare = await keeper(store, 3);
    spare.core.handle({ type: 'topology', slot: 0, buddies: [2] });
    assert.deepEqual(await listed(spare), [4]);
    const got = await spare.request({ type: 'fetch', slot: 0, version: 4 });
    assert.equal(got.error, undefined);
    await store.close();
  });

  it('a push is stored only with its own data: data for another pending push is refused, not checked against it and dropped as stored', async () => {
    const store = new MemoryStore();
    const k1 = await keeper(store, 1);
    k1.core.handle({ type: 'topology', slot: 1, buddies: [0] });
    const address = (k1.out.find((m) => m.type === 'ready') as { address: string }).address;
    const c = new KeeperClient(address, JOB, 'keeper-secret');
    try {
      const sealed = (v: number): StateVersion => {
        const x = version(0, v);
        return { meta: { ...x.meta, entries: [{ ...x.meta.entries[0]!, crc: checksum(x.data[0]!) }] }, data: x.data };
      };
      const [v4, v5] = [sealed(4), sealed(5)];
      // Two pushes before the first one's data: what two streams queued request by request sent.
      assert.deepEqual((await c.request({ op: 'push', meta: v4.meta }, undefined, 5000)).head.need, [0]);
      assert.deepEqual((await c.request({ op: 'push', meta: v5.meta }, undefined, 5000)).head.need, [0]);
      const stale = await c.request({ op: 'push_data', slot: 0, version: 4 }, Buffer.from(v4.data[0]!), 5000);
      assert.equal(stale.head.ok, false, 'the sender learns its version was not stored');
      // One push and its data, back to back, as a session sends them.
      const stored = await c.session(async (exchange) => {
        await exchange({ op: 'push', meta: v5.meta }, undefined, 5000);
        return exchange({ op: 'push_data', slot: 0, version: 5 }, Buffer.from(v5.data[0]!), 5000);
      });
      assert.equal(stored.head.ok, true);
      const held = ((await k1.request({ type: 'list', slot: 0 })).versions ?? []).map((x) => x.version);
      assert.deepEqual(held, [5]);
    } finally {
      c.close();
      await store.close();
    }
  });

  it('the further peers stream counts its own cost, on the sender and on the receiver, and nothing when no version goes on it', async () => {
    const store = new MemoryStore();
    const [k0, k1, k2] = [await keeper(store, 0), await keeper(store, 1), await keeper(store, 2)];
    k0.core.handle({ type: 'topology', slot: 0, buddies: [1, 2] });
    k1.core.handle({ type: 'topology', slot: 1, buddies: [2, 0] });
    k2.core.handle({ type: 'topology', slot: 2, buddies: [0, 1] });
    const costOf = async (k: K): Promise<FurtherStreamCost> => (await k.request({ type: 'stream_cost' })).cost as FurtherStreamCost;
    // To the first peer only: not the further stream's work.
    k0.core.handle({ type: 'commit', ...version(0, 4), replicate: true, further: false, persist: false });
    await k0.request({ type: 'durable', slot: 0 });
    for (const k of [k0, k1, k2]) assert.deepEqual(await costOf(k), noCost(), 'nothing counted, nothing timed');
    k0.core.handle({ type: 'commit', ...version(0, 5), replicate: true, further: true, persist: false });
    await k0.request({ type: 'durable', slot: 0 });
    const [c0, c1, c2] = [await costOf(k0), await costOf(k1), await costOf(k2)];
    assert.equal(c0.sent.versions, 1);
    assert.equal(c0.sent.pushes, 1, 'not on the far lattice: to the second peer only');
    assert.equal(c0.sent.bytes, 16, "the second peer did not hold the version's bytes: they were sent");
    assert.ok(c0.sent.wallUs > 0);
    assert.equal(c2.stored.versions, 1, 'the second peer stored it from the further stream');
    assert.equal(c2.stored.pushes, 1);
    assert.equal(c2.stored.bytes, 16);
    assert.ok(c2.stored.wallUs > 0);
    if (process.platform === 'linux') assert.ok(Number.isFinite(c0.sent.cpuUs) && Number.isFinite(c2.stored.cpuUs), 'per-thread CPU read on Linux');
    assert.equal(c1.stored.versions, 0, "the first peer got it on the first peer's stream: not counted");
    assert.equal(c1.stored.wallUs, 0);
    assert.equal(c0.stored.versions + c2.sent.versions, 0);
    await store.close();
  });

  it('a node new to its slot asks its K partners only, not every keeper; all of them only when no partner nor the disk has a version, and not at the start', async () => {
    const store = new MemoryStore();
    // A keeper of the job that counts the connections made to it and closes them.
    const dialled: string[] = [];
    const silent = createServer((sock) => {
      dialled.push('silent');
      sock.destroy();
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    await store.put(`rollcall/${JOB}/keeper/9`, `127.0.0.1:${port}`);
    const [k0, k1] = [await keeper(store, 0), await keeper(store, 1)];
    k0.core.handle({ type: 'topology', slot: 0, buddies: [1] });
    k1.core.handle({ type: 'topology', slot: 1, buddies: [0] });
    k0.core.handle({ type: 'commit', ...version(0, 5), replicate: true, further: false, persist: false });
    await k0.request({ type: 'durable', slot: 0 });
    await k0.core.close();
    // The spare in node 0's place: its partner (node 1) held node 0's replicas.
    const spare = await keeper(store, 2);
    spare.core.handle({ type: 'topology', slot: 0, buddies: [1] });
    assert.ok((await spare.request({ type: 'list', slot: 0 })).versions?.some((x) => x.version === 5));
    assert.equal((await spare.request({ type: 'fetch', slot: 0, version: 5 })).error, undefined);
    assert.deepEqual(dialled, [], 'no keeper but the partner was dialled');
    // A slot whose partner holds nothing (node 2 has no copy of slot 3): at a job's start, that
    // is all; later (`wide`), every keeper is asked.
    const other = await keeper(store, 3);
    other.core.handle({ type: 'topology', slot: 3, buddies: [2] });
    assert.deepEqual((await other.request({ type: 'list', slot: 3 })).versions, []);
    assert.deepEqual(dialled, [], 'at the start: nobody else asked');
    assert.deepEqual((await other.request({ type: 'list', slot: 3, wide: true })).versions, []);
    assert.deepEqual(dialled, ['silent'], 'the fallback asks every keeper');
    silent.close();
    await store.close();
  });

  it('state declared replicated: a slot with no copy left takes the same version of any member, and holds it as its own', async () => {
    const store = new MemoryStore();
    const k1 = await keeper(store, 1);
    k1.core.handle({ type: 'topology', slot: 1, buddies: [] });
    k1.core.handle({ type: 'commit', ...version(1, 6), replicate: false, further: false, persist: false });
    await k1.request({ type: 'list', slot: 1 });
    // Slot 0's every copy is gone: a spare takes slot 0 and finds nothing of its own.
    const spare = await keeper(store, 3);
    spare.core.handle({ type: 'topology', slot: 0, buddies: [] });
    const strict = await spare.request({ type: 'fetch', slot: 0, version: 6 });
    assert.match(strict.error ?? '', /not held intact anywhere/, 'not without the declaration');
    const any = await spare.request({ type: 'fetch', slot: 0, version: 6, any: true });
    assert.equal(any.error, undefined);
    assert.deepEqual([...new Float32Array((any.version as StateVersion).data[0]!.slice().buffer)], [6, 6.5, -6, 42]);
    // Held as slot 0's from now on: the next recovery finds it here with node 1 gone too.
    assert.equal((any.version as StateVersion).meta.slot, 0);
    await k1.core.close();
    assert.ok((await spare.request({ type: 'list', slot: 0 })).versions?.some((x) => x.version === 6), 'listed as slot 0\'s');
    assert.equal((await spare.request({ type: 'fetch', slot: 0, version: 6 })).error, undefined, 'fetched without the declaration now');
    await store.close();
  });

  it('a damaged file is reported and skipped; truncate forgets a rolled-back future', async () => {
    const store = new MemoryStore();
    const k = await keeper(store, 0);
    k.core.handle({ type: 'topology', slot: 0, buddies: [] });
    for (let v = 1; v <= 2; v++) k.core.handle({ type: 'commit', ...version(0, v), replicate: false, further: false, persist: true });
    await k.request({ type: 'durable', slot: 0 });
    const files = readdirSync(join(k.dir, 'slot-0')).filter((f) => f.endsWith('.rcs'));
    assert.deepEqual(files, ['v000000000001.rcs', 'v000000000002.rcs']);
    await k.core.close();

    // The node restarts on the same disk (a resume); one file was cut short meanwhile.
    truncateSync(join(k.dir, 'slot-0', 'v000000000002.rcs'), 10);
    const again = await keeper(store, 0, k.dir);
    again.core.handle({ type: 'topology', slot: 0, buddies: [] });
    const listed = await again.request({ type: 'list', slot: 0 });
    assert.deepEqual(listed.versions?.map((x) => x.version), [1]);
    assert.ok(again.out.some((m) => m.type === 'event' && m.event === 'state_corrupt' && m.fields.version === 2), 'the damaged file is reported');

    again.core.handle({ type: 'commit', ...version(0, 5), replicate: false, further: false, persist: false });
    await again.request({ type: 'truncate', slot: 0, after: 1 });
    const after = await again.request({ type: 'list', slot: 0 });
    assert.ok(!after.versions?.some((x) => x.version === 5), 'the rolled-back version is gone');
    await store.close();
  });
});

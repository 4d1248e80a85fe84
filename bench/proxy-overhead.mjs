// Cost of the program -> proxy (worker thread) -> library path against the library called
// directly, for 2 ranks in one process each, plus the time to relaunch a proxy generation.
// Run after `npm run build`: node bench/proxy-overhead.mjs
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { startStoreServer } from '../dist/src/store/tcp-store-server.js';

const SIZES = [4096, 1 << 20, 4 << 20];
if (process.argv[2] === 'rank') {
  const { createCommunicator } = await import('../dist/src/comm/rendezvous.js');
  const { connectStore } = await import('../dist/src/store/tcp-store-client.js');
  const { ProxyHandle, sharedArray } = await import('../dist/src/proxy/proxy-handle.js');
  process.once('message', async (m) => {
    const out = {};
    const time = async (f, n) => {
      for (let i = 0; i < Math.min(n, 200); i++) await f();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await f();
      return Number(process.hrtime.bigint() - t0) / 1e3 / n;
    };
    const store = await connectStore(m.store, { secret: m.secret });
    const comm = await createCommunicator({ job: m.job + 'd', generation: 0, rank: m.rank, world: 2, secret: m.secret, store });
    const t0 = Date.now();
    const { proxy } = await ProxyHandle.launch({ store: m.store, secret: m.secret, job: m.job + 'p', generation: 0, rank: m.rank, world: 2 }, 10_000);
    out.launch_ms = Date.now() - t0;
    for (const bytes of SIZES) {
      const n = bytes <= 4096 ? 5000 : 100;
      const direct = new Float32Array(bytes / 4).fill(1);
      const shared = sharedArray(Float32Array, bytes / 4, 4).fill(1);
      const plain = new Float32Array(bytes / 4).fill(1);
      out[bytes] = {
        direct_us: await time(() => comm.allreduce(direct, 'avg'), n),
        proxy_shared_us: await time(() => proxy.allreduce(shared, 'avg'), n),
        proxy_staged_us: await time(() => proxy.allreduce(plain, 'avg'), n),
      };
    }
    await proxy.terminate();
    const t1 = Date.now();
    const again = await ProxyHandle.launch({ store: m.store, secret: m.secret, job: m.job + 'p', generation: 1, rank: m.rank, world: 2 }, 10_000);
    out.relaunch_cold_ms = Date.now() - t1;
    // A standby proxy started before the fault: the relaunch only pays the rendezvous.
    const spare = await ProxyHandle.standby(m.store, m.secret, 10_000);
    await again.proxy.terminate();
    const t2 = Date.now();
    await spare.activate({ store: m.store, secret: m.secret, job: m.job + 'p', generation: 2, rank: m.rank, world: 2 }, 10_000);
    out.relaunch_standby_ms = Date.now() - t2;
    await spare.terminate();
    comm.close();
    await store.close();
    process.send(out);
    process.exit(0);
  });
} else {
  const secret = randomBytes(8).toString('hex');
  const server = await startStoreServer({ host: '127.0.0.1', port: 0, secret });
  const job = `po-${process.pid}`;
  const kids = [0, 1].map(() => fork(new URL(import.meta.url).pathname, ['rank']));
  const results = await Promise.all(kids.map((k, rank) => new Promise((res) => { k.once('message', res); k.send({ store: server.address, secret, job, rank }); })));
  console.log(JSON.stringify(results[0], (k, v) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v)));
  await server.close();
}

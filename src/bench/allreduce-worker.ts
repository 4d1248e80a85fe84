import { createCommunicator } from '../comm/rendezvous.js';
import { connectStore } from '../store/tcp-store-client.js';

/**
 * One rank of `rollcall bench allreduce`, forked by the parent with its settings in env.
 * The timing loop is the same as the anchors' (2 warm-up calls, barrier, `iters` back-to-back
 * calls, barrier), so the figures compare like for like.
 */
interface Msg {
  store: string;
  secret: string;
  job: string;
  rank: number;
  world: number;
  sizes: number[];
  repeats: number;
}

process.once('message', (m: Msg) => {
  run(m).then(
    () => process.exit(0),
    (e: unknown) => {
      process.send?.({ error: String((e as Error)?.stack ?? e) });
      process.exit(1);
    },
  );
});

async function run(m: Msg): Promise<void> {
  const store = await connectStore(m.store, { secret: m.secret });
  const tuning = process.env.RC_CHUNK ? { chunkBytes: Number(process.env.RC_CHUNK) } : {};
  const comm = await createCommunicator({ job: m.job, generation: 0, rank: m.rank, world: m.world, secret: m.secret, store, tuning });
  for (const bytes of m.sizes) {
    const a = new Float32Array(Math.floor(bytes / 4)).fill(1);
    const iters = Math.max(3, Math.min(200, Math.floor(2e8 / Math.max(bytes, 1))));
    const samples: number[] = [];
    for (let rep = 0; rep < m.repeats; rep++) {
      for (let i = 0; i < 2; i++) await comm.allreduce(a, 'sum');
      await comm.barrier();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < iters; i++) await comm.allreduce(a, 'sum');
      await comm.barrier();
      samples.push(Number(process.hrtime.bigint() - t0) / 1e3 / iters);
      a.fill(1);
    }
    if (m.rank === 0) process.send?.({ bytes, samples });
  }
  comm.close();
  await store.close();
}

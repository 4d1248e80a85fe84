import type { Communicator } from '../comm/communicator.js';
import { createCommunicator } from '../comm/rendezvous.js';
import { openStore } from '../store/open-store.js';

/**
 * One rank of `rollcall bench generation`: on each "go" it ends its communicator, builds the
 * next generation's and runs a first collective, then reports. `via`: `listener` builds on the
 * node's one listener and the members' cached addresses (the runtime's inline proxies);
 * `store` calls createCommunicator() (the library's way, and every generation's before the
 * stable listeners).
 */
interface Init {
  store: string;
  secret: string;
  job: string;
  rank: number;
  world: number;
  via: 'listener' | 'store';
  bytes: number;
  /** Listener arm: unix (the nodes' sockets, the runtime's default on one host) or tcp only. */
  transport?: 'tcp' | 'unix';
}

let comm: Communicator | undefined;

process.once('message', (m: Init) => {
  start(m).then(
    (next) => {
      process.send?.({ ready: true });
      process.on('message', (g: { go?: number; exit?: true }) => {
        if (g.exit) return process.exit(0);
        const t0 = performance.now();
        next(g.go!).then(
          () => process.send?.({ done: g.go, ms: performance.now() - t0 }),
          (e: unknown) => fail(e),
        );
      });
    },
    (e: unknown) => fail(e),
  );
});

function fail(e: unknown): void {
  process.send?.({ error: String((e as Error)?.stack ?? e) });
  process.exit(1);
}

async function start(m: Init): Promise<(generation: number) => Promise<void>> {
  // 64 processes starting on 2 cores: the store may take a while to answer them all.
  const store = await openStore(m.store, { secret: m.secret, requestTimeoutMs: 120_000, deadline: Date.now() + 120_000 });
  const members = Array.from({ length: m.world }, (_, r) => r);
  const common = { job: m.job, rank: m.rank, world: m.world, secret: m.secret, rendezvousTimeoutMs: 120_000, tuning: { timeoutMs: 120_000 } };
  let build: (generation: number) => Promise<Communicator>;
  if (m.via === 'listener') {
    // Loaded only here, so that the store arm also runs on a build without stable listeners.
    const { NodeListener } = await import('../proxy/node-listener.js');
    const { openCommunicator } = await import('../comm/rendezvous.js');
    const node = await NodeListener.open({ store, job: m.job, node: m.rank, admitWaitMs: 120_000, localSocket: m.transport !== 'tcp' });
    // As the runtime's proxies do: the links of the generation before are taken back (link-park.ts).
    build = async (generation) => openCommunicator({ ...common, generation, endpoint: node.endpoint, roster: await node.book.roster(members, Date.now() + 120_000), reuseLinks: true });
  } else {
    build = (generation) => createCommunicator({ ...common, generation, store });
  }
  const buf = new Float32Array(Math.max(1, Math.floor(m.bytes / 4)));
  return async (generation) => {
    comm?.destroy('next generation');
    comm = await build(generation);
    buf.fill(1);
    await comm.allreduce(buf);
    if (buf[0] !== m.world) throw new Error(`allreduce gave ${buf[0]}, expected ${m.world}`);
  };
}

import { parentPort } from 'node:worker_threads';
import type { Communicator } from '../comm/communicator.js';
import { viewOf, type NumericArray } from '../comm/dtype.js';
import { createCommunicator } from '../comm/rendezvous.js';
import type { Store } from '../store/store.js';
import { openStore } from '../store/open-store.js';
import type { StoreAccess } from '../protocol/store-access.js';
import { serializeError as serialize } from '../protocol/error-wire.js';
import type { FromProxy, ProxyOp, SharedView, ToProxy } from '../protocol/proxy-messages.js';

/**
 * The communication proxy: a worker thread that owns one communicator for one generation.
 * It is disposable by design: on a membership change the program's SDK terminates it and
 * starts a fresh one, while the program's own thread (and pid) stays as it is.
 */
const port = parentPort;
if (!port) throw new Error('proxy-worker must run as a worker thread');

let comm: Communicator | undefined;
let store: Store | undefined;

const post = (m: FromProxy): void => port.postMessage(m);

/** One store connection per proxy, made at prepare time if the proxy was started in advance. */
let storeReady: Promise<Store> | undefined;
const storeFor = (address: string, secret: string, access: StoreAccess | undefined): Promise<Store> => {
  storeReady ??= openStore(address, { secret, access }).then((s) => (store = s));
  return storeReady;
};

port.on('message', (m: ToProxy) => {
  if (m.type === 'prepare') {
    storeFor(m.store, m.secret, m.storeAccess).then(
      () => post({ type: 'prepared' }),
      (e: unknown) => post({ type: 'connect_failed', error: serialize(e) }),
    );
  } else if (m.type === 'connect') {
    const t0 = Date.now();
    storeFor(m.store, m.secret, m.storeAccess)
      .then((s) => {
        return createCommunicator({
          job: m.job,
          generation: m.generation,
          rank: m.rank,
          world: m.world,
          secret: m.secret,
          store: s,
          tuning: m.tuning ?? {},
          rendezvousTimeoutMs: m.rendezvousTimeoutMs ?? 10_000,
          host: m.host,
        });
      })
      .then((c) => {
        comm = c;
        c.on('broken', (err) => post({ type: 'broken', error: serialize(err) }));
        post({ type: 'ready', generation: m.generation, rank: m.rank, world: m.world, ms: Date.now() - t0 });
      })
      .catch((e: unknown) => post({ type: 'connect_failed', error: serialize(e) }));
  } else if (m.type === 'op') {
    run(m).then(
      () => post({ type: 'done', id: m.id }),
      (e: unknown) => post({ type: 'failed', id: m.id, error: serialize(e) }),
    );
  } else if (m.type === 'close') {
    comm?.close();
    void store?.close();
    port.close();
  }
});

function view(v: SharedView): NumericArray {
  return viewOf(v.dtype, new Uint8Array(v.sab), v.byteOffset / (v.dtype === 'float64' ? 8 : 4), v.length);
}

async function run(m: ProxyOp): Promise<void> {
  if (!comm) throw new Error('proxy has no communicator yet');
  switch (m.op) {
    case 'allreduce':
      await comm.allreduce(view(m.buf), m.redop);
      return;
    case 'broadcast':
      await comm.broadcast(view(m.buf), m.root);
      return;
    case 'allgather':
      await comm.allgather(view(m.buf), view(m.out));
      return;
    case 'barrier':
      await comm.barrier();
      return;
    case 'send':
      await comm.send(view(m.buf), m.peer, { tag: m.tag });
      return;
    case 'recv':
      await comm.recv(view(m.buf), m.peer, { tag: m.tag });
      return;
  }
}

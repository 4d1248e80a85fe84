import { parentPort } from 'node:worker_threads';
import type { Communicator } from '../comm/communicator.js';
import { viewOf, type NumericArray } from '../comm/dtype.js';
import { createCommunicator, openCommunicator } from '../comm/rendezvous.js';
import { Endpoint } from '../comm/endpoint.js';
import { AddressBook } from '../comm/roster.js';
import { TcpTransport } from '../comm/tcp-transport.js';
import { ClosedError } from '../errors.js';
import type { ProxyConnect } from '../protocol/proxy-messages.js';
import { backoffMs, deadlineIn, remaining, sleep } from '../util/deadline.js';
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
        if (m.listen !== undefined && m.roster !== undefined) return onNodeAddress(m, s);
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
        post({ type: 'ready', generation: m.generation, rank: m.rank, world: m.world, ms: Date.now() - t0, ...(listening ? { address: listening } : {}) });
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

/** Where this proxy listens, when it is on its node's address. */
let listening: string | undefined;

/** How long the node's port is waited for while the previous generation's thread lets go of it. */
const BIND_AGAIN_MS = 1000;

/**
 * A generation's communicator on the node's own address (proxy/thread-port.ts): the port this
 * node published once is bound again (the previous generation's thread may still be letting go
 * of it), and the roster comes from the SDK, so the store sees no write. If the port stays
 * taken (another process got it in between), the proxy listens on a new one and says so in
 * `ready`; the SDK publishes it, and peers that find the old one refused ask for it (readdress).
 */
async function onNodeAddress(m: ProxyConnect, s: Store): Promise<Communicator> {
  const transport = new TcpTransport();
  const rdvMs = m.rendezvousTimeoutMs ?? 10_000;
  const until = deadlineIn(Math.min(BIND_AGAIN_MS, rdvMs));
  let endpoint: Endpoint | undefined;
  for (let attempt = 0; !endpoint; attempt++) {
    try {
      endpoint = await Endpoint.open({ transport, host: m.host, again: m.listen, admitWaitMs: rdvMs, job: m.job });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
      const wait = backoffMs(attempt, 2, 50);
      if (remaining(until) <= wait) break;
      await sleep(wait);
    }
  }
  endpoint ??= await Endpoint.open({ transport, host: m.host, admitWaitMs: rdvMs, job: m.job });
  listening = endpoint.address;
  const members = m.members ?? [];
  // Read only when a peer's address refuses past the rebinding grace: it may have moved.
  const book = new AddressBook(s, m.job);
  try {
    return await openCommunicator({
      job: m.job,
      generation: m.generation,
      rank: m.rank,
      world: m.world,
      secret: m.secret,
      tuning: m.tuning ?? {},
      rendezvousTimeoutMs: rdvMs,
      endpoint,
      ownsEndpoint: true,
      roster: m.roster!,
      peersRebind: true,
      readdress: (rank, stale, deadline) => {
        const node = members[rank];
        if (node === undefined) return Promise.reject(new ClosedError(`rank ${rank} has no node in generation ${m.generation}`, { rank }));
        return book.moved(node, rank, stale, deadline);
      },
    });
  } catch (e) {
    endpoint.close();
    throw e;
  }
}

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

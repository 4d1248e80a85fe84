import type { CommTuning } from '../comm/communicator.js';
import type { DType, ReduceOp } from '../comm/dtype.js';
import type { SerializedError } from './error-wire.js';
import type { StoreAccess } from './store-access.js';

/**
 * Messages between a program and its proxy worker. Buffers travel as views over a
 * SharedArrayBuffer: postMessage shares that memory instead of copying it, so the proxy
 * reduces in the program's own arrays.
 */
export interface ProxyConnect {
  type: 'connect';
  store: string;
  storeAccess?: StoreAccess;
  secret: string;
  job: string;
  generation: number;
  rank: number;
  world: number;
  tuning?: Partial<CommTuning>;
  rendezvousTimeoutMs?: number;
  /** Address the communicator listens on; default loopback. */
  host?: string;
  /**
   * The generation's members, node ids in rank order (from the membership record): with them a
   * proxy on its node's listener builds the roster from addresses published once (no store write).
   */
  members?: number[];
  /**
   * A thread proxy on its node's address (proxy/thread-port.ts): the address to listen at again
   * (its port; the host to bind is `host`), and the generation's roster (every rank's address,
   * in rank order, from the addresses published once). Without them the proxy goes the library's
   * way, through the store.
   */
  listen?: string;
  roster?: string[];
}

export type ProxyOp =
  | { type: 'op'; id: number; op: 'allreduce'; buf: SharedView; redop: ReduceOp }
  | { type: 'op'; id: number; op: 'broadcast'; buf: SharedView; root: number }
  | { type: 'op'; id: number; op: 'allgather'; buf: SharedView; out: SharedView }
  | { type: 'op'; id: number; op: 'barrier' }
  | { type: 'op'; id: number; op: 'send'; buf: SharedView; peer: number; tag: number }
  | { type: 'op'; id: number; op: 'recv'; buf: SharedView; peer: number; tag: number };

export interface SharedView {
  sab: SharedArrayBuffer;
  byteOffset: number;
  length: number;
  dtype: DType;
}

/** Warm-up before any generation is known: load modules, connect to the store. */
export interface ProxyPrepare {
  type: 'prepare';
  store: string;
  storeAccess?: StoreAccess;
  secret: string;
}

export type ToProxy = ProxyPrepare | ProxyConnect | ProxyOp | { type: 'close' };

export type FromProxy =
  | { type: 'prepared' }
  /** `address`: where a proxy on its node's address listens (another port if its own was taken). */
  | { type: 'ready'; generation: number; rank: number; world: number; ms: number; address?: string }
  | { type: 'done'; id: number }
  | { type: 'failed'; id: number; error: SerializedError }
  /** The communicator broke: the proxy is finished; the FMS relaunches it. */
  | { type: 'broken'; error: SerializedError }
  | { type: 'connect_failed'; error: SerializedError };


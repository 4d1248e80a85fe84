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
  | { type: 'ready'; generation: number; rank: number; world: number; ms: number }
  | { type: 'done'; id: number }
  | { type: 'failed'; id: number; error: SerializedError }
  /** The communicator broke: the proxy is finished; the FMS relaunches it. */
  | { type: 'broken'; error: SerializedError }
  | { type: 'connect_failed'; error: SerializedError };


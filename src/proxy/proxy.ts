import type { EventEmitter } from 'node:events';
import type { NumericArray, ReduceOp } from '../comm/dtype.js';
import type { RollcallError } from '../errors.js';
import type { Moves } from '../util/state-moves.js';
import type { ProxyConnect } from '../protocol/proxy-messages.js';

export enum ProxyState {
  Starting = 'starting',
  /** Store connected, no generation yet: a relaunch only pays the rendezvous. */
  Standby = 'standby',
  Ready = 'ready',
  Broken = 'broken',
  Closed = 'closed',
}

/**
 * The moves of both kinds of proxy (each has one transition function that refuses any other).
 * Starting, then standby once the store is connected; activating goes back to starting until
 * the rendezvous is done, then ready. A thread proxy's thread may die at any point before it is
 * closed (broken). Broken may only close, and closed goes nowhere: a new generation gets a new
 * proxy.
 */
export const PROXY_MOVES: Moves<ProxyState> = {
  [ProxyState.Starting]: [ProxyState.Standby, ProxyState.Ready, ProxyState.Broken, ProxyState.Closed],
  [ProxyState.Standby]: [ProxyState.Starting, ProxyState.Broken, ProxyState.Closed],
  [ProxyState.Ready]: [ProxyState.Broken, ProxyState.Closed],
  [ProxyState.Broken]: [ProxyState.Closed],
  [ProxyState.Closed]: [],
};

/** The kinds of proxy (`--proxy inline|thread`, PROXY_KINDS) are part of the program's configuration, defined with it. */
export type { ProxyKind } from '../protocol/program-ipc.js';

/** One generation's communication proxy, as the SDK drives it. */
export interface CommProxy extends EventEmitter<{ broken: [RollcallError] }> {
  readonly state: ProxyState;
  /** Joins a generation; resolves with the rendezvous time in ms. */
  activate(connect: Omit<ProxyConnect, 'type'>, timeoutMs: number): Promise<number>;
  allreduce<T extends NumericArray>(buf: T, redop?: ReduceOp): Promise<T>;
  broadcast<T extends NumericArray>(buf: T, root?: number): Promise<T>;
  barrier(): Promise<void>;
  /** `output`: world × input.length elements, allocated by the caller. */
  allgather<T extends NumericArray>(input: T, output: T): Promise<T>;
  send<T extends NumericArray>(buf: T, peer: number, tag?: number): Promise<T>;
  recv<T extends NumericArray>(buf: T, peer: number, tag?: number): Promise<T>;
  /** Ends it at the end of the job: peers see a departure, not a fault. */
  close(graceMs?: number): Promise<void>;
  /** Ends it at once: a relaunch must not wait for a proxy stuck on a dead peer. */
  terminate(): Promise<void>;
}

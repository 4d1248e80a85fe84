import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { dtypeOf, type NumericArray, type ReduceOp } from '../comm/dtype.js';
import { ClosedError, RollcallError, TimeoutError } from '../errors.js';
import { reviveError } from '../protocol/error-wire.js';
import { isLegalMove, warnRefusedMove } from '../util/state-moves.js';
import type { FromProxy, ProxyConnect, ProxyOp, SharedView, ToProxy } from '../protocol/proxy-messages.js';
import type { StoreAccess } from '../protocol/store-access.js';
import { PROXY_MOVES, ProxyState, type CommProxy } from './proxy.js';
import type { ThreadPort } from './thread-port.js';
import { deadlineIn } from '../util/deadline.js';

const WORKER = fileURLToPath(new URL('./proxy-worker.js', import.meta.url));

/** A typed array whose memory the proxy can use directly (no copy across the thread boundary). */
export function sharedArray<T extends NumericArray>(ctor: new (buf: SharedArrayBuffer, offset: number, length: number) => T, length: number, bytesPer: number): T {
  return new ctor(new SharedArrayBuffer(length * bytesPer), 0, length);
}

/**
 * The program's side of one proxy generation. Operations on arrays that live in a
 * SharedArrayBuffer are zero-copy; other arrays are staged through shared memory and copied
 * back, which costs two memcpys.
 */
export class ProxyHandle extends EventEmitter<{ broken: [RollcallError] }> implements CommProxy {
  /** Read through `state`; changed only by moveTo(). */
  private proxyState = ProxyState.Starting;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  private constructor(
    private readonly worker: Worker,
    private readonly port: ThreadPort | undefined,
  ) {
    super();
    worker.on('message', (m: FromProxy) => this.onMessage(m));
    worker.on('error', (e) => this.breakWith(new ClosedError(`proxy thread crashed: ${e.message}`)));
    worker.on('exit', () => this.breakWith(new ClosedError('proxy thread exited')));
  }

  /**
   * Starts a proxy thread ahead of need: modules loaded, store connected. Starting a thread
   * and loading the library took most of a relaunch (see docs/architecture.md), so the SDK keeps
   * one standby proxy and activates it when the membership changes. With the node's `port`, it
   * listens there and builds the roster from the generation's members (thread-port.ts), writing
   * nothing to the store; without it, it goes the library's way through the store.
   */
  static standby(store: string, secret: string, timeoutMs: number, storeAccess?: StoreAccess, port?: ThreadPort): Promise<ProxyHandle> {
    const proxy = new ProxyHandle(new Worker(WORKER), port);
    return proxy.request({ type: 'prepare', store, storeAccess, secret }, 'prepared', timeoutMs, 'proxy did not start').then(() => {
      proxy.moveTo(ProxyState.Standby);
      return proxy;
    });
  }

  /** PROXY_MOVES, shared with the inline proxy. */
  get state(): ProxyState {
    return this.proxyState;
  }

  /** The one place the state changes; an illegal move is refused and reported, never made. */
  private moveTo(to: ProxyState): boolean {
    if (!isLegalMove(PROXY_MOVES, this.proxyState, to)) {
      warnRefusedMove('thread proxy', this.proxyState, to);
      return false;
    }
    this.proxyState = to;
    return true;
  }

  /** Joins a generation; resolves with the rendezvous time in ms. */
  async activate(connect: Omit<ProxyConnect, 'type'>, timeoutMs: number): Promise<number> {
    if (this.proxyState !== ProxyState.Standby) throw new ClosedError(`proxy is ${this.proxyState}, not standby`);
    this.moveTo(ProxyState.Starting);
    const t0 = Date.now();
    const port = this.port;
    const members = connect.members;
    let onNode: Pick<ProxyConnect, 'listen' | 'roster'> = {};
    if (port && members) {
      if (members.length !== connect.world) throw new ClosedError(`generation ${connect.generation} has ${members.length} members for a world of ${connect.world}`);
      const roster = await port.book.roster(members, deadlineIn(Math.min(timeoutMs, connect.rendezvousTimeoutMs ?? timeoutMs)));
      onNode = { listen: port.address, roster };
      // Terminated while the roster was read: its thread is gone, and would never answer.
      if ((this.proxyState as ProxyState) !== ProxyState.Starting) throw new ClosedError(`proxy for generation ${connect.generation} ended while joining`, { rank: connect.rank });
    }
    const m = await this.request({ type: 'connect', ...connect, ...onNode }, 'ready', Math.max(1, timeoutMs - (Date.now() - t0)), `proxy for generation ${connect.generation} was not ready`, connect.rank);
    // Ended (terminated, its thread lost) while joining: as for the inline proxy, it stays ended.
    // (A cast: the compiler narrowed the state before the awaits, and moveTo() does not widen it.)
    if ((this.proxyState as ProxyState) !== ProxyState.Starting) throw new ClosedError(`proxy for generation ${connect.generation} ended while joining`, { rank: connect.rank });
    if (port && m.type === 'ready' && m.address !== undefined) await port.moved(m.address);
    this.moveTo(ProxyState.Ready);
    return m.type === 'ready' ? m.ms : 0;
  }

  private request(msg: ToProxy, want: 'prepared' | 'ready', timeoutMs: number, what: string, rank?: number): Promise<FromProxy> {
    const worker = this.worker;
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('exit', onExit);
      };
      // Terminated while waiting (a newer generation superseded this one): fail now, not at the timeout.
      const onExit = (): void => {
        done();
        reject(new ClosedError(`${what}: proxy thread ended`, { rank }));
      };
      worker.on('exit', onExit);
      const timer = setTimeout(() => {
        done();
        void worker.terminate();
        reject(new TimeoutError(`${what} within ${timeoutMs} ms`, { rank }));
      }, timeoutMs);
      const onMessage = (m: FromProxy): void => {
        if (m.type === want) {
          done();
          resolve(m);
        } else if (m.type === 'connect_failed') {
          done();
          void worker.terminate();
          reject(reviveError(m.error, 'proxy'));
        }
      };
      worker.on('message', onMessage);
      worker.postMessage(msg);
    });
  }

  allreduce<T extends NumericArray>(buf: T, redop: ReduceOp = 'sum'): Promise<T> {
    return this.staged(buf, (v) => ({ type: 'op', id: 0, op: 'allreduce', buf: v, redop }));
  }

  broadcast<T extends NumericArray>(buf: T, root = 0): Promise<T> {
    return this.staged(buf, (v) => ({ type: 'op', id: 0, op: 'broadcast', buf: v, root }));
  }

  barrier(): Promise<void> {
    return this.call({ type: 'op', id: 0, op: 'barrier' });
  }

  /** As staged() below, with two buffers: the input copied in, the output copied back. */
  async allgather<T extends NumericArray>(input: T, output: T): Promise<T> {
    const dtype = dtypeOf(input);
    const shared = (b: NumericArray): SharedArrayBuffer | undefined => (b.buffer instanceof SharedArrayBuffer ? b.buffer : undefined);
    const inStage = shared(input) ? undefined : this.takeStaging(input.byteLength);
    const outStage = shared(output) ? undefined : this.takeStaging(output.byteLength);
    const viewOf = (b: NumericArray, stage: SharedArrayBuffer | undefined): SharedView =>
      stage ? { sab: stage, byteOffset: 0, length: b.length, dtype } : { sab: b.buffer as SharedArrayBuffer, byteOffset: b.byteOffset, length: b.length, dtype };
    try {
      if (inStage) new Uint8Array(inStage, 0, input.byteLength).set(new Uint8Array(input.buffer, input.byteOffset, input.byteLength));
      await this.call({ type: 'op', id: 0, op: 'allgather', buf: viewOf(input, inStage), out: viewOf(output, outStage) });
      if (outStage) new Uint8Array(output.buffer, output.byteOffset, output.byteLength).set(new Uint8Array(outStage, 0, output.byteLength));
    } finally {
      if (inStage) this.staging.push(inStage);
      if (outStage) this.staging.push(outStage);
    }
    return output;
  }

  send<T extends NumericArray>(buf: T, peer: number, tag = 0): Promise<T> {
    return this.staged(buf, (v) => ({ type: 'op', id: 0, op: 'send', buf: v, peer, tag }));
  }

  recv<T extends NumericArray>(buf: T, peer: number, tag = 0): Promise<T> {
    return this.staged(buf, (v) => ({ type: 'op', id: 0, op: 'recv', buf: v, peer, tag }));
  }

  /**
   * Ends the proxy at the end of the job: the communicator says BYE after its last data, so peers
   * still finishing see a departure, not a reset that their FMS would take for a fault. A
   * thread that lingers past graceMs is terminated.
   */
  async close(graceMs = 1000): Promise<void> {
    if (this.proxyState !== ProxyState.Ready) return this.terminate();
    const exited = new Promise<void>((r) => this.worker.once('exit', () => r()));
    this.worker.postMessage({ type: 'close' });
    const t = setTimeout(() => void this.worker.terminate(), graceMs);
    await exited;
    clearTimeout(t);
    this.breakWith(new ClosedError('proxy closed'), ProxyState.Closed);
  }

  /** Ends the thread at once: a relaunch must not wait for a proxy stuck on a dead peer. */
  async terminate(): Promise<void> {
    this.breakWith(new ClosedError('proxy terminated'), ProxyState.Closed);
    await this.worker.terminate();
  }

  private async staged<T extends NumericArray>(buf: T, make: (v: SharedView) => ProxyOp): Promise<T> {
    const dtype = dtypeOf(buf);
    if (buf.buffer instanceof SharedArrayBuffer) {
      await this.call(make({ sab: buf.buffer, byteOffset: buf.byteOffset, length: buf.length, dtype }));
      return buf;
    }
    // One staging area, grown as needed: a fresh SharedArrayBuffer per call cost more than the
    // collective itself at 4 MiB. Calls are serialised per proxy, so one area is the usual case;
    // overlapping calls (send and recv together) each take their own.
    const sab = this.takeStaging(buf.byteLength);
    try {
      new Uint8Array(sab, 0, buf.byteLength).set(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
      await this.call(make({ sab, byteOffset: 0, length: buf.length, dtype }));
      new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength).set(new Uint8Array(sab, 0, buf.byteLength));
    } finally {
      this.staging.push(sab);
    }
    return buf;
  }

  private readonly staging: SharedArrayBuffer[] = [];

  private takeStaging(bytes: number): SharedArrayBuffer {
    const i = this.staging.findIndex((s) => s.byteLength >= bytes);
    if (i >= 0) return this.staging.splice(i, 1)[0]!;
    return new SharedArrayBuffer(Math.max(bytes, 4096));
  }

  private call(m: ProxyOp): Promise<void> {
    if (this.proxyState !== ProxyState.Ready) return Promise.reject(new ClosedError(`proxy is ${this.proxyState}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...m, id });
    });
  }

  private onMessage(m: FromProxy): void {
    if (m.type === 'done' || m.type === 'failed') {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.type === 'done') p?.resolve();
      else p?.reject(reviveError(m.error, 'proxy'));
    } else if (m.type === 'broken') {
      this.breakWith(reviveError(m.error, 'proxy'));
    }
  }

  private breakWith(err: RollcallError, state = ProxyState.Broken): void {
    if (this.proxyState === ProxyState.Broken || this.proxyState === ProxyState.Closed || !this.moveTo(state)) return;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    if (state === ProxyState.Broken) this.emit('broken', err);
  }
}

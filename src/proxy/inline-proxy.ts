import { EventEmitter } from 'node:events';
import type { Communicator } from '../comm/communicator.js';
import type { NumericArray, ReduceOp } from '../comm/dtype.js';
import { createCommunicator, openCommunicator } from '../comm/rendezvous.js';
import { deadlineIn } from '../util/deadline.js';
import type { NodeListener } from './node-listener.js';
import { ClosedError, TimeoutError, type RollcallError } from '../errors.js';
import type { Store } from '../store/store.js';
import { openStore } from '../store/open-store.js';
import type { StoreAccess } from '../protocol/store-access.js';
import { isLegalMove, warnRefusedMove } from '../util/state-moves.js';
import type { ProxyConnect } from '../protocol/proxy-messages.js';
import { PROXY_MOVES, ProxyState, type CommProxy } from './proxy.js';

/**
 * The communication proxy run on the program's own thread. An operation is a direct call on the
 * communicator, with no message to another thread: the hand-off to a thread was measured to
 * cost more than it looks (docs/architecture.md, "The proxy"). The proxy stays disposable: a
 * relaunch destroys this communicator and builds the next generation's, and the program keeps
 * its pid and its memory.
 */
export class InlineProxy extends EventEmitter<{ broken: [RollcallError] }> implements CommProxy {
  /** Read through `state`; changed only by moveTo(). */
  private proxyState = ProxyState.Starting;
  private comm: Communicator | undefined;
  private readonly abort = new AbortController();

  private constructor(
    private readonly store: Store | undefined,
    private readonly node: NodeListener | undefined,
  ) {
    super();
  }

  /** Connects to the store ahead of need, so a relaunch pays only the rendezvous. */
  static async standby(store: string, secret: string, timeoutMs: number, access?: StoreAccess): Promise<InlineProxy> {
    const s = await openStore(store, { secret, access, requestTimeoutMs: timeoutMs });
    const p = new InlineProxy(s, undefined);
    p.moveTo(ProxyState.Standby);
    return p;
  }

  /**
   * A standby on the node's own listener (the SDK's, one per program): activated with the
   * generation's members, it builds the communicator from their published addresses and
   * writes nothing to the store.
   */
  static onNode(node: NodeListener): InlineProxy {
    const p = new InlineProxy(undefined, node);
    p.moveTo(ProxyState.Standby);
    return p;
  }

  /** PROXY_MOVES, shared with the thread proxy. */
  get state(): ProxyState {
    return this.proxyState;
  }

  /** The one place the state changes; an illegal move is refused and reported, never made. */
  private moveTo(to: ProxyState): boolean {
    if (!isLegalMove(PROXY_MOVES, this.proxyState, to)) {
      warnRefusedMove('inline proxy', this.proxyState, to);
      return false;
    }
    this.proxyState = to;
    return true;
  }

  async activate(connect: Omit<ProxyConnect, 'type'>, timeoutMs: number): Promise<number> {
    if (this.proxyState !== ProxyState.Standby) throw new ClosedError(`proxy is ${this.proxyState}, not standby`);
    this.moveTo(ProxyState.Starting);
    const t0 = Date.now();
    const made = this.join(connect, Math.min(timeoutMs, connect.rendezvousTimeoutMs ?? timeoutMs));
    // Terminated while joining: the communicator may still complete; it must not outlive us.
    made.then((c) => this.proxyState === ProxyState.Closed && c.destroy('superseded'), () => undefined);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`proxy for generation ${connect.generation} was not ready within ${timeoutMs} ms`, { rank: connect.rank })), timeoutMs);
    });
    try {
      const comm = await Promise.race([made, deadline]);
      // (A cast: the compiler narrowed the state before the await, and moveTo() does not widen it.)
      if ((this.proxyState as ProxyState) !== ProxyState.Starting) {
        comm.destroy('superseded');
        throw new ClosedError(`proxy for generation ${connect.generation} ended while joining`, { rank: connect.rank });
      }
      this.comm = comm;
      comm.on('broken', (err) => {
        if (this.proxyState === ProxyState.Ready && this.moveTo(ProxyState.Broken)) this.emit('broken', err);
      });
      this.moveTo(ProxyState.Ready);
      return Date.now() - t0;
    } catch (e) {
      if ((this.proxyState as ProxyState) === ProxyState.Starting) void this.terminate();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** On the node's listener when the members are known, else through the store (the library's way). */
  private async join(connect: Omit<ProxyConnect, 'type'>, rendezvousTimeoutMs: number): Promise<Communicator> {
    const common = {
      job: connect.job,
      generation: connect.generation,
      rank: connect.rank,
      world: connect.world,
      secret: connect.secret,
      tuning: connect.tuning ?? {},
      rendezvousTimeoutMs,
      host: connect.host,
      signal: this.abort.signal,
    };
    const node = this.node;
    const members = connect.members;
    if (node && members) {
      if (members.length !== connect.world) throw new ClosedError(`generation ${connect.generation} has ${members.length} members for a world of ${connect.world}`);
      const roster = await node.book.roster(members, deadlineIn(rendezvousTimeoutMs), this.abort.signal);
      return openCommunicator({
        ...common,
        endpoint: node.endpoint,
        roster,
        // One generation after another on the node's endpoint: a recovery keeps the links to the partners it had.
        reuseLinks: true,
        readdress: (rank, stale, deadline) => node.book.moved(members[rank]!, rank, stale, deadline, this.abort.signal),
      });
    }
    if (!this.store) throw new ClosedError('a proxy on the node listener needs the generation\'s members');
    return createCommunicator({ ...common, store: this.store });
  }

  // async, so that a proxy that is not ready rejects rather than throws.
  async allreduce<T extends NumericArray>(buf: T, redop: ReduceOp = 'sum'): Promise<T> {
    return this.ready().allreduce(buf, redop);
  }

  async broadcast<T extends NumericArray>(buf: T, root = 0): Promise<T> {
    return this.ready().broadcast(buf, root);
  }

  async barrier(): Promise<void> {
    return this.ready().barrier();
  }

  async allgather<T extends NumericArray>(input: T, output: T): Promise<T> {
    return this.ready().allgather(input, output);
  }

  async send<T extends NumericArray>(buf: T, peer: number, tag = 0): Promise<T> {
    await this.ready().send(buf, peer, { tag });
    return buf;
  }

  async recv<T extends NumericArray>(buf: T, peer: number, tag = 0): Promise<T> {
    return this.ready().recv(buf, peer, { tag });
  }

  close(): Promise<void> {
    if (this.proxyState === ProxyState.Ready && this.moveTo(ProxyState.Closed)) {
      this.comm?.close();
      return this.store?.close() ?? Promise.resolve();
    }
    return this.terminate();
  }

  terminate(): Promise<void> {
    if (this.proxyState === ProxyState.Closed || !this.moveTo(ProxyState.Closed)) return Promise.resolve();
    this.abort.abort();
    this.comm?.destroy('terminated: its proxy is being relaunched');
    return this.store?.close() ?? Promise.resolve();
  }

  private ready(): Communicator {
    if (this.proxyState !== ProxyState.Ready || !this.comm) throw new ClosedError(`proxy is ${this.proxyState}`);
    return this.comm;
  }
}

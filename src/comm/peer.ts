import type { RollcallError } from '../errors.js';
import { ClosedError, ProtocolError } from '../errors.js';
import { EMPTY_HEADER, FrameType, type FrameFields, type FrameHeader } from './frame.js';
import { LinkState, type Link } from './link.js';

export enum PeerState {
  Ready = 'ready',
  /** The peer closed its communicator cleanly (BYE). */
  Departed = 'departed',
  Failed = 'failed',
}

/** What a peer reports upward to its communicator. */
export interface PeerHandler {
  frame(peer: Peer, h: FrameHeader, payload: Uint8Array): void;
  /** The peer is gone: `err` says why (reset, protocol error...), undefined after a clean BYE. */
  lost(peer: Peer, err: RollcallError | Error | undefined): void;
}

interface QueuedSend {
  type: FrameType;
  f: FrameFields;
  step: number;
  offset: number;
  payload: Uint8Array | undefined;
  onFlushed: ((err?: Error) => void) | undefined;
}

/**
 * One remote rank, reached over two links: `rx`, which we dialed and read from, and `tx`,
 * which it dialed and we write to (see tcp-transport.ts for why reads want dialed sockets).
 * Both are made on demand (peer-set.ts): the peer exists from the first frame we send it, the
 * first wait on it, or its dial to us, and sends made before `tx` is up are queued, in order,
 * still referencing the caller's memory until flushed, as any send does.
 */
export class Peer {
  state = PeerState.Ready;
  private rx: Link | undefined;
  private tx: Link | undefined;
  private readonly queued: QueuedSend[] = [];
  private handler: PeerHandler | undefined;
  /** Our final word (ABORT), kept for a link that comes up after it was said. */
  private finalWord: Uint8Array | undefined;
  /** Stands in for the links' times until they exist. */
  private since: number;

  constructor(
    readonly rank: number,
    now: number,
  ) {
    this.since = now;
  }

  /** Whether its dial to us is already in: a second one is refused. */
  get hasTx(): boolean {
    return this.tx !== undefined;
  }

  /** True once both links are up: until then liveness is the dial's deadline, not silence. */
  get connected(): boolean {
    return this.rx !== undefined && this.tx !== undefined;
  }

  get lastHeard(): number {
    return this.rx ? this.rx.lastHeard : this.since;
  }

  set lastHeard(t: number) {
    if (this.rx) this.rx.lastHeard = t;
    else this.since = t;
  }

  get lastSent(): number {
    return this.tx ? this.tx.lastSent : this.since;
  }

  attach(handler: PeerHandler): void {
    this.handler = handler;
  }

  private lost(err: Error | undefined): void {
    if (this.state !== PeerState.Ready) return;
    this.state = err === undefined ? PeerState.Departed : PeerState.Failed;
    // The communicator hears the cause first; the queued sends' failures then change nothing.
    this.handler?.lost(this, err);
    this.dropQueued(err ?? new ClosedError(`rank ${this.rank} departed`));
  }

  /** The link we dialed (we read from it). */
  setRx(link: Link): void {
    if (this.state !== PeerState.Ready || this.rx) return this.refuse(link);
    this.rx = link;
    link.attach({ frame: (h, p) => this.handler?.frame(this, h, p), lost: (err) => this.lost(err) });
  }

  /** The link it dialed (we write to it): queued sends go out now, in order. */
  setTx(link: Link): void {
    if (this.state !== PeerState.Ready || this.tx) return this.refuse(link);
    this.tx = link;
    // Only final words (ABORT, BYE) come back on the link we send on; see sendFinal().
    link.attach({
      frame: (h, p) => {
        if (h.type === FrameType.Abort) this.handler?.frame(this, h, p);
        else this.lost(new ProtocolError(`rank ${this.rank}: ${FrameType[h.type]} frame on a send-only link`, { rank: this.rank }));
      },
      // A clean FIN on the link we only send on carries no news of its own: the remote closes it
      // when it says goodbye on our receive link, and a crash closes the receive link too.
      // Only the receive link is ordered with the data, so only it decides; until it exists,
      // this one does.
      lost: (err) => {
        if (!link.endedCleanly || !this.rx) this.lost(err ?? new ClosedError(`rank ${this.rank} closed its connection`));
      },
    });
    for (const q of this.queued.splice(0)) link.sendFrame(q.type, q.f, q.step, q.offset, q.payload, q.onFlushed);
  }

  /** A link that came up for a peer already over: it hears our final word, if any, and closes. */
  private refuse(link: Link): void {
    if (this.finalWord && link.state === LinkState.Ready) {
      link.attach({ frame: () => undefined, lost: () => undefined });
      link.send(FrameType.Abort, {}, this.finalWord);
      link.conn.end();
    } else {
      link.destroy(new ClosedError(`rank ${this.rank}: a second or late link`));
    }
  }

  /** Fails the peer: its dial did not succeed. */
  dialFailed(err: Error): void {
    this.lost(err);
  }

  send(type: FrameType, h: Partial<FrameHeader>, payload?: Uint8Array, onFlushed?: (err?: Error) => void): void {
    const f = { ...EMPTY_HEADER, ...h };
    this.sendFrame(type, f, f.step, f.offset, payload, onFlushed);
  }

  sendFrame(type: FrameType, f: FrameFields, step: number, offset: number, payload: Uint8Array | undefined, onFlushed?: (err?: Error) => void): void {
    if (this.tx) this.tx.sendFrame(type, f, step, offset, payload, onFlushed);
    else if (this.state === PeerState.Ready) this.queued.push({ type, f, step, offset, payload, onFlushed });
    else onFlushed?.(new ClosedError(`rank ${this.rank} is gone`));
  }

  /** A heartbeat, on the link we write to; none before it exists (nothing to keep alive yet). */
  ping(): void {
    if (this.tx && this.state === PeerState.Ready && this.queued.length === 0) this.tx.send(FrameType.Ping, {});
  }

  /**
   * Sends a last frame on *both* links and closes them gracefully. The two TCP connections are
   * not ordered with each other, so a frame on one and a FIN on the other could arrive in
   * either order; on both links the frame always comes before that link's FIN. A link that
   * comes up later hears it too (refuse()).
   */
  sendFinal(type: FrameType.Abort, payload: Uint8Array): void {
    if (this.state !== PeerState.Ready) return;
    this.state = PeerState.Failed;
    this.finalWord = payload;
    this.dropQueued(new ClosedError(`communicator failed before rank ${this.rank} was reached`));
    for (const l of [this.tx, this.rx]) {
      if (!l || l.state !== LinkState.Ready) continue;
      l.send(type, {}, payload);
      l.conn.end();
    }
  }

  /**
   * A clean goodbye. BYE goes only where the data goes (tx), so it cannot overtake the last
   * frames of a collective; the other link is just closed.
   */
  bye(): void {
    if (this.state !== PeerState.Ready) return;
    this.state = PeerState.Departed;
    this.dropQueued(new ClosedError('communicator closed'));
    if (this.tx) this.tx.bye();
    this.rx?.conn.end();
  }

  /**
   * The communicator ended with this peer alive, and links are kept across generations: our
   * final word (ABORT, `payload`) on each live link, which then goes to `park` instead of
   * closing (link-park.ts). The peer holds no link afterwards.
   */
  release(payload: Uint8Array, park: (link: Link) => void): void {
    if (this.state === PeerState.Ready) {
      this.state = PeerState.Failed;
      this.dropQueued(new ClosedError(`communicator ended before rank ${this.rank} was reached`));
    }
    this.finalWord = payload;
    for (const l of [this.tx, this.rx]) {
      if (!l) continue;
      if (l.state === LinkState.Ready) {
        l.sayFinal(payload);
        park(l);
      } else {
        l.destroy(new ClosedError(`rank ${this.rank}: communicator ended`));
      }
    }
    this.tx = undefined;
    this.rx = undefined;
  }

  destroy(): void {
    this.state = PeerState.Failed;
    this.finalWord = undefined;
    this.dropQueued(new ClosedError('destroyed'));
    this.rx?.destroy(new Error('destroyed'));
    this.tx?.destroy(new Error('destroyed'));
  }

  private dropQueued(err: Error): void {
    for (const q of this.queued.splice(0)) q.onFlushed?.(err);
  }
}

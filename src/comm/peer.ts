import type { RollcallError } from '../errors.js';
import { ProtocolError } from '../errors.js';
import { FrameType, type FrameFields, type FrameHeader } from './frame.js';
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

/**
 * One remote rank, reached over two links: `rx`, which we dialed and read from, and `tx`,
 * which it dialed and we write to. See tcp-transport.ts for why reads want dialed sockets.
 */
export class Peer {
  state = PeerState.Ready;

  constructor(
    readonly rank: number,
    private readonly rx: Link,
    private readonly tx: Link,
  ) {}

  get lastHeard(): number {
    return this.rx.lastHeard;
  }

  set lastHeard(t: number) {
    this.rx.lastHeard = t;
  }

  get lastSent(): number {
    return this.tx.lastSent;
  }

  attach(handler: PeerHandler): void {
    const lost = (err: Error | undefined): void => {
      if (this.state !== PeerState.Ready) return;
      this.state = err === undefined ? PeerState.Departed : PeerState.Failed;
      handler.lost(this, err);
    };
    this.rx.attach({ frame: (h, p) => handler.frame(this, h, p), lost });
    // Only final words (ABORT, BYE) come back on the link we send on; see sendFinal().
    this.tx.attach({
      frame: (h, p) => {
        if (h.type === FrameType.Abort) handler.frame(this, h, p);
        else lost(new ProtocolError(`rank ${this.rank}: ${FrameType[h.type]} frame on a send-only link`, { rank: this.rank }));
      },
      // A clean FIN on the link we only send on carries no news of its own: the remote closes it
      // when it says goodbye on our receive link, and a crash closes the receive link too.
      // Only the receive link is ordered with the data, so only it decides.
      lost: (err) => {
        if (!this.tx.endedCleanly) lost(err);
      },
    });
  }

  send(type: FrameType, h: Partial<FrameHeader>, payload?: Uint8Array, onFlushed?: (err?: Error) => void): void {
    this.tx.send(type, h, payload, onFlushed);
  }

  sendFrame(type: FrameType, f: FrameFields, step: number, offset: number, payload: Uint8Array, onFlushed: (err?: Error) => void): void {
    this.tx.sendFrame(type, f, step, offset, payload, onFlushed);
  }

  /**
   * Sends a last frame on *both* links and closes them gracefully. The two TCP connections are
   * not ordered with each other, so a frame on one and a FIN on the other could arrive in
   * either order; on both links the frame always comes before that link's FIN.
   */
  sendFinal(type: FrameType.Abort, payload: Uint8Array): void {
    if (this.state !== PeerState.Ready) return;
    this.state = PeerState.Failed;
    for (const l of [this.tx, this.rx]) {
      if (l.state !== LinkState.Ready) continue;
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
    this.tx.bye();
    this.rx.conn.end();
  }

  destroy(): void {
    this.state = PeerState.Failed;
    this.rx.destroy(new Error('destroyed'));
    this.tx.destroy(new Error('destroyed'));
  }

  get usable(): boolean {
    return this.state === PeerState.Ready && this.tx.state === LinkState.Ready;
  }
}

import { ClosedError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { FrameType } from './frame.js';
import { LinkState, type Link } from './link.js';
import { Peer, PeerState, type PeerHandler } from './peer.js';

/** Dials rank `to` and authenticates for this generation; rejects with a typed error naming it. */
export type DialFn = (to: number) => Promise<Link>;

/**
 * A communicator's peers, made on demand: a peer exists once we first send to it, wait on it,
 * or it dials us, and then both its links are made (we dial it; its dial to us is accepted
 * by our endpoint). So a rank holds connections only to the partners its algorithms use.
 * The set counts nothing per interval in the world size: only the peers that exist.
 */
export class PeerSet {
  private readonly peers = new Map<number, Peer>();
  private handler: PeerHandler | undefined;
  /** Set once the communicator ended: no more dials; late links hear `finalWord` if it failed. */
  private over = false;
  private finalWord: Uint8Array | undefined;
  /** Ranks we dialed, in order: what the tests compare with the algorithms' partners. */
  readonly dialed: number[] = [];

  constructor(
    readonly rank: number,
    private readonly dial: DialFn,
    private readonly clock: Clock,
    private readonly onRelease: () => void = () => undefined,
    /**
     * Where live links go when the communicator ends, for the next generation to reuse
     * (link-park.ts); without it they are closed, as a library communicator's are.
     */
    private readonly park?: (link: Link) => void,
  ) {}

  attach(handler: PeerHandler): void {
    this.handler = handler;
  }

  values(): IterableIterator<Peer> {
    return this.peers.values();
  }

  has(rank: number): boolean {
    return this.peers.has(rank);
  }

  /** Ranks with a peer, ascending. */
  ranks(): number[] {
    return [...this.peers.keys()].sort((a, b) => a - b);
  }

  /** The peer for `rank`, made (and dialed) on first use. */
  peerFor(rank: number): Peer {
    const known = this.peers.get(rank);
    if (known) return known;
    const p = new Peer(rank, this.clock.now());
    if (this.over) {
      // Nothing reaches a rank after the end; its sends fail at once.
      p.state = PeerState.Failed;
      return p;
    }
    this.peers.set(rank, p);
    if (this.handler) p.attach(this.handler);
    this.dialed.push(rank);
    this.dial(rank).then(
      (link) => p.setRx(link),
      (e: Error) => p.dialFailed(e),
    );
    return p;
  }

  /** A link our endpoint accepted for this generation: the rank dialed us, so it is a partner. */
  accepted(link: Link): void {
    if (this.over) {
      // A rank that reaches us after our failure hears why, as the connected ranks did.
      if (this.finalWord && link.state === LinkState.Ready) {
        link.attach({ frame: () => undefined, lost: () => undefined });
        link.send(FrameType.Abort, {}, this.finalWord);
        link.conn.end();
      } else {
        link.destroy(new ClosedError('communicator ended'));
      }
      return;
    }
    this.peerFor(link.rank).setTx(link);
  }

  /** Whether a dialing rank is admitted: any other not linked yet; after our end, to hear our final word. */
  wants(rank: number): boolean {
    return rank !== this.rank && !this.peers.get(rank)?.hasTx;
  }

  /**
   * The communicator failed: `dead` ranks are dropped, every other hears `payload` (ABORT), and
   * so does any rank that reaches us later, so a failure spreads over whatever links exist.
   */
  fail(payload: Uint8Array, dead: readonly number[]): void {
    this.over = true;
    this.finalWord = payload;
    for (const p of this.peers.values()) {
      if (dead.includes(p.rank)) p.destroy();
      else if (this.park) p.release(payload, this.park);
      else p.sendFinal(FrameType.Abort, payload);
    }
  }

  /** A clean goodbye to every peer (close()). */
  bye(): void {
    this.over = true;
    for (const p of this.peers.values()) p.bye();
    this.release();
  }

  /**
   * Drops every link at once (destroy(), or close() of a broken communicator). Given a final
   * word and a park, a communicator that had not ended yet says it on every live link and parks
   * them instead (a proxy ended for a relaunch); links already parked by fail() stay parked.
   */
  destroy(finalWord?: Uint8Array): void {
    const park = finalWord !== undefined && !this.over ? this.park : undefined;
    this.over = true;
    this.finalWord = park ? finalWord : undefined;
    for (const p of this.peers.values()) {
      if (park) p.release(finalWord!, park);
      else p.destroy();
    }
    this.release();
  }

  private released = false;
  private release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease();
  }
}

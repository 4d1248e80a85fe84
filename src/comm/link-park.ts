import { ClosedError } from '../errors.js';
import type { FrameHeader } from './frame.js';
import { LinkState, type Link } from './link.js';

/**
 * How long a parked link waits to be reused. A recovery's next generation dials its partners
 * within a second or so here; a link still unused after this is to a node that left the job (or
 * a partner the new generation does not need), and is closed.
 */
export const PARK_MS = 10_000;

/**
 * A node's links between generations (docs/architecture.md, "Connections kept across
 * generations"). When a communicator ends with a partner alive, each side says its final word
 * on the link and parks it here instead of closing it; the next generation's dial to the same
 * address takes it back (take()) and runs the handshake for the new generation on it, and the
 * other side, whose parked link hears that HELLO, answers as it would a new connection
 * (`onHello`). A recovery then opens no socket to a partner it already had: no connect, no
 * accept, no teardown, which were a quarter of a 32-node recovery's CPU.
 *
 * One per endpoint, so per node: at most a few links per partner of the last generation, each
 * closed after PARK_MS unused.
 */
export class LinkPark {
  /** Links we dialed, by the address dialed. */
  private readonly dialed = new Map<string, Link>();
  private readonly timers = new Map<Link, NodeJS.Timeout>();
  private closed = false;
  /** Links taken back for a new generation (either side): what tests count. */
  reused = 0;

  constructor(
    /** An accepted link's dialer opened a new generation on it: admit it as a new connection. */
    private readonly onHello: (link: Link, h: FrameHeader, payload: Uint8Array) => void,
    private readonly keepMs = PARK_MS,
  ) {}

  /** How many links are parked now. */
  get size(): number {
    return this.timers.size;
  }

  /** A live link whose communicator ended, with our final word said on it. */
  put(link: Link): void {
    if (this.closed || link.state !== LinkState.Ready) return link.destroy(new ClosedError('no generation to keep the link for'));
    const timer = setTimeout(() => this.drop(link, new ClosedError('parked link unused')), this.keepMs);
    timer.unref();
    this.timers.set(link, timer);
    if (link.role === 'dialer' && link.dialedAddress !== undefined) {
      const older = this.dialed.get(link.dialedAddress);
      this.dialed.set(link.dialedAddress, link);
      // One link per partner is what a generation reuses; an older one (a double dial's) goes.
      if (older && older !== link) this.drop(older, new ClosedError('superseded by a newer parked link'));
    }
    link.park({
      lost: () => this.forget(link),
      hello: (h, p) => {
        this.forget(link);
        this.reused++;
        this.onHello(link, h, p);
      },
    });
  }

  /** The parked link we dialed to `address`, taken out for a new generation, if there is a live one. */
  take(address: string): Link | undefined {
    const link = this.dialed.get(address);
    if (!link) return undefined;
    this.forget(link);
    if (link.state !== LinkState.Ready) return undefined;
    this.reused++;
    return link;
  }

  /** Closes every parked link (the endpoint closes). */
  close(): void {
    this.closed = true;
    for (const link of [...this.timers.keys()]) this.drop(link, new ClosedError('endpoint closed'));
  }

  private drop(link: Link, why: Error): void {
    this.forget(link);
    link.destroy(why);
  }

  private forget(link: Link): void {
    const timer = this.timers.get(link);
    if (timer) clearTimeout(timer);
    this.timers.delete(link);
    if (link.dialedAddress !== undefined && this.dialed.get(link.dialedAddress) === link) this.dialed.delete(link.dialedAddress);
  }
}

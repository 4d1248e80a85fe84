import { AuthError, ClosedError, PeerFailedError, ProtocolError, RollcallError, TimeoutError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { remaining, type Deadline } from '../util/deadline.js';
import { receiveBuffer, releaseReceiveBuffer } from './simd.js';
import { FrameDecoder } from './frame-decoder.js';
import { BufferPool } from './buffer-pool.js';
import { EMPTY_HEADER, FrameType, HEADER_BYTES, PADDING, encodeHeaderInto, padOf, type FrameFields, type FrameHeader } from './frame.js';
import {
  AuthSchema,
  HelloAckSchema,
  HelloSchema,
  RejectSchema,
  authFailure,
  decodeJson,
  encodeJson,
  handshakeMac,
  macMatches,
  newNonce,
  type Hello,
} from './handshake.js';
import type { Conn } from './transport.js';

export enum LinkState {
  Handshaking = 'handshaking',
  Ready = 'ready',
  /** The remote said goodbye (BYE) and closed cleanly. */
  Departed = 'departed',
  Failed = 'failed',
}

/** What a ready link reports upward. */
export interface LinkHandler {
  frame(h: FrameHeader, payload: Uint8Array): void;
  /** The connection is gone or unusable; `err` says why (reset, protocol error...), undefined after a BYE. */
  lost(err: RollcallError | Error | undefined): void;
}

export interface GroupIdentity {
  job: string;
  generation: number;
  rank: number;
  world: number;
  secret: string;
  maxFrameBytes: number;
}

/** What a listener decided about a dialer: the communicator it reaches and whether it wants that rank now. */
export interface Admission {
  me: GroupIdentity;
  isWanted: (rank: number) => boolean;
}

/** What a link parked between generations reports to its park (link-park.ts). */
export interface ParkedHandler {
  /** The connection is gone while parked. */
  lost(): void;
  /** An accepted link's dialer opened a new generation on it: its HELLO, to run the acceptor's handshake on. */
  hello(h: FrameHeader, payload: Uint8Array): void;
}

/** Read buffer of a link we receive on; links we only send on need just the handshake. */
const RX_BUFFER = 2 * 1024 * 1024;
const TX_BUFFER = 16 * 1024;
/**
 * Frames up to this payload size are copied behind their header and written as one buffer:
 * one plain write instead of a corked writev, and the caller's memory is free at once.
 */
export const PACK_LIMIT = 16 * 1024;

/**
 * One authenticated connection to one rank: framing, the handshake and liveness bookkeeping.
 * The dialer proves itself first; both sides prove they hold the job secret.
 *
 * A link can outlive its generation (docs/architecture.md, "Connections kept across
 * generations"): when a communicator ends with the link alive, each side says a final word
 * (ABORT) on it instead of closing it, and everything after a side's final word is for a later
 * generation. Frames of the old generation still in flight are dropped; the dialer may then open
 * the next generation on the same connection with a new HELLO and the full handshake, bound to
 * that generation, as on a fresh connection (redial(), acceptAgain()).
 */
export class Link {
  state = LinkState.Handshaking;
  /** The remote closed with a FIN rather than a reset or an error. */
  endedCleanly = false;
  rank = -1;
  /** The address we dialed to make this link (set by the dialer's rendezvous): where a parked link is found again. */
  dialedAddress: string | undefined;
  /** We said our final word of this generation on it: nothing more of the generation goes out. */
  finalSent = false;
  /** The remote said its final word of this generation: only a new generation's handshake may follow. */
  finalHeard = false;
  /** Set while parked between generations. */
  private parked: ParkedHandler | undefined;
  /** A new generation's HELLO that came before our own final word was said, kept for then. */
  private pendingHello: { h: FrameHeader; payload: Uint8Array } | undefined;
  /** When a byte last arrived and a frame was last sent, on the communicator's clock. */
  lastHeard: number;
  lastSent: number;
  private handler: LinkHandler | undefined;
  private handshakeStep: ((h: FrameHeader, p: Uint8Array) => void) | undefined;
  private handshakeFail: ((e: Error) => void) | undefined;
  /** Set when we refuse the peer: close gracefully so our REJECT frame reaches it. */
  private rejecting = false;

  private constructor(
    readonly conn: Conn,
    /** The communicator this link serves now; a new one for each generation it is reused in. */
    private me: GroupIdentity,
    bufferBytes: number,
    private readonly clock: Clock,
    /** Which side dialed: only the dialer opens a new generation on a kept link. */
    readonly role: 'dialer' | 'acceptor',
  ) {
    this.lastHeard = this.lastSent = clock.now();
    const decoder = new FrameDecoder(me.maxFrameBytes, `peer ${conn.remote}`, (h, p) => this.onFrame(h, p), bufferBytes, receiveBuffer);
    const guarded = (f: () => void): void => {
      this.lastHeard = this.clock.now();
      try {
        f();
      } catch (e) {
        this.fail(e as Error);
      }
    };
    conn.start({
      data: (chunk) => guarded(() => decoder.data(chunk)),
      readBuffer: () => decoder.readBuffer(),
      filled: (n) => guarded(() => decoder.filled(n)),
      closed: (err) => {
        this.endedCleanly = err === undefined;
        this.fail(err ?? new Error('connection closed by peer'));
        // The connection is gone: nothing reads into the buffer any more, and a payload is
        // only valid during its sink call, so the next link can have it.
        const buf = decoder.dispose();
        if (buf) releaseReceiveBuffer(buf);
      },
    });
  }

  get label(): string {
    return this.rank >= 0 ? `rank ${this.rank}` : `peer ${this.conn.remote}`;
  }

  /**
   * Frames can arrive between the end of our handshake and the moment the communicator
   * attaches (a peer that finished rendezvous first starts its collective at once): they are
   * kept and handed over here, never dropped.
   */
  attach(handler: LinkHandler): void {
    this.handler = handler;
    for (const f of this.held.splice(0)) handler.frame(f.h, f.payload);
    if (this.heldLoss) handler.lost(this.heldLoss.err);
  }

  private readonly held: { h: FrameHeader; payload: Uint8Array }[] = [];
  private heldLoss: { err: Error | undefined } | undefined;

  private deliver(h: FrameHeader, p: Uint8Array): void {
    if (this.handler) this.handler.frame(h, p);
    else this.held.push({ h, payload: p.slice() });
  }

  private reportLoss(err: Error | undefined): void {
    if (this.handler) this.handler.lost(err);
    else this.heldLoss = { err };
  }

  send(type: FrameType, h: Partial<FrameHeader>, payload?: Uint8Array, onFlushed?: (err?: Error) => void): void {
    const f = { ...EMPTY_HEADER, ...h };
    this.sendFrame(type, f, f.step, f.offset, payload, onFlushed);
  }

  /**
   * `onFlushed` runs once `payload` is no longer referenced: at once for a packed (copied)
   * frame, else when the transport has taken the bytes. A write that fails later still fails
   * the link, and through it the peer.
   */
  sendFrame(type: FrameType, f: FrameFields, step: number, offset: number, payload: Uint8Array | undefined, onFlushed?: (err?: Error) => void): void {
    // Not written into a destroyed connection: Node would make an error with a stack trace for
    // each such write, and a recovery's aborts and goodbyes made many (seen in profiles).
    if (this.failure) {
      onFlushed?.(this.failure);
      return;
    }
    if (this.finalSent) {
      onFlushed?.(new ClosedError(`${this.label}: this generation is over on the link`));
      return;
    }
    const len = payload?.byteLength ?? 0;
    const pad = padOf(len);
    this.lastSent = this.clock.now();
    if (len <= PACK_LIMIT) {
      const frame = this.txPool.take(HEADER_BYTES + len + pad);
      encodeHeaderInto(frame, type, len, f, step, offset);
      if (len > 0) frame.set(payload!, HEADER_BYTES);
      if (pad > 0) frame.fill(0, HEADER_BYTES + len);
      this.conn.write([frame], (err) => {
        this.txPool.release(frame);
        if (err) this.fail(err);
      });
      onFlushed?.();
      return;
    }
    const header = new Uint8Array(HEADER_BYTES);
    encodeHeaderInto(header, type, len, f, step, offset);
    if (pad === 0) this.conn.write([header, payload!], onFlushed);
    else this.conn.write([header, payload!, PADDING.subarray(0, pad)], onFlushed);
  }

  private readonly txPool = new BufferPool(8);
  /** Why the link failed; set once, when it did. */
  private failure: Error | undefined;

  /** Graceful goodbye: tells the peer this is a deliberate close, not a crash. */
  bye(): void {
    if (this.state !== LinkState.Ready) return;
    this.send(FrameType.Bye, {});
    this.state = LinkState.Departed;
    this.conn.end();
  }

  destroy(err?: Error): void {
    if (this.state === LinkState.Failed) return;
    this.state = LinkState.Failed;
    this.failure = err ?? new ClosedError(`${this.label}: link closed`);
    this.conn.destroy(err);
  }

  private onFrame(h: FrameHeader, p: Uint8Array): void {
    if (this.handshakeStep) {
      this.handshakeStep(h, p);
      return;
    }
    if (h.type === FrameType.Ping) return;
    if (this.finalHeard) {
      // After the remote's final word only a new generation's HELLO may come, from the dialer.
      if (h.type === FrameType.Hello && this.role === 'acceptor') return this.nextHello(h, p);
      throw new ProtocolError(`${this.label}: ${FrameType[h.type]} frame after its final word`, { rank: this.rank });
    }
    if (h.type === FrameType.Abort) {
      this.finalHeard = true;
      this.deliver(h, p);
      return;
    }
    if (h.type === FrameType.Bye) {
      this.state = LinkState.Departed;
      this.reportLoss(undefined);
      return;
    }
    if (h.type === FrameType.Data || h.type === FrameType.P2P) {
      // Our generation is over here: what the remote sent before hearing so is dropped.
      if (!this.finalSent) this.deliver(h, p);
      return;
    }
    throw new ProtocolError(`${this.label}: unexpected ${FrameType[h.type]} frame after the handshake`, { rank: this.rank });
  }

  /**
   * Our final word of this generation (ABORT, with why): said once, after which this link
   * carries nothing more of it. The link stays open for a later generation (park()).
   */
  sayFinal(payload: Uint8Array): void {
    if (this.state !== LinkState.Ready || this.finalSent) return;
    this.send(FrameType.Abort, {}, payload);
    this.finalSent = true;
  }

  /**
   * Between generations: the link belongs to its park, which hears of its loss and, for an
   * accepted link, of its dialer's next HELLO. Only after our final word.
   */
  park(handler: ParkedHandler): void {
    if (!this.finalSent) throw new ProtocolError(`${this.label}: parked before its final word`);
    this.parked = handler;
    this.handler = { frame: () => undefined, lost: () => handler.lost() };
    const early = this.pendingHello;
    this.pendingHello = undefined;
    if (early) handler.hello(early.h, early.payload);
  }

  /** An accepted link's dialer opened a new generation: the park takes it from here, once we have said our final word too. */
  private nextHello(h: FrameHeader, p: Uint8Array): void {
    if (this.pendingHello) throw new ProtocolError(`${this.label}: a second HELLO before the first was answered`, { rank: this.rank });
    if (this.parked) this.parked.hello(h, p);
    else this.pendingHello = { h, payload: p.slice() };
  }

  /** A new use of the link for a new generation: what belonged to the old one is forgotten. */
  private reopen(me: GroupIdentity): void {
    this.me = me;
    this.parked = undefined;
    this.handler = undefined;
    this.held.length = 0;
    this.heldLoss = undefined;
    this.state = LinkState.Handshaking;
  }

  private fail(err: Error): void {
    const wasReady = this.state === LinkState.Ready || this.state === LinkState.Departed;
    const departed = this.state === LinkState.Departed;
    if (this.state === LinkState.Failed) return;
    this.state = LinkState.Failed;
    this.failure = err;
    if (this.rejecting) this.conn.end();
    else this.conn.destroy(err);
    if (this.handshakeFail) this.handshakeFail(err);
    else if (wasReady && !departed) this.reportLoss(err);
  }

  private handshake<T>(deadline: Deadline, run: (resolve: (v: T) => void) => (h: FrameHeader, p: Uint8Array) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(new TimeoutError(`handshake with ${this.label} (${this.conn.remote}) did not finish by the deadline`)),
        remaining(deadline),
      );
      timer.unref();
      const done = (): void => {
        clearTimeout(timer);
        this.handshakeStep = undefined;
        this.handshakeFail = undefined;
      };
      this.handshakeFail = (e) => {
        done();
        reject(e);
      };
      const step = run((v) => {
        done();
        this.state = LinkState.Ready;
        resolve(v);
      });
      this.handshakeStep = (h, p) => {
        try {
          if (h.type === FrameType.Reject) {
            const r = decodeJson(RejectSchema, p, 'REJECT', this.label);
            // A listener whose communicator for our generation has ended (or was superseded) refuses with
            // ERR_CLOSED: that rank is gone from this generation, a failure like a reset.
            if (r.code === 'ERR_CLOSED') throw new PeerFailedError([this.rank], 'closed', this.me.rank, `${this.label} has left this generation: ${r.message}`);
            throw r.code === 'ERR_AUTH'
              ? new AuthError(`${this.label} refused the handshake: ${r.message}`, { rank: this.rank })
              : new ProtocolError(`${this.label} refused the handshake: ${r.message}`, { rank: this.rank });
          }
          step(h, p);
        } catch (e) {
          this.fail(e as Error);
        }
      };
    });
  }

  private reject(err: RollcallError): never {
    this.rejecting = true;
    this.send(FrameType.Reject, {}, encodeJson({ code: err.code, message: err.message }));
    throw err;
  }

  /** Dial side: we are `me.rank`, they must be `to`. */
  static dial(conn: Conn, me: GroupIdentity, to: number, deadline: Deadline, clock: Clock): Promise<Link> {
    return new Link(conn, me, RX_BUFFER, clock, 'dialer').dialHandshake(me, to, deadline);
  }

  /**
   * Opens a new generation on a link we dialed and parked: the full handshake for `me`, on the
   * same connection. Our final word went before the HELLO; the remote's may still be on its way,
   * behind the last frames of the old generation, which are dropped until it comes.
   */
  redial(me: GroupIdentity, to: number, deadline: Deadline): Promise<Link> {
    if (this.role !== 'dialer' || !this.parked || this.state !== LinkState.Ready) return Promise.reject(new ClosedError(`${this.label}: not a parked link we dialed`));
    const awaitingFinal = !this.finalHeard;
    this.reopen(me);
    this.finalSent = false;
    this.finalHeard = false;
    const done = this.dialHandshake(me, to, deadline);
    if (awaitingFinal) {
      const step = this.handshakeStep!;
      let heard = false;
      this.handshakeStep = (h, p) => {
        if (heard) return step(h, p);
        if (h.type === FrameType.Abort) heard = true;
        else if (h.type !== FrameType.Data && h.type !== FrameType.P2P && h.type !== FrameType.Ping) step(h, p);
      };
    }
    return done;
  }

  private dialHandshake(me: GroupIdentity, to: number, deadline: Deadline): Promise<Link> {
    this.rank = to;
    const hello: Hello = { job: me.job, generation: me.generation, from: me.rank, to, world: me.world, nonce: newNonce() };
    const p = this.handshake<Link>(deadline, (resolve) => {
      let sentAuth = false;
      return (h, payload) => {
        if (!sentAuth && h.type === FrameType.HelloAck) {
          const ack = decodeJson(HelloAckSchema, payload, 'HELLO_ACK', this.label);
          if (!macMatches(handshakeMac(me.secret, 'acceptor', hello, ack.nonce), ack.mac)) throw authFailure(this.label, to);
          this.send(FrameType.Auth, {}, encodeJson({ mac: handshakeMac(me.secret, 'dialer', hello, ack.nonce) }));
          sentAuth = true;
        } else if (sentAuth && h.type === FrameType.Ready) {
          resolve(this);
        } else {
          throw new ProtocolError(`${this.label}: unexpected ${FrameType[h.type] ?? h.type} frame during the handshake`);
        }
      };
    });
    this.send(FrameType.Hello, {}, encodeJson(hello));
    return p;
  }

  /**
   * Accept side: learns who dialed, then asks `admit` which communicator (job, generation,
   * rank) the dialer wants; `admit` may wait for that generation to be joined here (a dialer
   * can be ahead of us) or refuse with a typed error, which goes back to the dialer as REJECT.
   * `maxFrameBytes` bounds what a dialer can make us allocate before it is known.
   */
  static accept(conn: Conn, admit: (hello: Hello) => Promise<Admission>, deadline: Deadline, clock: Clock, maxFrameBytes: number): Promise<Link> {
    const stranger: GroupIdentity = { job: '', generation: -1, rank: -1, world: 0, secret: '', maxFrameBytes };
    return new Link(conn, stranger, TX_BUFFER, clock, 'acceptor').acceptHandshake(admit, deadline);
  }

  /**
   * A parked link we accepted, whose dialer opened a new generation on it with `hello`: the
   * acceptor's handshake again, as for a new connection (Link.accept()).
   */
  acceptAgain(admit: (hello: Hello) => Promise<Admission>, deadline: Deadline, hello: FrameHeader, payload: Uint8Array): Promise<Link> {
    if (this.role !== 'acceptor' || !this.parked || this.state !== LinkState.Ready) return Promise.reject(new ClosedError(`${this.label}: not a parked link we accepted`));
    this.reopen({ ...this.me, rank: -1, generation: -1 });
    this.rank = -1;
    this.finalSent = false;
    this.finalHeard = false;
    const done = this.acceptHandshake(admit, deadline);
    this.handshakeStep!(hello, payload);
    return done;
  }

  private acceptHandshake(admit: (hello: Hello) => Promise<Admission>, deadline: Deadline): Promise<Link> {
    return this.handshake<Link>(deadline, (resolve) => {
      let hello: Hello | undefined;
      let me: GroupIdentity | undefined;
      let nonce = '';
      let admitting = false;
      const refuse = (e: unknown): void => {
        try {
          if (e instanceof RollcallError) this.reject(e);
          throw e;
        } catch (err) {
          this.fail(err as Error);
        }
      };
      return (h, payload) => {
        if (!hello && !admitting && h.type === FrameType.Hello) {
          const got = decodeJson(HelloSchema, payload, 'HELLO', this.label);
          admitting = true;
          admit(got).then((a) => {
            if (this.state !== LinkState.Handshaking) return;
            try {
              me = a.me;
              this.me = me;
              if (got.job !== me.job) this.reject(new AuthError(`dialer is for job "${got.job}", this is job "${me.job}"`));
              if (got.generation !== me.generation) {
                this.reject(new AuthError(`dialer is in generation ${got.generation}, this communicator is generation ${me.generation}`));
              }
              if (got.to !== me.rank || got.world !== me.world || got.from >= me.world || !a.isWanted(got.from)) {
                this.reject(new ProtocolError(`unexpected dialer: rank ${got.from} of ${got.world} asking for rank ${got.to}; this is rank ${me.rank} of ${me.world}`));
              }
              hello = got;
              this.rank = got.from;
              nonce = newNonce();
              this.send(FrameType.HelloAck, {}, encodeJson({ nonce, mac: handshakeMac(me.secret, 'acceptor', got, nonce) }));
            } catch (e) {
              this.fail(e as Error);
            }
          }, refuse);
        } else if (hello && me && h.type === FrameType.Auth) {
          const auth = decodeJson(AuthSchema, payload, 'AUTH', this.label);
          if (!macMatches(handshakeMac(me.secret, 'dialer', hello, nonce), auth.mac)) {
            this.reject(new AuthError(`rank ${hello.from}: handshake MAC does not match; the dialer does not hold this job's secret`, { rank: hello.from }));
          }
          this.send(FrameType.Ready, {});
          resolve(this);
        } else {
          throw new ProtocolError(`${this.label}: unexpected ${FrameType[h.type] ?? h.type} frame during the handshake`);
        }
      };
    });
  }
}

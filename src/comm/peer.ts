import { AuthError, ProtocolError, TimeoutError, type RollcallError } from '../errors.js';
import { remaining, type Deadline } from '../util/deadline.js';
import { FrameDecoder } from './frame-decoder.js';
import { EMPTY_HEADER, FrameType, encodeHeader, type FrameHeader } from './frame.js';
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

export enum PeerState {
  Handshaking = 'handshaking',
  Ready = 'ready',
  /** The peer said goodbye (BYE) and closed cleanly. */
  Departed = 'departed',
  Failed = 'failed',
}

/** What a ready peer reports upward to its communicator. */
export interface PeerHandler {
  frame(peer: Peer, h: FrameHeader, payload: Uint8Array): void;
  /** The connection is gone or unusable; `err` says why (reset, protocol error...). */
  lost(peer: Peer, err: RollcallError | Error | undefined): void;
}

export interface GroupIdentity {
  job: string;
  generation: number;
  rank: number;
  world: number;
  secret: string;
  maxFrameBytes: number;
}

/**
 * One authenticated connection to one rank. It owns framing and liveness bookkeeping;
 * everything about collectives lives in the communicator.
 */
export class Peer {
  state = PeerState.Handshaking;
  rank = -1;
  lastHeard = Date.now();
  lastSent = Date.now();
  private handler: PeerHandler | undefined;
  private handshakeStep: ((h: FrameHeader, p: Uint8Array) => void) | undefined;
  private handshakeFail: ((e: Error) => void) | undefined;
  /** Set when we refuse the peer: close gracefully so our REJECT frame reaches it. */
  private rejecting = false;

  private constructor(
    readonly conn: Conn,
    private readonly me: GroupIdentity,
  ) {
    const decoder = new FrameDecoder(me.maxFrameBytes, `peer ${conn.remote}`, (h, p) => this.onFrame(h, p));
    conn.start(
      (chunk) => {
        this.lastHeard = Date.now();
        try {
          decoder.push(chunk);
        } catch (e) {
          this.fail(e as Error);
        }
      },
      (err) => this.fail(err ?? new Error('connection closed by peer')),
    );
  }

  get label(): string {
    return this.rank >= 0 ? `rank ${this.rank}` : `peer ${this.conn.remote}`;
  }

  attach(handler: PeerHandler): void {
    this.handler = handler;
  }

  send(type: FrameType, h: Partial<FrameHeader>, payload?: Uint8Array, onFlushed?: (err?: Error) => void): void {
    const len = payload?.byteLength ?? 0;
    const header = encodeHeader({ ...EMPTY_HEADER, ...h, type, length: len });
    this.lastSent = Date.now();
    this.conn.write(len > 0 ? [header, payload!] : [header], onFlushed);
  }

  /** Graceful goodbye: tells the peer this is a deliberate close, not a crash. */
  bye(): void {
    if (this.state !== PeerState.Ready) return;
    this.send(FrameType.Bye, {});
    this.state = PeerState.Departed;
    this.conn.end();
  }

  destroy(err?: Error): void {
    if (this.state === PeerState.Failed) return;
    this.state = PeerState.Failed;
    this.conn.destroy(err);
  }

  private onFrame(h: FrameHeader, p: Uint8Array): void {
    if (this.handshakeStep) {
      this.handshakeStep(h, p);
      return;
    }
    if (h.type === FrameType.Ping) return;
    if (h.type === FrameType.Bye) {
      this.state = PeerState.Departed;
      this.handler?.lost(this, undefined);
      return;
    }
    if (h.type === FrameType.Data || h.type === FrameType.P2P || h.type === FrameType.Abort) {
      this.handler?.frame(this, h, p);
      return;
    }
    throw new ProtocolError(`${this.label}: unexpected ${FrameType[h.type]} frame after the handshake`, { rank: this.rank });
  }

  private fail(err: Error): void {
    const wasReady = this.state === PeerState.Ready || this.state === PeerState.Departed;
    const departed = this.state === PeerState.Departed;
    if (this.state === PeerState.Failed) return;
    this.state = PeerState.Failed;
    if (this.rejecting) this.conn.end();
    else this.conn.destroy(err);
    if (this.handshakeFail) this.handshakeFail(err);
    else if (wasReady && !departed) this.handler?.lost(this, err);
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
        this.state = PeerState.Ready;
        resolve(v);
      });
      this.handshakeStep = (h, p) => {
        try {
          if (h.type === FrameType.Reject) {
            const r = decodeJson(RejectSchema, p, 'REJECT', this.label);
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
  static dial(conn: Conn, me: GroupIdentity, to: number, deadline: Deadline): Promise<Peer> {
    const peer = new Peer(conn, me);
    peer.rank = to;
    const hello: Hello = { job: me.job, generation: me.generation, from: me.rank, to, world: me.world, nonce: newNonce() };
    const p = peer.handshake<Peer>(deadline, (resolve) => {
      let sentAuth = false;
      return (h, payload) => {
        if (!sentAuth && h.type === FrameType.HelloAck) {
          const ack = decodeJson(HelloAckSchema, payload, 'HELLO_ACK', peer.label);
          if (!macMatches(handshakeMac(me.secret, 'acceptor', hello, ack.nonce), ack.mac)) throw authFailure(peer.label);
          peer.send(FrameType.Auth, {}, encodeJson({ mac: handshakeMac(me.secret, 'dialer', hello, ack.nonce) }));
          sentAuth = true;
        } else if (sentAuth && h.type === FrameType.Ready) {
          resolve(peer);
        } else {
          throw new ProtocolError(`${peer.label}: unexpected ${FrameType[h.type] ?? h.type} frame during the handshake`);
        }
      };
    });
    peer.send(FrameType.Hello, {}, encodeJson(hello));
    return p;
  }

  /** Accept side: learns who dialed, checks it belongs to this job and generation. */
  static accept(conn: Conn, me: GroupIdentity, deadline: Deadline, isWanted: (rank: number) => boolean): Promise<Peer> {
    const peer = new Peer(conn, me);
    return peer.handshake<Peer>(deadline, (resolve) => {
      let hello: Hello | undefined;
      let nonce = '';
      return (h, payload) => {
        if (!hello && h.type === FrameType.Hello) {
          const got = decodeJson(HelloSchema, payload, 'HELLO', peer.label);
          if (got.job !== me.job) peer.reject(new AuthError(`dialer is for job "${got.job}", this is job "${me.job}"`));
          if (got.generation !== me.generation) {
            peer.reject(new AuthError(`dialer is in generation ${got.generation}, this communicator is generation ${me.generation}`));
          }
          if (got.to !== me.rank || got.world !== me.world || got.from >= me.world || !isWanted(got.from)) {
            peer.reject(new ProtocolError(`unexpected dialer: rank ${got.from} of ${got.world} asking for rank ${got.to}; this is rank ${me.rank} of ${me.world}`));
          }
          hello = got;
          peer.rank = got.from;
          nonce = newNonce();
          peer.send(FrameType.HelloAck, {}, encodeJson({ nonce, mac: handshakeMac(me.secret, 'acceptor', got, nonce) }));
        } else if (hello && h.type === FrameType.Auth) {
          const auth = decodeJson(AuthSchema, payload, 'AUTH', peer.label);
          if (!macMatches(handshakeMac(me.secret, 'dialer', hello, nonce), auth.mac)) {
            peer.reject(new AuthError(`rank ${hello.from}: handshake MAC does not match; the dialer does not hold this job's secret`, { rank: hello.from }));
          }
          peer.send(FrameType.Ready, {});
          resolve(peer);
        } else {
          throw new ProtocolError(`${peer.label}: unexpected ${FrameType[h.type] ?? h.type} frame during the handshake`);
        }
      };
    });
  }
}

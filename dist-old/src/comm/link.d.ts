import { type RollcallError } from '../errors.js';
import { type Deadline } from '../util/deadline.js';
import { FrameType, type FrameFields, type FrameHeader } from './frame.js';
import type { Conn } from './transport.js';
export declare enum LinkState {
    Handshaking = "handshaking",
    Ready = "ready",
    /** The remote said goodbye (BYE) and closed cleanly. */
    Departed = "departed",
    Failed = "failed"
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
/**
 * Frames up to this payload size are copied behind their header and written as one buffer:
 * one plain write instead of a corked writev, and the caller's memory is free at once.
 */
export declare const PACK_LIMIT: number;
/**
 * One authenticated connection to one rank: framing, the handshake and liveness bookkeeping.
 * The dialer proves itself first; both sides prove they hold the job secret.
 */
export declare class Link {
    readonly conn: Conn;
    private readonly me;
    state: LinkState;
    /** The remote closed with a FIN rather than a reset or an error. */
    endedCleanly: boolean;
    rank: number;
    lastHeard: number;
    lastSent: number;
    private handler;
    private handshakeStep;
    private handshakeFail;
    /** Set when we refuse the peer: close gracefully so our REJECT frame reaches it. */
    private rejecting;
    private constructor();
    get label(): string;
    /**
     * Frames can arrive between the end of our handshake and the moment the communicator
     * attaches (a peer that finished rendezvous first starts its collective at once): they are
     * kept and handed over here, never dropped.
     */
    attach(handler: LinkHandler): void;
    private readonly held;
    private heldLoss;
    private deliver;
    private reportLoss;
    send(type: FrameType, h: Partial<FrameHeader>, payload?: Uint8Array, onFlushed?: (err?: Error) => void): void;
    /**
     * `onFlushed` runs once `payload` is no longer referenced: at once for a packed (copied)
     * frame, else when the transport has taken the bytes. A write that fails later still fails
     * the link, and through it the peer.
     */
    sendFrame(type: FrameType, f: FrameFields, step: number, offset: number, payload: Uint8Array | undefined, onFlushed?: (err?: Error) => void): void;
    private readonly txPool;
    /** Graceful goodbye: tells the peer this is a deliberate close, not a crash. */
    bye(): void;
    destroy(err?: Error): void;
    private onFrame;
    private fail;
    private handshake;
    private reject;
    /** Dial side: we are `me.rank`, they must be `to`. */
    static dial(conn: Conn, me: GroupIdentity, to: number, deadline: Deadline): Promise<Link>;
    /** Accept side: learns who dialed, checks it belongs to this job and generation. */
    static accept(conn: Conn, me: GroupIdentity, deadline: Deadline, isWanted: (rank: number) => boolean): Promise<Link>;
}

import type { RollcallError } from '../errors.js';
import { FrameType, type FrameFields, type FrameHeader } from './frame.js';
import { type Link } from './link.js';
export declare enum PeerState {
    Ready = "ready",
    /** The peer closed its communicator cleanly (BYE). */
    Departed = "departed",
    Failed = "failed"
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
export declare class Peer {
    readonly rank: number;
    private readonly rx;
    private readonly tx;
    state: PeerState;
    constructor(rank: number, rx: Link, tx: Link);
    get lastHeard(): number;
    set lastHeard(t: number);
    get lastSent(): number;
    attach(handler: PeerHandler): void;
    send(type: FrameType, h: Partial<FrameHeader>, payload?: Uint8Array, onFlushed?: (err?: Error) => void): void;
    sendFrame(type: FrameType, f: FrameFields, step: number, offset: number, payload: Uint8Array, onFlushed: (err?: Error) => void): void;
    /**
     * Sends a last frame on *both* links and closes them gracefully. The two TCP connections are
     * not ordered with each other, so a frame on one and a FIN on the other could arrive in
     * either order; on both links the frame always comes before that link's FIN.
     */
    sendFinal(type: FrameType.Abort, payload: Uint8Array): void;
    /**
     * A clean goodbye. BYE goes only where the data goes (tx), so it cannot overtake the last
     * frames of a collective; the other link is just closed.
     */
    bye(): void;
    destroy(): void;
    get usable(): boolean;
}

import { type DType, type NumericArray } from './dtype.js';
import { type FrameHeader } from './frame.js';
export interface P2PContext {
    readonly rank: number;
    chunkElems(dtype: DType): number;
    sendP2P(to: number, h: Partial<FrameHeader>, payload: Uint8Array, onFlushed: (err?: Error) => void): void;
}
/**
 * Point-to-point messages. Each ordered pair of ranks has its own message sequence, so sends
 * and receives never interfere with collectives. Messages between two ranks are matched in
 * order; a receive whose length, dtype or tag differs from the message that arrives is a
 * mismatch, and fails loudly rather than filling the buffer with the wrong data.
 */
export declare class PointToPoint {
    private readonly ctx;
    private readonly sendSeq;
    private readonly recvSeq;
    private readonly posted;
    /** Frames that arrived before the matching recv() was posted. */
    private readonly early;
    constructor(ctx: P2PContext);
    send(buf: NumericArray, dtype: DType, to: number, tag: number): Promise<void>;
    recv(buf: NumericArray, dtype: DType, from: number, tag: number): Promise<void>;
    /** Throws on a mismatch; the communicator then breaks, because the stream is out of step. */
    onFrame(from: number, h: FrameHeader, payload: Uint8Array): void;
    private deliver;
    /** Ranks that a posted receive is waiting on. */
    waitingOn(): number[];
    failAll(err: Error): void;
}

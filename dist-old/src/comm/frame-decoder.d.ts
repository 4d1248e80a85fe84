import { type FrameHeader } from './frame.js';
export type FrameSink = (header: FrameHeader, payload: Uint8Array) => void;
/**
 * Turns a byte stream into frames, reading into memory it owns.
 *
 * Transports that can read into caller memory (TCP sockets with `onread`) ask `readBuffer()`
 * where to put the next bytes and report `filled(n)`; others hand over chunks with `data()`,
 * which are copied in. Either way every frame ends up contiguous in one linear buffer. Frames
 * are padded to 8 bytes on the wire and the buffer keeps stream offsets and buffer offsets
 * congruent mod 8, so every payload can be viewed as a Float64Array/Float32Array in place:
 * no per-frame allocation and no copy. A payload is valid only during the sink call.
 *
 * A frame larger than the buffer gets a buffer of its own, and reads go straight into it.
 */
export declare class FrameDecoder {
    private readonly maxPayload;
    private readonly from;
    private readonly sink;
    private buf;
    private start;
    private end;
    /** Padding of a big frame still to be skipped. */
    private skip;
    private big;
    /** Where the large frame at `start`, still arriving, ends: reads stop there (see readBuffer). */
    private frameEnd;
    constructor(maxPayload: number, from: string, sink: FrameSink, capacity?: number, allocate?: (bytes: number) => Uint8Array);
    /** Where the next bytes should land. Never empty. */
    readBuffer(): Uint8Array;
    /** `n` bytes were written at the start of the last readBuffer(). Throws ProtocolError. */
    filled(n: number): void;
    /** Chunk-mode input: copies into the linear buffer, then parses. */
    data(chunk: Uint8Array): void;
    private parse;
    /** Moves unparsed bytes to the front. `start` is always at a frame boundary, 8-aligned. */
    private compact;
}

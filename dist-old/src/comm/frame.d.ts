/**
 * Wire format. Every frame is a fixed 32-byte little-endian header followed by a payload.
 *
 *   0  u16 magic 0x5243 ("RC")     2  u8 version       3  u8 type
 *   4  u32 payload length          8  u32 seq          12 u32 step
 *   16 u32 offset (elements)       20 u8 op kind       21 u8 dtype
 *   22 u8 reduce op                23 u8 flags         24 u32 count (elements)
 *   28 u32 tag
 *
 * The payload is followed by zero padding to a multiple of 8 bytes (not counted in the length),
 * so every header and payload starts 8-aligned in the stream and can be viewed in place.
 *
 * Every data frame repeats the collective's kind, dtype, reduce op and count, so a rank whose
 * call differs from its peers' is caught on the first frame, before anything is reduced.
 */
export declare const MAGIC = 21059;
export declare const PROTOCOL_VERSION = 1;
export declare const HEADER_BYTES = 32;
export declare function padOf(length: number): number;
export declare const PADDING: Uint8Array<ArrayBuffer>;
export declare enum FrameType {
    Hello = 1,
    HelloAck = 2,
    Auth = 3,
    Ready = 4,
    Reject = 5,
    Data = 6,
    P2P = 7,
    Ping = 8,
    Abort = 9,
    Bye = 10
}
export declare enum OpKind {
    None = 0,
    Allreduce = 1,
    Broadcast = 2,
    Allgather = 3,
    ReduceScatter = 4,
    Barrier = 5,
    Send = 6
}
export interface FrameHeader {
    type: FrameType;
    length: number;
    seq: number;
    step: number;
    offset: number;
    kind: OpKind;
    dtype: number;
    redop: number;
    flags: number;
    count: number;
    tag: number;
}
export declare const EMPTY_HEADER: Omit<FrameHeader, 'type' | 'length'>;
/** The fields that stay the same for every frame of one call. */
export type FrameFields = Pick<FrameHeader, 'seq' | 'kind' | 'dtype' | 'redop' | 'count' | 'tag'>;
export declare function encodeHeader(h: FrameHeader): Uint8Array;
/**
 * Writes a header at the start of `b` from a call's fixed fields plus the per-frame ones, so
 * the hot path builds no header object per frame.
 */
export declare function encodeHeaderInto(b: Uint8Array, type: FrameType, length: number, f: FrameFields, step: number, offset: number): void;
/** Parses and checks a header; `maxPayload` bounds what a peer can make us allocate. */
export declare function decodeHeader(b: Uint8Array, maxPayload: number, from: string): FrameHeader;

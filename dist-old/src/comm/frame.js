import { ProtocolError } from '../errors.js';
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
export const MAGIC = 0x5243;
export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 32;
export function padOf(length) {
    return (8 - (length % 8)) % 8;
}
export const PADDING = new Uint8Array(8);
export var FrameType;
(function (FrameType) {
    FrameType[FrameType["Hello"] = 1] = "Hello";
    FrameType[FrameType["HelloAck"] = 2] = "HelloAck";
    FrameType[FrameType["Auth"] = 3] = "Auth";
    FrameType[FrameType["Ready"] = 4] = "Ready";
    FrameType[FrameType["Reject"] = 5] = "Reject";
    FrameType[FrameType["Data"] = 6] = "Data";
    FrameType[FrameType["P2P"] = 7] = "P2P";
    FrameType[FrameType["Ping"] = 8] = "Ping";
    FrameType[FrameType["Abort"] = 9] = "Abort";
    FrameType[FrameType["Bye"] = 10] = "Bye";
})(FrameType || (FrameType = {}));
const MAX_TYPE = FrameType.Bye;
export var OpKind;
(function (OpKind) {
    OpKind[OpKind["None"] = 0] = "None";
    OpKind[OpKind["Allreduce"] = 1] = "Allreduce";
    OpKind[OpKind["Broadcast"] = 2] = "Broadcast";
    OpKind[OpKind["Allgather"] = 3] = "Allgather";
    OpKind[OpKind["ReduceScatter"] = 4] = "ReduceScatter";
    OpKind[OpKind["Barrier"] = 5] = "Barrier";
    OpKind[OpKind["Send"] = 6] = "Send";
})(OpKind || (OpKind = {}));
export const EMPTY_HEADER = {
    seq: 0,
    step: 0,
    offset: 0,
    kind: OpKind.None,
    dtype: 0,
    redop: 0,
    flags: 0,
    count: 0,
    tag: 0,
};
export function encodeHeader(h) {
    const b = new Uint8Array(HEADER_BYTES);
    encodeHeaderInto(b, h.type, h.length, h, h.step, h.offset);
    b[23] = h.flags;
    return b;
}
/**
 * Writes a header at the start of `b` from a call's fixed fields plus the per-frame ones, so
 * the hot path builds no header object per frame.
 */
export function encodeHeaderInto(b, type, length, f, step, offset) {
    const v = new DataView(b.buffer, b.byteOffset, HEADER_BYTES);
    v.setUint16(0, MAGIC, true);
    v.setUint8(2, PROTOCOL_VERSION);
    v.setUint8(3, type);
    v.setUint32(4, length, true);
    v.setUint32(8, f.seq >>> 0, true);
    v.setUint32(12, step, true);
    v.setUint32(16, offset, true);
    v.setUint8(20, f.kind);
    v.setUint8(21, f.dtype);
    v.setUint8(22, f.redop);
    v.setUint8(23, 0);
    v.setUint32(24, f.count, true);
    v.setUint32(28, f.tag >>> 0, true);
}
/** Parses and checks a header; `maxPayload` bounds what a peer can make us allocate. */
export function decodeHeader(b, maxPayload, from) {
    const v = new DataView(b.buffer, b.byteOffset, HEADER_BYTES);
    const magic = v.getUint16(0, true);
    if (magic !== MAGIC) {
        throw new ProtocolError(`${from}: bad frame magic 0x${magic.toString(16)} (not a Rollcall peer, or a corrupt stream)`);
    }
    const version = v.getUint8(2);
    if (version !== PROTOCOL_VERSION) {
        throw new ProtocolError(`${from}: peer speaks protocol version ${version}, this node speaks ${PROTOCOL_VERSION}`);
    }
    const type = v.getUint8(3);
    if (type < 1 || type > MAX_TYPE)
        throw new ProtocolError(`${from}: unknown frame type ${type}`);
    const length = v.getUint32(4, true);
    if (length > maxPayload) {
        throw new ProtocolError(`${from}: frame of ${length} bytes exceeds the limit of ${maxPayload} bytes`);
    }
    return {
        type,
        length,
        seq: v.getUint32(8, true),
        step: v.getUint32(12, true),
        offset: v.getUint32(16, true),
        kind: v.getUint8(20),
        dtype: v.getUint8(21),
        redop: v.getUint8(22),
        flags: v.getUint8(23),
        count: v.getUint32(24, true),
        tag: v.getUint32(28, true),
    };
}
//# sourceMappingURL=frame.js.map
import { HEADER_BYTES, decodeHeader, type FrameHeader } from './frame.js';

export type FrameSink = (header: FrameHeader, payload: Uint8Array) => void;

/**
 * Turns a byte stream into frames. A payload is handed out as a view into the received chunk
 * when it lies wholly inside it and is 8-byte aligned (so typed-array views work); otherwise
 * it is copied once into a fresh aligned buffer. Payloads are never reused afterwards, so a
 * consumer may keep them (for a peer that runs ahead of us).
 */
export class FrameDecoder {
  private header: FrameHeader | undefined;
  private readonly headerBuf = new Uint8Array(HEADER_BYTES);
  private headerFill = 0;
  private payload: Uint8Array | undefined;
  private payloadFill = 0;

  constructor(
    private readonly maxPayload: number,
    private readonly from: string,
    private readonly sink: FrameSink,
  ) {}

  /** Throws ProtocolError on a bad header; the caller must then drop the connection. */
  push(chunk: Uint8Array): void {
    let pos = 0;
    const end = chunk.byteLength;
    while (pos < end) {
      if (this.header === undefined) {
        if (this.headerFill === 0 && end - pos >= HEADER_BYTES) {
          this.header = decodeHeader(chunk.subarray(pos, pos + HEADER_BYTES), this.maxPayload, this.from);
          pos += HEADER_BYTES;
        } else {
          const take = Math.min(HEADER_BYTES - this.headerFill, end - pos);
          this.headerBuf.set(chunk.subarray(pos, pos + take), this.headerFill);
          this.headerFill += take;
          pos += take;
          if (this.headerFill < HEADER_BYTES) return;
          this.headerFill = 0;
          this.header = decodeHeader(this.headerBuf, this.maxPayload, this.from);
        }
        const len = this.header.length;
        if (len === 0) {
          this.emit(new Uint8Array(0));
          continue;
        }
        const abs = chunk.byteOffset + pos;
        if (end - pos >= len && abs % 8 === 0) {
          const view = chunk.subarray(pos, pos + len);
          pos += len;
          this.emit(view);
          continue;
        }
        this.payload = new Uint8Array(len);
        this.payloadFill = 0;
      }
      const payload = this.payload!;
      const take = Math.min(payload.byteLength - this.payloadFill, end - pos);
      payload.set(chunk.subarray(pos, pos + take), this.payloadFill);
      this.payloadFill += take;
      pos += take;
      if (this.payloadFill === payload.byteLength) {
        this.payload = undefined;
        this.emit(payload);
      }
    }
  }

  private emit(payload: Uint8Array): void {
    const h = this.header!;
    this.header = undefined;
    this.sink(h, payload);
  }
}

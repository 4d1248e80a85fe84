import { HEADER_BYTES, decodeHeader, type FrameHeader } from './frame.js';

export type FrameSink = (header: FrameHeader, payload: Uint8Array) => void;

/**
 * Turns a byte stream into frames. A payload is handed out as a view into the received chunk
 * when it lies wholly inside it and is 8-byte aligned (so typed-array views work); otherwise
 * it is assembled in a buffer that is reused for the next frame. Either way the payload is
 * valid only during the sink call: a consumer that keeps it must copy it. Reuse matters: a
 * fresh allocation per frame spent a third of the ring's time in the garbage collector.
 */
export class FrameDecoder {
  private header: FrameHeader | undefined;
  private readonly headerBuf = new Uint8Array(HEADER_BYTES);
  private headerFill = 0;
  private payload: Uint8Array | undefined;
  private payloadFill = 0;
  private assembly = new Uint8Array(0);

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
        if (this.assembly.byteLength < len) this.assembly = new Uint8Array(Math.max(len, this.assembly.byteLength * 2));
        this.payload = this.assembly.subarray(0, len);
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

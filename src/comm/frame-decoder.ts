import { HEADER_BYTES, decodeHeader, padOf, type FrameHeader } from './frame.js';

export type FrameSink = (header: FrameHeader, payload: Uint8Array) => void;

/** Frames from this size on are read up to their end and no further; shorter reads before a header. */
const LARGE_FRAME = 64 * 1024;

/** Where reads after dispose() go, and are dropped. */
const DISCARD = new Uint8Array(4096);

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
export class FrameDecoder {
  private buf: Uint8Array;
  private start = 0;
  private end = 0;
  /** Padding of a big frame still to be skipped. */
  private skip = 0;
  private big: { h: FrameHeader; payload: Uint8Array; fill: number } | undefined;
  /** Where the large frame at `start`, still arriving, ends: reads stop there (see readBuffer). */
  private frameEnd = 0;

  constructor(
    private readonly maxPayload: number,
    private readonly from: string,
    private readonly sink: FrameSink,
    capacity = 2 * 1024 * 1024,
    allocate: (bytes: number) => Uint8Array = (bytes) => new Uint8Array(bytes),
  ) {
    this.buf = allocate(capacity);
  }

  /**
   * Gives up the linear buffer, to be reused by another decoder: only once the stream has ended
   * (no read can land in it any more). Later reads, which should not come, go to scratch.
   */
  dispose(): Uint8Array | undefined {
    if (this.disposed) return undefined;
    this.disposed = true;
    const buf = this.buf;
    this.buf = DISCARD;
    this.big = undefined;
    this.start = this.end = this.frameEnd = 0;
    return buf;
  }

  private disposed = false;

  /** Where the next bytes should land. Never empty. */
  readBuffer(): Uint8Array {
    if (this.disposed) return DISCARD;
    if (this.big) return this.big.payload.subarray(this.big.fill);
    // After a frame read outside the buffer, its padding comes first: place it so that it ends
    // at an 8-aligned offset and the next payload can be viewed as a Float64Array.
    if (this.start === this.end) this.start = this.end = (8 - (this.skip % 8)) % 8;
    else if (this.frameEnd > this.end) return this.buf.subarray(this.end, this.frameEnd);
    else if (this.buf.byteLength - this.end < LARGE_FRAME) this.compact();
    // A large frame is read up to its end and no further, and until the next frame's header is
    // in, reads are kept short. Otherwise bytes of the next frame arrive behind the current one
    // and must be moved to the front when that frame does not fit in what is left: with 1 MiB
    // chunks in a 2 MiB buffer that was nearly every frame, a measurable share of a rank's time
    // in memmove (docs/benchmarks.md, "Allreduce (float32 sum), 2026-11-28 (fourth session)").
    // This way the buffer is empty once a large frame is parsed, and the next one starts near
    // the front.
    return this.buf.subarray(this.end, Math.min(this.buf.byteLength, this.end + LARGE_FRAME));
  }

  /** `n` bytes were written at the start of the last readBuffer(). Throws ProtocolError. */
  filled(n: number): void {
    if (this.disposed) return;
    const big = this.big;
    if (big) {
      big.fill += n;
      if (big.fill === big.payload.byteLength) {
        this.big = undefined;
        this.skip = padOf(big.payload.byteLength);
        this.sink(big.h, big.payload);
      }
      return;
    }
    this.end += n;
    this.parse();
  }

  /** Chunk-mode input: copies into the linear buffer, then parses. */
  data(chunk: Uint8Array): void {
    if (this.disposed) return;
    let pos = 0;
    while (pos < chunk.byteLength) {
      const target = this.readBuffer();
      const k = Math.min(target.byteLength, chunk.byteLength - pos);
      target.set(chunk.subarray(pos, pos + k));
      pos += k;
      this.filled(k);
    }
  }

  private parse(): void {
    for (;;) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, this.end - this.start);
        this.skip -= k;
        this.start += k;
        if (this.skip > 0) return;
      }
      const avail = this.end - this.start;
      if (avail < HEADER_BYTES) return;
      const h = decodeHeader(this.buf.subarray(this.start, this.start + HEADER_BYTES), this.maxPayload, this.from);
      const total = HEADER_BYTES + h.length + padOf(h.length);
      if (total > this.buf.byteLength) {
        // Too big for the shared buffer: move what has arrived into its own buffer.
        const payload = new Uint8Array(h.length);
        const have = Math.min(avail - HEADER_BYTES, h.length);
        payload.set(this.buf.subarray(this.start + HEADER_BYTES, this.start + HEADER_BYTES + have));
        this.start += HEADER_BYTES + have;
        if (have === h.length) {
          this.skip = padOf(h.length);
          this.sink(h, payload);
          continue;
        }
        this.big = { h, payload, fill: have };
        return;
      }
      if (avail < total) {
        if (this.buf.byteLength - this.start < total) this.compact();
        if (total >= LARGE_FRAME) this.frameEnd = this.start + total;
        return;
      }
      const at = this.start + HEADER_BYTES;
      this.start += total;
      this.frameEnd = 0;
      this.sink(h, this.buf.subarray(at, at + h.length));
    }
  }

  /** Moves unparsed bytes to the front. `start` is always at a frame boundary, 8-aligned. */
  private compact(): void {
    if (this.start === 0) return;
    this.buf.copyWithin(0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
  }
}

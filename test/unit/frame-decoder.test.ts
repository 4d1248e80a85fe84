import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FrameDecoder } from '../../src/comm/frame-decoder.js';
import { EMPTY_HEADER, FrameType, HEADER_BYTES, encodeHeader, padOf } from '../../src/comm/frame.js';

function frame(length: number, seq: number): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + length + padOf(length));
  out.set(encodeHeader({ ...EMPTY_HEADER, type: FrameType.Data, length, seq }));
  for (let i = 0; i < length; i++) out[HEADER_BYTES + i] = (seq * 31 + i) & 0xff;
  return out;
}

describe('FrameDecoder', () => {
  it('delivers every frame intact and 8-aligned, also after frames larger than its buffer, whatever the read sizes', () => {
    const capacity = 64 * 1024;
    fc.assert(
      fc.property(
        // Lengths not a multiple of 8 leave padding; some frames exceed the buffer.
        fc.array(fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: capacity - 40, max: 3 * capacity + 7 })), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 4 * capacity }), { minLength: 1, maxLength: 6 }),
        (lengths, reads) => {
          const frames = lengths.map((len, i) => frame(len, i));
          const stream = new Uint8Array(frames.reduce((n, f) => n + f.byteLength, 0));
          let at = 0;
          for (const f of frames) {
            stream.set(f, at);
            at += f.byteLength;
          }
          const got: { seq: number; bytes: Uint8Array; offset: number }[] = [];
          const d = new FrameDecoder(1 << 30, 'test', (h, p) => got.push({ seq: h.seq, bytes: p.slice(), offset: p.byteOffset }), capacity);
          let pos = 0;
          let i = 0;
          while (pos < stream.byteLength) {
            const into = d.readBuffer();
            assert.ok(into.byteLength > 0, 'readBuffer() must never be empty');
            const n = Math.min(into.byteLength, reads[i++ % reads.length]!, stream.byteLength - pos);
            into.set(stream.subarray(pos, pos + n));
            pos += n;
            d.filled(n);
          }
          assert.equal(got.length, lengths.length);
          got.forEach((g, k) => {
            assert.equal(g.seq, k);
            assert.deepEqual(g.bytes, frames[k]!.subarray(HEADER_BYTES, HEADER_BYTES + lengths[k]!));
            assert.equal(g.offset % 8, 0, `payload of frame ${k} (after ${lengths.slice(0, k).join(', ')}) is not 8-aligned`);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('moves little of a large frame inside its buffer, whatever the read sizes', () => {
    // Ring chunks of 1 MiB in a 2 MiB buffer: moving the next chunk's head to the front after
    // every chunk cost 7 % of a rank's time. At most one short read of a frame may be moved.
    const capacity = 2 * 1024 * 1024;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 2 * capacity }), { minLength: 1, maxLength: 8 }), (reads) => {
        let moved = 0;
        class Counting extends Uint8Array {
          override copyWithin(target: number, start: number, end?: number): this {
            moved += (end ?? this.byteLength) - start;
            return super.copyWithin(target, start, end);
          }
        }
        const lengths = Array.from({ length: 12 }, (_, i) => (1 << 20) + (i % 3) * 8);
        const stream = Buffer.concat(lengths.map((len, i) => frame(len, i)));
        let got = 0;
        const d = new FrameDecoder(1 << 30, 'test', () => got++, capacity, (n) => new Counting(n));
        let pos = 0;
        let i = 0;
        while (pos < stream.byteLength) {
          const into = d.readBuffer();
          const n = Math.min(into.byteLength, reads[i++ % reads.length]!, stream.byteLength - pos);
          into.set(stream.subarray(pos, pos + n));
          pos += n;
          d.filled(n);
        }
        assert.equal(got, lengths.length);
        assert.ok(moved <= lengths.length * 64 * 1024, `${moved} bytes moved for ${lengths.length} frames of 1 MiB`);
      }),
      { numRuns: 100 },
    );
  });

  it('gives up its buffer once: reads after dispose() land elsewhere and deliver nothing', () => {
    const got: number[] = [];
    const d = new FrameDecoder(1 << 20, 'test', (h) => got.push(h.seq), 64 * 1024);
    const one = frame(100, 1);
    d.data(one.subarray(0, 40)); // half a frame in, as a connection closes mid-frame
    const buf = d.dispose();
    assert.ok(buf && buf.byteLength === 64 * 1024);
    assert.equal(d.dispose(), undefined, 'given up once only');
    const before = Buffer.from(buf);
    // A read that should not come, both ways a transport reads.
    const into = d.readBuffer();
    assert.ok(into.byteLength > 0 && into.buffer !== buf.buffer, 'never empty, never the buffer given up');
    into.set(one.subarray(40, 40 + Math.min(into.byteLength, one.byteLength - 40)));
    d.filled(one.byteLength - 40);
    d.data(frame(8, 2));
    assert.deepEqual(got, [], 'nothing delivered after dispose');
    assert.ok(Buffer.from(buf).equals(before), 'the buffer given up is not written');
  });
});

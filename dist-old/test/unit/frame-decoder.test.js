import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FrameDecoder } from '../../src/comm/frame-decoder.js';
import { EMPTY_HEADER, FrameType, HEADER_BYTES, encodeHeader, padOf } from '../../src/comm/frame.js';
function frame(length, seq) {
    const out = new Uint8Array(HEADER_BYTES + length + padOf(length));
    out.set(encodeHeader({ ...EMPTY_HEADER, type: FrameType.Data, length, seq }));
    for (let i = 0; i < length; i++)
        out[HEADER_BYTES + i] = (seq * 31 + i) & 0xff;
    return out;
}
describe('FrameDecoder', () => {
    it('delivers every frame intact and 8-aligned, also after frames larger than its buffer, whatever the read sizes', () => {
        const capacity = 64 * 1024;
        fc.assert(fc.property(
        // Lengths not a multiple of 8 leave padding; some frames exceed the buffer.
        fc.array(fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: capacity - 40, max: 3 * capacity + 7 })), { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 4 * capacity }), { minLength: 1, maxLength: 6 }), (lengths, reads) => {
            const frames = lengths.map((len, i) => frame(len, i));
            const stream = new Uint8Array(frames.reduce((n, f) => n + f.byteLength, 0));
            let at = 0;
            for (const f of frames) {
                stream.set(f, at);
                at += f.byteLength;
            }
            const got = [];
            const d = new FrameDecoder(1 << 30, 'test', (h, p) => got.push({ seq: h.seq, bytes: p.slice(), offset: p.byteOffset }), capacity);
            let pos = 0;
            let i = 0;
            while (pos < stream.byteLength) {
                const into = d.readBuffer();
                assert.ok(into.byteLength > 0, 'readBuffer() must never be empty');
                const n = Math.min(into.byteLength, reads[i++ % reads.length], stream.byteLength - pos);
                into.set(stream.subarray(pos, pos + n));
                pos += n;
                d.filled(n);
            }
            assert.equal(got.length, lengths.length);
            got.forEach((g, k) => {
                assert.equal(g.seq, k);
                assert.deepEqual(g.bytes, frames[k].subarray(HEADER_BYTES, HEADER_BYTES + lengths[k]));
                assert.equal(g.offset % 8, 0, `payload of frame ${k} (after ${lengths.slice(0, k).join(', ')}) is not 8-aligned`);
            });
        }), { numRuns: 300 });
    });
    it('moves little of a large frame inside its buffer, whatever the read sizes', () => {
        // Ring chunks of 1 MiB in a 2 MiB buffer: moving the next chunk's head to the front after
        // every chunk cost 7 % of a rank's time. At most one short read of a frame may be moved.
        const capacity = 2 * 1024 * 1024;
        fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 2 * capacity }), { minLength: 1, maxLength: 8 }), (reads) => {
            let moved = 0;
            class Counting extends Uint8Array {
                copyWithin(target, start, end) {
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
                const n = Math.min(into.byteLength, reads[i++ % reads.length], stream.byteLength - pos);
                into.set(stream.subarray(pos, pos + n));
                pos += n;
                d.filled(n);
            }
            assert.equal(got, lengths.length);
            assert.ok(moved <= lengths.length * 64 * 1024, `${moved} bytes moved for ${lengths.length} frames of 1 MiB`);
        }), { numRuns: 100 });
    });
});
//# sourceMappingURL=frame-decoder.test.js.map
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { CorruptStateError } from '../../src/errors.js';
import { checksum, corruptEntries, decodeVersion, encodeVersion } from '../../src/state/version-format.js';
function version() {
    const w = new Uint8Array(new Float32Array([1.5, -2, 3.25]).buffer);
    const j = Buffer.from(JSON.stringify({ position: 7 }));
    const odd = new Uint8Array([1, 2, 3, 4, 5]); // not a multiple of 8: exercises the padding
    return {
        meta: {
            slot: 2,
            version: 41,
            step: 41,
            entries: [
                { name: 'weights', kind: 'float32', bytes: w.byteLength, crc: checksum(w) },
                { name: 'data', kind: 'json', bytes: j.byteLength, crc: checksum(j) },
                { name: 'odd', kind: 'int32', bytes: odd.byteLength, crc: checksum(odd) },
            ],
        },
        data: [w, new Uint8Array(j), odd],
    };
}
describe('state version format', () => {
    it('checksums are CRC-32 as zlib computes it, for views at any offset into shared memory', () => {
        // Files written by a node with the native CRC must verify on one that falls back to zlib's.
        fc.assert(fc.property(fc.uint8Array({ maxLength: 70_000 }), fc.nat(64), (bytes, off) => {
            const shared = new Uint8Array(new SharedArrayBuffer(bytes.length + off));
            shared.set(bytes, off);
            const view = shared.subarray(off);
            assert.equal(checksum(view), zlibCrc32(bytes));
        }), { numRuns: 200 });
    });
    it('round-trips, payloads in shared memory', () => {
        const v = version();
        const back = decodeVersion(encodeVersion(v), 'mem');
        assert.deepEqual(back.meta, v.meta);
        back.data.forEach((d, i) => {
            assert.ok(d.buffer instanceof SharedArrayBuffer);
            assert.deepEqual([...d], [...v.data[i]]);
        });
        assert.deepEqual(corruptEntries(back), []);
    });
    it('names the entry whose bytes changed in memory', () => {
        const v = version();
        const w = v.data[0];
        w[1] = w[1] ^ 0x10;
        assert.deepEqual(corruptEntries(v), ['weights']);
    });
    const damaged = [
        ['empty', () => Buffer.alloc(0), /truncated \(0 bytes/],
        // A zip file's magic: some other format's bytes where ours should be.
        ['bad magic', (b) => Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), b.subarray(4)]), /bad magic/],
        ['newer format', (b) => ((b = Buffer.from(b)), b.writeUInt32LE(9, 4), b), /format version 9/],
        ['header flipped', (b) => ((b = Buffer.from(b)), (b[14] = b[14] ^ 1), b), /header checksum/],
        ['cut in the header', (b) => b.subarray(0, 30), /truncated header/],
        ['cut in a payload', (b) => b.subarray(0, b.length - 12), /truncated in entry/],
        ['payload flipped', (b) => ((b = Buffer.from(b)), (b[b.length - 8] = b[b.length - 8] ^ 0xff), b), /checksum mismatch/],
    ];
    for (const [what, damage, message] of damaged) {
        it(`refuses a copy with ${what}`, () => {
            const bytes = damage(encodeVersion(version()));
            assert.throws(() => decodeVersion(bytes, '/state/slot-2/v41.rcs'), (e) => e instanceof CorruptStateError && e.source === '/state/slot-2/v41.rcs' && message.test(e.message));
        });
    }
});
//# sourceMappingURL=state-format.test.js.map
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { finishAvg, reduceInto, type NumericArray, type ReduceOp } from '../../src/comm/dtype.js';
import { receiveBuffer, releaseReceiveBuffer, simdAvailable } from '../../src/comm/simd.js';

/** The plain definition, element by element, that the SIMD kernels must match bit for bit. */
function reference(dst: NumericArray, src: NumericArray, op: ReduceOp): void {
  for (let i = 0; i < dst.length; i++) {
    const a = dst[i]!;
    const b = src[i]!;
    if (dst instanceof Int32Array) dst[i] = op === 'prod' ? Math.imul(a, b) : (a + b) | 0;
    else dst[i] = op === 'prod' ? a * b : a + b;
  }
}

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor;

/** An array of `n` values at `offset` elements into a larger buffer: kernels must not assume alignment. */
function make(ctor: Ctor, values: number[], offset: number): NumericArray {
  const a = new ctor(values.length + offset).subarray(offset);
  a.set(values);
  return a;
}

function sameBits(actual: NumericArray, expected: NumericArray, what: string): void {
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    // Any NaN is a NaN: payloads are not part of the contract. Signs of zero are.
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    assert.ok(Object.is(a, e), `${what}: element ${i} is ${a}, expected ${e}`);
  }
}

const value = (ctor: Ctor): fc.Arbitrary<number> =>
  ctor === Int32Array
    ? fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })
    : fc.oneof(
        { weight: 8, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }) },
        { weight: 1, arbitrary: fc.constantFrom(0, -0, Infinity, -Infinity, NaN, 1e-40, 3.4e38, -3.4e38) },
      );

describe('SIMD reduction kernels', () => {
  it('are available on this engine (Node 20 has WebAssembly SIMD)', () => {
    assert.equal(simdAvailable, true);
  });

  for (const ctor of [Float32Array, Float64Array, Int32Array] as Ctor[]) {
    for (const op of ['sum', 'prod'] as ReduceOp[]) {
      it(`${op} of ${ctor.name} gives the same bits as the element loop, any length and alignment`, () => {
        fc.assert(
          fc.property(
            // Lengths across the SIMD threshold (256) and the 64 KiB block, with odd tails.
            fc.oneof(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 16_000, max: 40_000 })).chain((n) =>
              fc.tuple(fc.array(value(ctor), { minLength: n, maxLength: n }), fc.array(value(ctor), { minLength: n, maxLength: n }), fc.integer({ min: 0, max: 3 })),
            ),
            ([xs, ys, offset]) => {
              const dst = make(ctor, xs, offset);
              const src = make(ctor, ys, 3 - offset);
              const expected = make(ctor, xs, 0);
              reference(expected, make(ctor, ys, 0), op);
              reduceInto(dst, src, op);
              sameBits(dst, expected, `${ctor.name} ${op}, ${xs.length} elements`);
            },
          ),
          { numRuns: 40 },
        );
      });
    }
  }

  for (const ctor of [Float32Array, Float64Array, Int32Array] as Ctor[]) {
    it(`sum of ${ctor.name} with the operand in a receive buffer (read in place) gives the same bits`, () => {
      fc.assert(
        fc.property(
          fc.oneof(fc.integer({ min: 256, max: 600 }), fc.integer({ min: 16_000, max: 40_000 })).chain((n) =>
            fc.tuple(fc.array(value(ctor), { minLength: n, maxLength: n }), fc.array(value(ctor), { minLength: n, maxLength: n }), fc.integer({ min: 0, max: 64 })),
          ),
          ([xs, ys, slot]) => {
            // Where a payload lands: any element-aligned offset into the decoder's buffer.
            const per = ctor.BYTES_PER_ELEMENT;
            const mem = receiveBuffer((slot + ys.length) * per + 64);
            const src = new ctor(mem.buffer as ArrayBuffer, mem.byteOffset + slot * per, ys.length);
            src.set(ys);
            const dst = make(ctor, xs, 1);
            const expected = make(ctor, xs, 0);
            reference(expected, make(ctor, ys, 0), 'sum');
            reduceInto(dst, src, 'sum');
            sameBits(dst, expected, `${ctor.name} sum, ${xs.length} elements at element ${slot}`);
            sameBits(src, make(ctor, ys, 0), 'the operand is left as it was');
          },
        ),
        { numRuns: 30 },
      );
    });
  }

  it('a receive buffer given back goes to the next receiveBuffer() of its size, and to no other', { skip: !simdAvailable }, () => {
    const bytes = 3 * 65536 + 40; // a size no other test asks for
    const a = receiveBuffer(bytes);
    const b = receiveBuffer(bytes);
    assert.notEqual(a.buffer, b.buffer, 'two live links never share memory');
    releaseReceiveBuffer(a);
    releaseReceiveBuffer(a); // twice by mistake: still handed out once
    assert.notEqual(receiveBuffer(bytes + 8).buffer, a.buffer, 'another size gets memory of its own');
    assert.equal(receiveBuffer(bytes), a, 'the next link of that size gets it back');
    assert.notEqual(receiveBuffer(bytes).buffer, a.buffer, 'and only one link does');
    // Memory that was not made by receiveBuffer() is never handed out.
    const plain = new Uint8Array(bytes);
    releaseReceiveBuffer(plain);
    assert.notEqual(receiveBuffer(bytes), plain);
  });

  it('avg divides like the element loop, in a sub-range only', () => {
    for (const ctor of [Float32Array, Float64Array] as Ctor[]) {
      const n = 70_001;
      const a = new ctor(n).map((_, i) => Math.sin(i) * 1e4);
      const expected = a.slice();
      for (let i = 5; i < n - 7; i++) expected[i] = expected[i]! / 3;
      finishAvg(a, 3, 5, n - 7);
      sameBits(a, expected, ctor.name);
    }
  });
});

import { InvalidArgumentError } from '../errors.js';
import { simdReduce } from './simd.js';

export type DType = 'float32' | 'float64' | 'int32';
export type ReduceOp = 'sum' | 'avg' | 'min' | 'max' | 'prod';
export type NumericArray = Float32Array | Float64Array | Int32Array;

/** Wire codes; never renumber, they are part of the protocol. */
export const DTYPE_CODE: Record<DType, number> = { float32: 1, float64: 2, int32: 3 };
export const REDUCE_CODE: Record<ReduceOp, number> = { sum: 1, avg: 2, min: 3, max: 4, prod: 5 };
export const DTYPE_BY_CODE = invert(DTYPE_CODE);
export const REDUCE_BY_CODE = invert(REDUCE_CODE);

function invert<K extends string>(m: Record<K, number>): Map<number, K> {
  return new Map(Object.entries(m).map(([k, v]) => [v as number, k as K]));
}

export function dtypeOf(a: unknown): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  throw new InvalidArgumentError(
    `buffer must be a Float32Array, Float64Array or Int32Array, got ${describe(a)}`,
  );
}

function describe(a: unknown): string {
  if (a === null) return 'null';
  if (typeof a === 'object') return (a as object).constructor?.name ?? 'object';
  return typeof a;
}

export function viewOf(dtype: DType, bytes: Uint8Array, offsetElems = 0, count?: number): NumericArray {
  const n = count ?? (bytes.byteLength / bytesPer(dtype) - offsetElems);
  const off = bytes.byteOffset + offsetElems * bytesPer(dtype);
  switch (dtype) {
    case 'float32':
      return new Float32Array(bytes.buffer, off, n);
    case 'float64':
      return new Float64Array(bytes.buffer, off, n);
    case 'int32':
      return new Int32Array(bytes.buffer, off, n);
  }
}

export function bytesPer(dtype: DType): number {
  return dtype === 'float64' ? 8 : 4;
}

export function asBytes(a: NumericArray, startElem = 0, endElem = a.length): Uint8Array {
  const b = a.BYTES_PER_ELEMENT;
  return new Uint8Array(a.buffer, a.byteOffset + startElem * b, (endElem - startElem) * b);
}

/** Below this many elements a call into WebAssembly costs more than the loop it replaces. */
const SIMD_MIN = 256;

/**
 * dst[i] = dst[i] (op) src[i]. The order of operands is fixed (accumulator on the left) so
 * every rank, and every run, computes the same bits. `avg` accumulates as a sum; the caller
 * divides once at the end with finishAvg. sum and prod run in WebAssembly SIMD (simd.ts), with
 * the same bits as the loops below, which do the rest.
 */
export function reduceInto(dst: NumericArray, src: NumericArray, op: ReduceOp): void {
  let from = 0;
  if (dst.length >= SIMD_MIN && op !== 'min' && op !== 'max') from = simdReduce(op === 'prod' ? 'mul' : 'add', dst, src);
  if (from === dst.length) return;
  if (dst instanceof Float32Array) reduceF32(dst, src as Float32Array, op, from);
  else if (dst instanceof Float64Array) reduceF64(dst, src as Float64Array, op, from);
  else reduceI32(dst, src as Int32Array, op, from);
}

// One loop per element type: a loop that sees several typed-array types runs slower
// (docs/benchmarks.md, "Allreduce (float32 sum), 2026-11-28, earlier: SIMD reductions, warm windows").
function reduceF32(dst: Float32Array, src: Float32Array, op: ReduceOp, from: number): void {
  const n = dst.length;
  if (op === 'sum' || op === 'avg') for (let i = from; i < n; i++) dst[i] = dst[i]! + src[i]!;
  else if (op === 'prod') for (let i = from; i < n; i++) dst[i] = dst[i]! * src[i]!;
  else minMax(dst, src, op, from);
}

function reduceF64(dst: Float64Array, src: Float64Array, op: ReduceOp, from: number): void {
  const n = dst.length;
  if (op === 'sum' || op === 'avg') for (let i = from; i < n; i++) dst[i] = dst[i]! + src[i]!;
  else if (op === 'prod') for (let i = from; i < n; i++) dst[i] = dst[i]! * src[i]!;
  else minMax(dst, src, op, from);
}

function reduceI32(dst: Int32Array, src: Int32Array, op: ReduceOp, from: number): void {
  const n = dst.length;
  if (op === 'sum' || op === 'avg') for (let i = from; i < n; i++) dst[i] = (dst[i]! + src[i]!) | 0;
  else if (op === 'prod') for (let i = from; i < n; i++) dst[i] = Math.imul(dst[i]!, src[i]!);
  else minMax(dst, src, op, from);
}

function minMax(dst: NumericArray, src: NumericArray, op: ReduceOp, from: number): void {
  const n = dst.length;
  if (op === 'min') {
    // NaN wins, as in IEEE-aware reductions, so a poisoned value is never hidden.
    for (let i = from; i < n; i++) {
      const a = dst[i]!;
      const b = src[i]!;
      dst[i] = a < b || a !== a ? a : b;
    }
  } else {
    for (let i = from; i < n; i++) {
      const a = dst[i]!;
      const b = src[i]!;
      dst[i] = a > b || a !== a ? a : b;
    }
  }
}

/** Divides a summed range by the world size; integers truncate toward zero. */
export function finishAvg(a: NumericArray, world: number, start = 0, end = a.length): void {
  if (a instanceof Int32Array) {
    for (let i = start; i < end; i++) a[i] = Math.trunc(a[i]! / world);
    return;
  }
  const range = a.subarray(start, end);
  const from = range.length >= SIMD_MIN ? simdReduce('div', range, undefined, world) : 0;
  for (let i = from; i < range.length; i++) range[i] = range[i]! / world;
}

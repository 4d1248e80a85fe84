export type DType = 'float32' | 'float64' | 'int32';
export type ReduceOp = 'sum' | 'avg' | 'min' | 'max' | 'prod';
export type NumericArray = Float32Array | Float64Array | Int32Array;
/** Wire codes; never renumber, they are part of the protocol. */
export declare const DTYPE_CODE: Record<DType, number>;
export declare const REDUCE_CODE: Record<ReduceOp, number>;
export declare const DTYPE_BY_CODE: Map<number, DType>;
export declare const REDUCE_BY_CODE: Map<number, ReduceOp>;
export declare function dtypeOf(a: unknown): DType;
export declare function viewOf(dtype: DType, bytes: Uint8Array, offsetElems?: number, count?: number): NumericArray;
export declare function bytesPer(dtype: DType): number;
export declare function asBytes(a: NumericArray, startElem?: number, endElem?: number): Uint8Array;
/**
 * dst[i] = dst[i] (op) src[i]. The order of operands is fixed (accumulator on the left) so
 * every rank, and every run, computes the same bits. `avg` accumulates as a sum; the caller
 * divides once at the end with finishAvg. sum and prod run in WebAssembly SIMD (simd.ts), with
 * the same bits as the loops below, which do the rest.
 */
export declare function reduceInto(dst: NumericArray, src: NumericArray, op: ReduceOp): void;
/** Divides a summed range by the world size; integers truncate toward zero. */
export declare function finishAvg(a: NumericArray, world: number, start?: number, end?: number): void;

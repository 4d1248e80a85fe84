/**
 * Reduction kernels in WebAssembly SIMD. The JavaScript loops ran at 1.4-2 ns per float32
 * element here, and at 1 MiB that was most of an allreduce's time; these run at 0.14 ns, or
 * 0.4 ns counting the copies into and out of the module's memory (docs/benchmarks.md).
 *
 * They give the same bits as the JavaScript loops: adding, multiplying or dividing two float32
 * values in float64 and rounding once to float32 is exactly the float32 operation, and int32
 * adds and multiplies wrap the same way. min and max are not here: wasm's f32x4.min orders -0
 * below +0 and the JavaScript loops do not, and ranks must agree on the rule.
 *
 * The module is built from bytes below rather than shipped as a binary: it is six loops, and
 * this way there is no build step or file to load.
 */
export type SimdOp = 'add' | 'mul' | 'div';
export declare const simdAvailable: boolean;
/**
 * dst = dst (op) src (or the scalar, for div) over the leading elements that fill whole
 * 16-byte lanes, in blocks. Returns how many elements it did (the caller finishes the tail),
 * 0 if it cannot.
 */
export declare function simdReduce(op: SimdOp, dst: Float32Array | Float64Array | Int32Array, src: Float32Array | Float64Array | Int32Array | undefined, scalar?: number): number;
/**
 * Memory for a receive buffer that the kernels can read in place: a module instance of its
 * own, whose memory holds the buffer and a block of scratch. A payload received into it is
 * reduced without being copied into the module first, one copy of three saved (1 MiB
 * allreduce, alternating builds: 4 ranks 1039-1294 against 1162-1594 µs, 2 ranks about 5 %,
 * within the noise). The memory never grows, so views of it stay valid. Plain memory when SIMD
 * is not available or the engine refuses another wasm memory (each reserves address space).
 */
export declare function receiveBuffer(bytes: number): Uint8Array;

/**
 * Reduction kernels in WebAssembly SIMD. At 1 MiB the JavaScript loops were most of an
 * allreduce's time; these are several times faster, even counting the copies into and out of
 * the module's memory (docs/benchmarks.md, "Allreduce (float32 sum), 2026-11-28, earlier: SIMD
 * reductions, warm windows").
 *
 * They give the same bits as the JavaScript loops: adding, multiplying or dividing two float32
 * values in float64 and rounding once to float32 is exactly the float32 operation, and int32
 * adds and multiplies wrap the same way. min and max are not here: wasm's f32x4.min orders -0
 * below +0 and the JavaScript loops do not, and ranks must agree on the rule.
 *
 * The module is built from bytes below rather than shipped as a binary: it is six loops, and
 * this way there is no build step or file to load.
 */

/** Bytes processed per call into the module: two blocks in its memory, both hot in cache. */
const BLOCK = 64 * 1024;

export type SimdOp = 'add' | 'mul' | 'div';
type Kind = 'f32' | 'f64' | 'i32';

// SIMD opcodes (after the 0xfd prefix), LEB128-encoded.
const OPCODES: Record<`${SimdOp}_${Kind}`, number[] | undefined> = {
  add_f32: [0xe4, 0x01],
  add_f64: [0xf0, 0x01],
  add_i32: [0xae, 0x01],
  mul_f32: [0xe6, 0x01],
  mul_f64: [0xf2, 0x01],
  mul_i32: [0xb5, 0x01],
  div_f32: [0xe7, 0x01],
  div_f64: [0xf3, 0x01],
  div_i32: undefined,
};

function leb(x: number): number[] {
  const out: number[] = [];
  do {
    let b = x & 0x7f;
    x >>>= 7;
    if (x !== 0) b |= 0x80;
    out.push(b);
  } while (x !== 0);
  return out;
}

const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
const name = (s: string): number[] => [s.length, ...Buffer.from(s, 'latin1')];

/** fn(dst, src, bytes): dst[i] = dst[i] (op) src[i] over `bytes` (a multiple of 16), lane by lane. */
function loopBody(opcode: number[]): number[] {
  const get = (i: number): number[] => [0x20, i];
  const set = (i: number): number[] => [0x21, i];
  const bump = (i: number, by: number, sub = false): number[] => [...get(i), 0x41, by, sub ? 0x6b : 0x6a, ...set(i)];
  const body = [
    0x00, // no locals
    0x02, 0x40, 0x03, 0x40, // block, loop
    ...get(2), 0x45, 0x0d, 0x01, // if bytes == 0: break
    ...get(0), ...get(0), 0xfd, 0x00, 0x04, 0x00, ...get(1), 0xfd, 0x00, 0x04, 0x00, 0xfd, ...opcode, 0xfd, 0x0b, 0x04, 0x00,
    ...bump(0, 16), ...bump(1, 16), ...bump(2, 16, true),
    0x0c, 0x00, 0x0b, 0x0b, 0x0b, // continue; end loop, block, function
  ];
  return [...leb(body.length), ...body];
}

// The engine's WebAssembly API, typed as far as we use it (the DOM lib is not in this project).
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
const WASM = (globalThis as unknown as { WebAssembly?: Wasm }).WebAssembly;

interface Kernels {
  memory: { buffer: ArrayBuffer };
  fns: Map<string, (dst: number, src: number, bytes: number) => void>;
}

/** Compiled modules by memory size: every link's receive buffer instantiates one (below). */
let compiled: { pages: number; module: object }[] = [];

const NAMES = Object.keys(OPCODES).filter((k) => OPCODES[k as keyof typeof OPCODES]) as (keyof typeof OPCODES)[];

function moduleBytes(pages: number): Uint8Array {
  const names = NAMES;
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 3, 0x7f, 0x7f, 0x7f, 0]),
    ...section(3, [names.length, ...names.map(() => 0)]),
    ...section(5, [1, 0, pages]),
    ...section(7, [names.length + 1, ...names.flatMap((n, i) => [...name(n), 0, i]), ...name('memory'), 2, 0]),
    ...section(10, [names.length, ...names.flatMap((n) => loopBody(OPCODES[n] as number[]))]),
  ]);
}

function build(pages = Math.ceil((2 * BLOCK) / 65536)): Kernels | undefined {
  const names = NAMES;
  if (!WASM) return undefined;
  try {
    let module = compiled.find((c) => c.pages === pages)?.module;
    if (!module) {
      module = new WASM.Module(moduleBytes(pages));
      compiled = [...compiled.slice(-3), { pages, module }];
    }
    const exports = new WASM.Instance(module).exports;
    return {
      memory: exports.memory as { buffer: ArrayBuffer },
      fns: new Map(names.map((n) => [n, exports[n] as (d: number, s: number, b: number) => void])),
    };
  } catch {
    return undefined; // no SIMD in this engine: the JavaScript loops do the work
  }
}

const kernels = build();
const mem = kernels ? new Uint8Array(kernels.memory.buffer) : undefined;

export const simdAvailable = kernels !== undefined;

/**
 * dst = dst (op) src (or the scalar, for div) over the leading elements that fill whole
 * 16-byte lanes, in blocks. Returns how many elements it did (the caller finishes the tail),
 * 0 if it cannot.
 */
export function simdReduce(op: SimdOp, dst: Float32Array | Float64Array | Int32Array, src: Float32Array | Float64Array | Int32Array | undefined, scalar?: number): number {
  if (!kernels || !mem) return 0;
  const kind: Kind = dst instanceof Float32Array ? 'f32' : dst instanceof Float64Array ? 'f64' : 'i32';
  const fn = kernels.fns.get(`${op}_${kind}`);
  if (!fn) return 0;
  const per = dst.BYTES_PER_ELEMENT;
  const total = Math.floor((dst.length * per) / 16) * 16;
  const d = new Uint8Array(dst.buffer, dst.byteOffset, total);
  if (src === undefined) {
    // An operand that is the same scalar in every lane (avg's division), filled once per call.
    const splat = kind === 'f32' ? new Float32Array(mem.buffer, BLOCK, BLOCK / 4) : new Float64Array(mem.buffer, BLOCK, BLOCK / 8);
    splat.fill(scalar ?? 1);
  }
  const arena = src ? arenas.get(src.buffer) : undefined;
  if (arena) {
    // The operand already lies in the arena's memory: only dst goes in and out.
    const afn = arena.kernels.fns.get(`${op}_${kind}`) as (d: number, s: number, b: number) => void;
    for (let at = 0; at < total; at += BLOCK) {
      const len = Math.min(BLOCK, total - at);
      arena.mem.set(d.subarray(at, at + len), arena.scratch);
      afn(arena.scratch, (src as Float32Array).byteOffset + at, len);
      d.set(arena.mem.subarray(arena.scratch, arena.scratch + len), at);
    }
    return total / per;
  }
  const s = src ? new Uint8Array(src.buffer, src.byteOffset, total) : undefined;
  for (let at = 0; at < total; at += BLOCK) {
    const len = Math.min(BLOCK, total - at);
    mem.set(d.subarray(at, at + len), 0);
    if (s) mem.set(s.subarray(at, at + len), BLOCK);
    fn(0, BLOCK, len);
    d.set(mem.subarray(0, len), at);
  }
  return total / per;
}

interface Arena {
  kernels: Kernels;
  mem: Uint8Array;
  /** Offset of the block dst is copied to. */
  scratch: number;
}
const arenas = new WeakMap<ArrayBufferLike, Arena>();

/**
 * Memory for a receive buffer that the kernels can read in place: a module instance of its
 * own, whose memory holds the buffer and a block of scratch. A payload received into it is
 * reduced without being copied into the module first, one copy of three saved
 * (docs/benchmarks.md, "Allreduce (float32 sum), 2026-11-28, before it: receive buffers in wasm
 * memory"). The memory never grows, so views of it stay valid. Plain memory when SIMD
 * is not available or the engine refuses another wasm memory (each reserves address space).
 */
export function receiveBuffer(bytes: number): Uint8Array {
  const reused = released.get(bytes)?.pop();
  if (reused) return reused;
  const size = Math.ceil(bytes / 16) * 16;
  const own = kernels ? build(Math.ceil((size + BLOCK) / 65536)) : undefined;
  if (!own) return new Uint8Array(bytes);
  const mem = new Uint8Array(own.memory.buffer);
  arenas.set(own.memory.buffer, { kernels: own, mem, scratch: size });
  return mem.subarray(0, bytes);
}

/**
 * Receive buffers of closed links, by size, for the next links. Every recovery closes each
 * link and opens new ones; instantiating a module and a memory for each took a tenth of the
 * programs' CPU in a profile of a 32-node recovery (docs/benchmarks.md, "Where a 32-node
 * recovery's CPU goes"). The cap bounds what an idle process keeps; a process has a link per
 * partner, O(log N).
 */
const released = new Map<number, Uint8Array[]>();
const RELEASED_PER_SIZE = 32;

/**
 * Gives back a buffer from receiveBuffer(): only once nothing can write into it or read from
 * it any more (its connection closed: no read can land in it after that).
 */
export function releaseReceiveBuffer(buf: Uint8Array): void {
  if (!arenas.has(buf.buffer)) return; // plain memory: the collector takes it
  const list = released.get(buf.byteLength) ?? [];
  released.set(buf.byteLength, list);
  if (list.length < RELEASED_PER_SIZE && !list.includes(buf)) list.push(buf);
}

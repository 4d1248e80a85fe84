/**
 * sched_yield(2) for a polling rank that shares its core with other ranks. Node has no binding
 * for it; WASI has one (`sched_yield`, which libuv's uvwasi passes to the kernel), so a module
 * of a few bytes that imports it and exports it again gives us the call.
 *
 * Why a polling rank wants it: with 4 ranks on 2 cores, a rank asleep in epoll must be woken
 * by each write to it, and on this VM that wake-up, paid by the writer, was most of a rank's
 * busy time at 4 KiB (docs/benchmarks.md, "Allreduce (float32 sum), 2026-11-28 (fourth
 * session)"). A rank that polls is not asleep, so writes to it are cheap; yielding
 * between polls hands the core to the rank it shares it with, the one we are often waiting for.
 * Open MPI's TCP ranks poll and yield the same way.
 *
 * `node:wasi` is experimental in Node 20 and says so once per process on stderr: the warning
 * is dropped while the module loads. If anything here fails, there is no yield and ranks that
 * share cores do not poll (as before).
 */

// (module (import "wasi_snapshot_preview1" "sched_yield" (func (result i32)))
//         (memory 0) (export "yield" (func 0)) (export "memory" (memory 0)))
const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // types: () -> i32
  0x02, 0x26, 0x01, // imports: one
  0x16, ...Buffer.from('wasi_snapshot_preview1'),
  0x0b, ...Buffer.from('sched_yield'),
  0x00, 0x00, // a function of type 0
  0x05, 0x03, 0x01, 0x00, 0x00, // memory: one, no pages (WASI wants a memory export)
  0x07, 0x12, 0x02, // exports: two
  0x05, ...Buffer.from('yield'), 0x00, 0x00,
  0x06, ...Buffer.from('memory'), 0x02, 0x00,
]);

// The engine's WebAssembly API, typed as far as we use it (the DOM lib is not in this project).
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const WASM = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

let loading: Promise<(() => void) | undefined> | undefined;
let loaded: (() => void) | undefined;

/** The yield, or undefined where WASI is not available. Loaded once per process. */
export function loadCpuYield(): Promise<(() => void) | undefined> {
  loading ??= load().then(
    (y) => (loaded = y),
    () => undefined,
  );
  return loading;
}

/** The yield if loadCpuYield() has completed and succeeded. */
export function cpuYield(): (() => void) | undefined {
  return loaded;
}

async function load(): Promise<() => void> {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === 'ExperimentalWarning' && String(warning).includes('WASI')) return;
    (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  let WASI: typeof import('node:wasi').WASI;
  try {
    ({ WASI } = await import('node:wasi'));
  } finally {
    process.emitWarning = emit;
  }
  const wasi = new WASI({ version: 'preview1' });
  const instance = new WASM.Instance(new WASM.Module(MODULE), wasi.getImportObject());
  wasi.initialize(instance);
  const y = instance.exports.yield as () => number;
  y();
  return () => void y();
}

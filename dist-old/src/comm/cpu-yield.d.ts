/**
 * sched_yield(2) for a polling rank that shares its core with other ranks. Node has no binding
 * for it; WASI has one (`sched_yield`, which libuv's uvwasi passes to the kernel), so a module
 * of a few bytes that imports it and exports it again gives us the call.
 *
 * Why a polling rank wants it: with 4 ranks on 2 cores, a rank asleep in epoll must be woken
 * by each write to it, and on this VM the writer pays ~12 µs for that wake-up, 80 % of a rank's
 * busy time at 4 KiB. A rank that polls is not asleep, so writes to it are cheap; yielding
 * between polls hands the core to the rank it shares it with, the one we are often waiting for.
 * Open MPI's TCP ranks poll and yield the same way.
 *
 * `node:wasi` is experimental in Node 20 and says so once per process on stderr: the warning
 * is dropped while the module loads. If anything here fails, there is no yield and ranks that
 * share cores do not poll (as before).
 */
/** The yield, or undefined where WASI is not available. Loaded once per process. */
export declare function loadCpuYield(): Promise<(() => void) | undefined>;
/** The yield if loadCpuYield() has completed and succeeded. */
export declare function cpuYield(): (() => void) | undefined;

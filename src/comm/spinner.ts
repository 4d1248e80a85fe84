/**
 * Busy-polls the event loop for a short while after a collective starts, instead of sleeping
 * in epoll at once. On this kind of machine (a VM) a core that goes idle takes several times
 * longer to wake again than a 4 KiB exchange takes when both sides poll (docs/architecture.md,
 * "Choices and their reasons"). setImmediate makes each loop turn poll with a zero timeout, so
 * the data is seen as soon as it lands.
 *
 * A long poll (a large collective's window grows with its size) yields the core between polls
 * once it has run `yieldAfterUs`: a process that polls for a millisecond without yielding keeps
 * off its core whoever else is runnable there, kernel threads included, and the waits of a
 * 1 MiB allreduce grew (docs/benchmarks.md, "Allreduce against Open MPI, interleaved
 * (2026-12-07)"). With no other task runnable, sched_yield returns at once and the poll is as
 * tight as before.
 *
 * Spinning only pays if the peer runs meanwhile. When it keeps not paying (the ranks share a
 * core, or the peer is computing), stop for a while: a spin that never hits only takes CPU
 * from whoever we are waiting for.
 */
export class Spinner {
  private misses = 0;
  private resting = 0;

  /**
   * `yieldCpu` is called between polls once a poll has lasted `yieldAfterUs`: from the first
   * poll when ranks share cores (a polling rank gives its core to the one it waits for), after
   * the first `us` when each rank has a core (only the long polls of large collectives yield).
   */
  constructor(
    private readonly us: number,
    private readonly yieldCpu?: () => void,
    private readonly yieldAfterUs = 0,
    private readonly missesBeforeRest = 8,
    private readonly restCalls = 64,
  ) {}

  /** Polls until `run` settles or `us + extraUs` have passed. */
  watch(run: { readonly settled: boolean }, extraUs = 0): void {
    if (this.us <= 0) return;
    if (this.resting > 0) {
      this.resting--;
      return;
    }
    const start = performance.now();
    const until = start + (this.us + extraUs) / 1000;
    const yieldFrom = start + this.yieldAfterUs / 1000;
    const spin = (): void => {
      if (run.settled) {
        this.misses = 0;
        return;
      }
      const now = performance.now();
      if (now < until) {
        if (now >= yieldFrom) this.yieldCpu?.();
        setImmediate(spin);
      } else if (++this.misses >= this.missesBeforeRest) {
        this.misses = 0;
        this.resting = this.restCalls;
      }
    };
    setImmediate(spin);
  }
}

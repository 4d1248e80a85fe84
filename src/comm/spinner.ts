/**
 * Busy-polls the event loop for a short while after a collective starts, instead of sleeping
 * in epoll at once. On this kind of machine (a VM) a core that goes idle takes several times
 * longer to wake again than a 4 KiB exchange takes when both sides poll (docs/architecture.md,
 * "Choices and their reasons"). setImmediate makes each loop turn poll with a zero timeout, so
 * the data is seen as soon as it lands.
 *
 * Spinning only pays if the peer runs meanwhile. When it keeps not paying (the ranks share a
 * core, or the peer is computing), stop for a while: a spin that never hits only takes CPU
 * from whoever we are waiting for.
 */
export class Spinner {
  private misses = 0;
  private resting = 0;

  /** `yieldCpu`, when ranks share cores: called between polls, so a polling rank gives its core to the one it waits for. */
  constructor(
    private readonly us: number,
    private readonly yieldCpu?: () => void,
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
    const until = performance.now() + (this.us + extraUs) / 1000;
    const spin = (): void => {
      if (run.settled) {
        this.misses = 0;
      } else if (performance.now() < until) {
        this.yieldCpu?.();
        setImmediate(spin);
      } else if (++this.misses >= this.missesBeforeRest) {
        this.misses = 0;
        this.resting = this.restCalls;
      }
    };
    setImmediate(spin);
  }
}

/**
 * The program's compute time: the time between its operations, not the time waiting in them.
 * Two clock reads per operation (performance.now(), no system call), nothing else: the job
 * calls begin() as an operation is issued and end() as it settles. Operations may overlap
 * (several sends and receives at once): computing is when none is pending.
 */
export class ComputeMeter {
  private pending = 0;
  /** When the last pending operation settled: computing since then. Undefined before the first. */
  private since: number | undefined;
  private total = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  begin(): void {
    if (this.pending++ === 0 && this.since !== undefined) this.total += this.now() - this.since;
  }

  end(): void {
    if (--this.pending === 0) this.since = this.now();
  }

  /** Compute time so far, in ms, including the stretch under way. */
  get totalMs(): number {
    return this.pending === 0 && this.since !== undefined ? this.total + (this.now() - this.since) : this.total;
  }
}

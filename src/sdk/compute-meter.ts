/**
 * The program's compute time: the time between its operations, not the time waiting in them.
 * Two clock reads per operation (performance.now(), no system call), nothing else: the job
 * calls begin() as an operation is issued and end() as it settles. Operations may overlap
 * (several sends and receives at once): computing is when none is pending.
 *
 * It is also where `--chaos slow` makes a straggler: after `slowBy(F)`, each stretch of
 * computing is followed by a stall of (F - 1) times its length, the main thread blocked as a
 * host thread is while a throttled GPU runs its kernels, so every step computes F times as long
 * on any machine. Not a SIGSTOP/SIGCONT duty cycle from the launcher: on a loaded machine the
 * scheduler hands a stopped process back its CPU share as soon as it runs again (a sleeper's
 * credit), and such a cycle barely slowed the program's steps (docs/benchmarks.md,
 * "Stragglers (2026-12-07)"). The heartbeat and keeper threads are not stalled: a slow node is
 * slow, not hung.
 */
export class ComputeMeter {
  private pending = 0;
  /** When the last pending operation settled: computing since then. Undefined before the first. */
  private since: number | undefined;
  private total = 0;
  private factor = 1;

  constructor(
    private readonly now: () => number = () => performance.now(),
    private readonly stall: (ms: number) => void = blockFor,
  ) {}

  begin(): void {
    if (this.pending++ !== 0 || this.since === undefined) return;
    let stretch = this.now() - this.since;
    if (this.factor > 1 && stretch > 0) {
      this.stall((this.factor - 1) * stretch);
      stretch = this.now() - this.since;
    }
    this.total += stretch;
  }

  end(): void {
    if (--this.pending === 0) this.since = this.now();
  }

  /** Compute time so far, in ms, including the stretch under way. */
  get totalMs(): number {
    return this.pending === 0 && this.since !== undefined ? this.total + (this.now() - this.since) : this.total;
  }

  /** `--chaos slow`: compute `factor` times as long from now on. */
  slowBy(factor: number): void {
    this.factor = factor;
  }
}

let cell: Int32Array | undefined;

/** Blocks this thread for `ms` without spinning: waits on a cell nobody notifies. */
function blockFor(ms: number): void {
  cell ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(cell, 0, 0, ms);
}

import { InvalidArgumentError } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';

/**
 * `--chaos slow:...`: a program made `factor` times slower by a SIGSTOP/SIGCONT duty cycle, run
 * for `runMs` and stopped for `stopMs`, over and over. The whole process stops, so its steps take
 * `factor` times as long whatever it computes with, which is what a throttled or degraded node
 * looks like to the others (the premise is checked in test/e2e/stragglers.test.ts).
 */
export interface DutyCycle {
  runMs: number;
  stopMs: number;
}

/**
 * Each stop is far shorter than the fault timeout, so the program's heartbeat thread, stopped
 * with it, is late by a fraction of the time it may be silent: the hang detector must not take a
 * slow program for a hung one. A sixth of the fault timeout (100 ms at the default 600 ms), never
 * longer than 100 ms: short periods slow every step alike, not one step in three.
 */
export function dutyCycle(factor: number, faultTimeoutMs: number): DutyCycle {
  if (!(factor > 1)) throw new InvalidArgumentError(`a slow-down factor must be above 1, got ${factor}`);
  const stopMs = Math.max(2, Math.min(100, faultTimeoutMs / 6));
  // factor = (run + stop) / run
  return { runMs: stopMs / (factor - 1), stopMs };
}

export class SlowDown {
  private timer: TimerHandle | undefined;
  private stopped = false;
  private ended = false;

  /**
   * @param signal sends a signal to the program; false when it is gone, which ends the slow-down.
   */
  constructor(
    private readonly cycle: DutyCycle,
    private readonly clock: Clock,
    private readonly signal: (sig: 'SIGSTOP' | 'SIGCONT') => boolean,
  ) {}

  get running(): boolean {
    return !this.ended;
  }

  start(): void {
    if (this.ended || this.timer !== undefined) return;
    this.pause();
  }

  /** Ends the cycle and leaves the program running (continued, if it was stopped). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped) this.signal('SIGCONT');
    this.stopped = false;
  }

  private pause(): void {
    if (!this.signal('SIGSTOP')) return this.end();
    this.stopped = true;
    this.timer = this.clock.setTimeout(() => this.resume(), this.cycle.stopMs);
  }

  private resume(): void {
    this.stopped = false;
    if (!this.signal('SIGCONT')) return this.end();
    this.timer = this.clock.setTimeout(() => this.pause(), this.cycle.runMs);
  }
}

import type { Clock } from '../util/clock.js';

/** Lifeguard's ceiling (memberlist's awareness): at most 9× the timeouts. */
export const MAX_HEALTH_SCORE = 8;

/**
 * This FMS's own health, after Lifeguard (memberlist's awareness.go): a score of evidence that
 * the trouble is here, not at the peers: our timers ran late (the event loop was starved), a
 * suspicion of ours was refuted (the peer was alive: we missed its beats), a confirmation round
 * got no answer from anyone (we are cut off), several peers went silent at once. Every timeout
 * of the peer watch is multiplied by score + 1, so a sick observer waits longer instead of
 * accusing. The score falls by one per `decayMs` without new evidence, computed when read:
 * no timer of its own.
 */
export class LocalHealth {
  private value = 0;
  private since: number;

  constructor(
    private readonly clock: Clock,
    private readonly decayMs: number,
    private readonly onChange: () => void = () => undefined,
  ) {
    this.since = clock.now();
  }

  get score(): number {
    const now = this.clock.now();
    if (this.value > 0) {
      const steps = Math.floor((now - this.since) / this.decayMs);
      if (steps > 0) {
        this.value = Math.max(0, this.value - steps);
        this.since += steps * this.decayMs;
      }
    }
    if (this.value === 0) this.since = now;
    return this.value;
  }

  /** What every timeout is multiplied by. */
  multiplier(): number {
    return this.score + 1;
  }

  /** One more piece of evidence against ourselves. */
  worse(): void {
    const before = this.score;
    this.value = Math.min(MAX_HEALTH_SCORE, before + 1);
    this.since = this.clock.now();
    if (this.value !== before) this.onChange();
  }
}

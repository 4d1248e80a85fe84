import type { StragglerAction, StragglerConfig } from '../protocol/fms-messages.js';
import type { Clock } from '../util/clock.js';
import type { MembershipRecord } from './membership-record.js';

/**
 * The straggler rule, on a clock and without I/O: a member whose compute time per step stays
 * above `factor` times the members' median for `windowMs` is slow. What a confirmed straggler
 * leads to is `stragglerAction()`, from the membership record alone. fms/straggler-watch.ts
 * feeds the rule and acts on it; test/unit/straggler-rule.test.ts runs it on the fake clock.
 */

/**
 * How often the members exchange their compute times (sdk/straggler-exchange.ts): at least five
 * samples in a window, so a straggler is confirmed at most a fifth of a window late; never more
 * often than every 100 ms, never less than every 5 s.
 */
export function stragglerExchangeMs(windowMs: number): number {
  return Math.min(5000, Math.max(100, windowMs / 5));
}

/**
 * A member slower than the median by less than this per step is never a straggler, whatever the
 * ratio: in a job whose steps are nearly all communication, compute times of a few tenths of a
 * millisecond differ by large factors from noise alone, and replacing a node costs far more.
 */
export const MIN_EXCESS_MS = 1;

/** One exchange's figures for this member: its compute time per step, and the members' median. */
export interface ComputeSample {
  computeMs: number;
  medianMs: number;
  /** The wall time the figures cover, up to now (the exchange's window); 0 if unknown. */
  spanMs?: number | undefined;
}

export type StragglerVerdict =
  /** Above the factor, after not being: the window starts now. */
  | { kind: 'suspected'; sample: ComputeSample }
  /** Back under the factor after `slowMs` above it. */
  | { kind: 'cleared'; sample: ComputeSample; slowMs: number }
  /** Above the factor for the whole window: said once per suspicion. */
  | { kind: 'confirmed'; sample: ComputeSample; slowMs: number };

export class StragglerRule {
  /** When the current suspicion started (clock ms); undefined: not suspected. */
  private since: number | undefined;
  private confirmed = false;

  constructor(
    private readonly cfg: Pick<StragglerConfig, 'factor' | 'windowMs'>,
    private readonly clock: Clock,
  ) {}

  get suspected(): boolean {
    return this.since !== undefined;
  }

  /** Whether a sample is above the line: over `factor` times the median, and by at least MIN_EXCESS_MS. */
  isSlow(s: ComputeSample): boolean {
    return s.computeMs > this.cfg.factor * s.medianMs && s.computeMs - s.medianMs >= MIN_EXCESS_MS;
  }

  /**
   * Takes one exchange's sample. Samples come every few seconds, so the window is judged when one
   * arrives: a straggler is confirmed by the first sample at least `windowMs` after the start of
   * the first slow one (the span it covers: the node was slow over it, on average), and a single
   * sample under the line ends the suspicion (the window starts again).
   */
  observe(s: ComputeSample): StragglerVerdict | undefined {
    const now = this.clock.now();
    if (!this.isSlow(s)) {
      if (this.since === undefined) return undefined;
      const slowMs = now - this.since;
      this.since = undefined;
      this.confirmed = false;
      return { kind: 'cleared', sample: s, slowMs };
    }
    if (this.since === undefined) {
      this.since = now - Math.max(0, s.spanMs ?? 0);
      return { kind: 'suspected', sample: s };
    }
    if (!this.confirmed && now - this.since >= this.cfg.windowMs) {
      this.confirmed = true;
      return { kind: 'confirmed', sample: s, slowMs: now - this.since };
    }
    return undefined;
  }

  /** Ends a suspicion without a sample (the membership changed): how long it had lasted, or undefined if there was none. */
  reset(): number | undefined {
    if (this.since === undefined) return undefined;
    const slowMs = this.clock.now() - this.since;
    this.since = undefined;
    this.confirmed = false;
    return slowMs;
  }
}

/**
 * Whether a confirmed straggler is declared a fault, from the record as it is: with `replace`
 * only when a spare would take its rank (the policy uses spares and one is left), else it is
 * reported; with `shrink` also without a spare, when the job may lose a member (--min-nodes);
 * with `report` never. A slow node is never worth ending the job for.
 */
export function stragglerAction(on: StragglerAction, record: Pick<MembershipRecord, 'members' | 'spares' | 'minNodes' | 'policy'>): { declare: true } | { declare: false; why: string } {
  if (on === 'report') return { declare: false, why: '--on-straggler report' };
  const spare = record.policy !== 'shrink' && record.spares.length > 0;
  if (spare) return { declare: true };
  if (on === 'replace') return { declare: false, why: record.spares.length === 0 ? 'no spare left to replace it' : '--on-fault shrink uses no spare' };
  if (record.members.length - 1 >= record.minNodes) return { declare: true };
  return { declare: false, why: `no spare left, and --min-nodes ${record.minNodes} does not allow one member fewer` };
}

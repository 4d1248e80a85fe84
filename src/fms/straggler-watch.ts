import type { FromProgram } from '../protocol/program-ipc.js';
import type { Clock } from '../util/clock.js';
import type { Emit, FmsConfig } from './fms-shared.js';
import type { MembershipRecord } from './membership.js';
import { StragglerRule, stragglerAction, type ComputeSample } from './straggler-rule.js';

export type ComputeReport = Extract<FromProgram, { type: 'compute' }>;

/** What the straggler watch needs from the rest of the FMS. */
export interface StragglerWatchLinks {
  emit: Emit;
  /** The membership record as this node last read it. */
  record(): MembershipRecord | undefined;
  /** Declares this node failed with cause `slow`: the one path every fault takes (PeerWatch.declareFault). */
  declare(detail: string): void;
}

const ms = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * This node's judge of its own program's speed. Every few seconds the program reports its
 * compute time per step and the members' median, both learnt from one exchange among the
 * members (sdk/straggler-exchange.ts): each node judges itself, so nothing here grows with the
 * number of nodes. The rule is straggler-rule.ts; a confirmed straggler is declared failed like
 * any other fault of this node, so it becomes one membership proposal and the usual recovery.
 */
export class StragglerWatch {
  private readonly rule: StragglerRule;
  /** The generation the samples come from; a suspicion does not carry over into another. */
  private generation = -1;

  constructor(
    private readonly cfg: Pick<FmsConfig, 'node' | 'straggler'>,
    clock: Clock,
    private readonly links: StragglerWatchLinks,
  ) {
    this.rule = new StragglerRule(cfg.straggler, clock);
  }

  onCompute(m: ComputeReport): void {
    const record = this.links.record();
    if (!record || record.state !== 'running' || m.generation !== record.generation || !record.members.includes(this.cfg.node)) return;
    if (m.generation !== this.generation) this.newGeneration(m.generation);
    // Alone, a member is its own median: there is nothing to be slower than.
    if (m.world < 2) return;
    const sample: ComputeSample = { computeMs: m.computeMs, medianMs: m.medianMs, spanMs: m.spanMs };
    const v = this.rule.observe(sample);
    if (!v) return;
    const { emit } = this.links;
    const g = m.generation;
    const figures = { compute_ms: ms(sample.computeMs), median_ms: ms(sample.medianMs) };
    if (v.kind === 'suspected') {
      emit('straggler_suspected', { generation: g, ...figures, factor: this.cfg.straggler.factor, window_ms: this.cfg.straggler.windowMs });
    } else if (v.kind === 'cleared') {
      emit('straggler_cleared', { generation: g, ...figures, slow_ms: Math.round(v.slowMs), why: 'fast_again' });
    } else {
      const action = stragglerAction(this.cfg.straggler.on, record);
      const ratio = sample.medianMs > 0 ? (sample.computeMs / sample.medianMs).toFixed(1) : '∞';
      if (action.declare) {
        this.links.declare(`compute time ${figures.compute_ms} ms per step, ${ratio}x the members' median ${figures.median_ms} ms, for ${Math.round(v.slowMs)} ms`);
      } else {
        emit('straggler_reported', { generation: g, ...figures, slow_ms: Math.round(v.slowMs), why: action.why });
      }
    }
  }

  private newGeneration(generation: number): void {
    const slowMs = this.rule.reset();
    if (slowMs !== undefined) {
      this.links.emit('straggler_cleared', { generation: this.generation, compute_ms: null, median_ms: null, slow_ms: Math.round(slowMs), why: 'membership_changed' });
    }
    this.generation = generation;
  }
}

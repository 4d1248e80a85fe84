import type { NodeEventFields, ProgramEventName } from '../protocol/events.js';
import { chooseVerifyPlan, DEFAULT_VERIFY_MS, type VerifyPlan } from './state-verifier.js';
import { chooseEvery, chooseFarEvery, chooseVersionEvery, finest, switchPoint, versionTargetMs, type Cadence } from '../state/replica-cadence.js';

/** Commits after a sync before the step is measured (each is a version until then): the first steps warm up. */
const WARM_VERSIONS = 10;
/** Commits measured. */
const MEASURED_VERSIONS = 20;

export interface PacerOptions {
  keep: number;
  /** The finest interval, and the only one when `targetMs` is undefined (a fixed `--replicate-every`). */
  base: number;
  /** How far apart in time replicas should be; undefined: every `base`th version, always. */
  targetMs: number | undefined;
  /** How far apart in time versions should be; undefined: `versionEvery`, always. */
  versionMs: number | undefined;
  /** A fixed version interval in commits (`--version-every`), or 1 until one is chosen. */
  versionEvery: number;
}

export interface PacerHost {
  readonly rank: number;
  readonly generation: number;
  /**
   * An allreduce among the members that does not count as the program's own operation: it
   * must not take the MembershipChangedError meant for the program's next one. Rejects if the
   * membership changed or the operation fails.
   */
  exchange(buf: Float64Array, op: 'max'): Promise<Float64Array>;
  report<N extends ProgramEventName>(event: N, fields: NodeEventFields<N>): void;
  now(): number;
}

/**
 * Chooses, with the other members, which commits make versions and which versions are replicated
 * (replica-cadence.ts): after each sync, a version per commit and a replica of every `base`th;
 * once the step is measured, an allreduce takes the slowest member's step, and every member
 * switches to the intervals that space versions `versionMs` and replicas `targetMs` apart.
 * Members commit at the same points relative to their collectives, so the allreduce is issued
 * at the same point everywhere and goes before the program's next one.
 */
export class ReplicaPacer {
  /** Bumped by each restart: a late answer from before a sync is ignored. */
  private epoch = 0;
  private measureFrom = Infinity;
  private exchangeAt = Infinity;
  private startedAt = 0;
  /** The measured window's versions: their commits' total time and count. */
  private cost = { ms: 0, n: 0 };
  /** A digest of the replicated state, timed at the exchange's commit. */
  private digestMs = 0;

  constructor(
    private readonly opts: PacerOptions,
    private readonly host: PacerHost,
    private readonly apply: (c: Cadence) => void,
    /** Given the verification lattice chosen with the same exchange (state-verifier.ts), when the state has replicated entries. */
    private readonly verify?: (plan: VerifyPlan) => boolean,
  ) {}

  /** Whether commit `version` starts the exchange: the state times a digest there. */
  exchangesAt(version: number): boolean {
    return version === this.exchangeAt;
  }

  get fixed(): boolean {
    return this.opts.targetMs === undefined && this.opts.versionMs === undefined;
  }

  /** After a sync that restored (or made) `version`: back to the finest intervals, measured again. */
  restart(version: number): void {
    this.epoch++;
    const c = finest(this.opts.keep, this.opts.base, this.opts.versionEvery);
    // Fixed intervals are chosen at once, the second peers' too (replica-cadence.ts, `farEvery`),
    // switching as after an exchange: every replica goes to them until the first multiple of
    // `farEvery` after the restored version, so that a member new to the job soon holds a recent
    // replica of the slots it is now a second peer of.
    if (this.fixed) return this.apply({ ...c, switchAt: switchPoint(version + 1, c.every), farEvery: chooseFarEvery(c.every, 0, undefined) });
    this.apply(c);
    this.measureFrom = version + WARM_VERSIONS;
    this.exchangeAt = this.measureFrom + MEASURED_VERSIONS;
  }

  /**
   * Called by every commit, after it: may start the exchange. `costMs`: how long the commit took,
   * given by commits that made a version (in the measured window, every commit makes one).
   */
  committed(version: number, costMs?: number, digestMs?: number): void {
    if (digestMs !== undefined && version === this.exchangeAt) this.digestMs = digestMs;
    if (version === this.measureFrom) {
      this.startedAt = this.host.now();
      this.cost = { ms: 0, n: 0 };
    }
    if (costMs !== undefined && version > this.measureFrom && version <= this.exchangeAt) {
      this.cost.ms += costMs;
      this.cost.n++;
    }
    if (version !== this.exchangeAt) return;
    const stepMs = (this.host.now() - this.startedAt) / MEASURED_VERSIONS;
    const costOfOne = this.cost.n > 0 ? this.cost.ms / this.cost.n : 0;
    const { keep, base, targetMs, versionMs } = this.opts;
    const epoch = this.epoch;
    // Until the answer is here, keep every `base`th version from this one: another member may
    // learn the answer first and switch (replica-cadence.ts).
    this.apply({ keep, base, every: base, holdFrom: version, versionEvery: this.opts.versionEvery });
    this.host.exchange(new Float64Array([stepMs, costOfOne, this.digestMs]), 'max').then(
      (r) => {
        if (epoch !== this.epoch) return;
        const slowest = r[0] as number;
        const costliest = r[1] as number;
        if (this.verify) {
          const plan = chooseVerifyPlan(base, slowest, DEFAULT_VERIFY_MS, r[2] as number, version);
          if (this.verify(plan) && this.host.rank === 0) this.host.report('verify_interval_chosen', { generation: this.host.generation, every: plan.every, from_commit: plan.from, digest_ms: +(r[2] as number).toFixed(3) });
        }
        const every = targetMs === undefined ? base : chooseEvery(base, slowest, targetMs);
        const versionEvery = versionMs === undefined ? this.opts.versionEvery : chooseVersionEvery(slowest, versionTargetMs(versionMs, costliest), every);
        const switchAt = switchPoint(version + 1, every);
        // Versions thin out at once: every commit until then was one (replica-cadence.ts).
        const versionsFrom = switchPoint(version + 1, versionEvery);
        const farEvery = chooseFarEvery(every, slowest, targetMs);
        this.apply({ keep, base, every, switchAt, versionEvery, versionsFrom, farEvery });
        if (this.host.rank === 0) {
          const g = this.host.generation;
          const step_ms = +slowest.toFixed(3);
          this.host.report('replica_interval_chosen', { generation: g, every, from_version: switchAt, step_ms, target_ms: targetMs ?? null, far_every: farEvery, far_from: switchPoint(switchAt, farEvery) });
          this.host.report('version_interval_chosen', { generation: g, every: versionEvery, from_commit: versionsFrom, step_ms, target_ms: versionMs ?? null, cost_ms: +costliest.toFixed(3) });
        }
      },
      // A fault under the exchange: the hold stays until the sync that follows resets it.
      () => undefined,
    );
  }
}

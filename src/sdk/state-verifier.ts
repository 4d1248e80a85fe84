import { ProtocolError } from '../errors.js';
import { chooseEvery, switchPoint } from '../state/replica-cadence.js';

/**
 * Silent data corruption: every so many commits the members compare an 8-byte digest of the state
 * they declared identical (`registerState(..., { replicated })`), in an allreduce of Rollcall's
 * own like the pacer's (replica-pacer.ts): [d, -d] with max, so they agree when the largest
 * digest is the smallest. Which commits are verified must be the same on every member, since
 * each is an exchange: a lattice fixed by `--verify-every N`, or chosen with the replica pacer's
 * one exchange per generation (from the slowest member's step and the costliest digest, so a
 * verification costs at most VERIFY_COST_SHARE) and applied from a commit well after it.
 *
 * An answer is acted on at the next verify point, not when it arrives: the program issued
 * operations of its own after the exchange, so the moment it arrives differs between members,
 * while the next verify point is the same commit everywhere (by then the answer is in, since
 * the proxy completes operations in order and the program's collectives in between completed).
 * There the verified version becomes the agreed one, or the commit throws
 * CorruptionDetectedError and `Job.run()` syncs, which votes (digest-vote.ts) and rolls back.
 */
export const VERIFY_COST_SHARE = 0.0025;
/** Verifications at least this far apart by default, further if a digest is slow. */
export const DEFAULT_VERIFY_MS = 1000;
/** The CPU an allreduce of 16 bytes costs the proxies besides the digest: an allowance (docs/benchmarks.md). */
export const EXCHANGE_ALLOWANCE_MS = 0.5;

export const verifyTargetMs = (verifyMs: number, digestMs: number): number => Math.max(verifyMs, (digestMs + EXCHANGE_ALLOWANCE_MS) / VERIFY_COST_SHARE);

/** The verify lattice chosen from a measured step: every `base * 2^k` commits from a commit at least one interval after `exchangedAt`. */
export function chooseVerifyPlan(base: number, stepMs: number, verifyMs: number, digestMs: number, exchangedAt: number): VerifyPlan {
  const every = chooseEvery(base, stepMs, verifyTargetMs(verifyMs, digestMs));
  return { every, from: switchPoint(exchangedAt + 1 + every, every) };
}

export interface VerifyPlan {
  every: number;
  from: number;
}

export interface VerifierHost {
  exchange(buf: Float64Array, op: 'max'): Promise<Float64Array>;
}

export interface Dispute {
  version: number;
  digest: number;
}

export class StateVerifier {
  private plan: VerifyPlan | undefined;
  /** Bumped by each restart: an answer from before a sync is dropped. */
  private epoch = 0;
  private pending: Dispute | undefined;
  /** The newest verified version whose digests agreed: the initial state (version 0) before the first. */
  agreed = 0;
  private dispute: Dispute | undefined;

  constructor(
    /** `--verify-every N`; undefined: chosen with the pacer; 0: never. */
    private readonly fixedEvery: number | undefined,
    private readonly host: VerifierHost,
    /** Versions the keepers must keep: the agreed one, and the one being verified. */
    private readonly pin: (versions: number[]) => void,
  ) {
    this.restart();
  }

  get enabled(): boolean {
    return this.fixedEvery !== 0;
  }

  /** After a sync: verification starts over with the lattice fixed or to be chosen. */
  restart(): void {
    this.epoch++;
    this.pending = undefined;
    this.plan = this.fixedEvery ? { every: this.fixedEvery, from: 0 } : undefined;
    this.repin();
  }

  /** The pacer's choice; false, and ignored, when `--verify-every` fixes the lattice. */
  choose(plan: VerifyPlan): boolean {
    if (this.fixedEvery !== undefined) return false;
    this.plan = plan;
    return true;
  }

  get chosen(): VerifyPlan | undefined {
    return this.plan;
  }

  due(commit: number): boolean {
    const p = this.plan;
    return p !== undefined && commit > 0 && commit >= p.from && commit % p.every === 0;
  }

  /**
   * At a verify point, before its commit: the previous verification's answer must be in. A
   * disagreement is handed over (once) for the sync to vote on; the commit then throws.
   */
  takeDispute(commit: number): Dispute | undefined {
    if (this.pending) throw new ProtocolError(`state verification of version ${this.pending.version} still unanswered at commit ${commit}: does the program run a collective between commits?`);
    const d = this.dispute;
    this.dispute = undefined;
    return d;
  }

  /** Starts the exchange of version `version`'s digest. */
  verify(version: number, digest: number): void {
    const epoch = this.epoch;
    const mine = { version, digest };
    this.pending = mine;
    this.repin();
    this.host.exchange(new Float64Array([digest, -digest]), 'max').then(
      (r) => {
        if (epoch !== this.epoch) return;
        this.pending = undefined;
        if (r[0] === -(r[1] as number)) this.agreed = version;
        else this.dispute = mine;
        this.repin();
      },
      // A fault under the exchange: the sync that follows starts over.
      () => {
        if (epoch === this.epoch) this.pending = undefined;
      },
    );
  }

  private repin(): void {
    this.pin([this.agreed, this.pending?.version ?? -1].filter((v) => v >= 0));
  }
}

/**
 * How a world that is not a power of two runs an algorithm made for one (as MPICH does): with
 * p = 2^floor(log2 N) and r = N - p, each of the first r even ranks (a "spare") hands its whole
 * buffer to the odd rank after it (its "host") and sits out; the hosts and the ranks from 2r on
 * are the p-rank core, numbered 0..p-1 in rank order; at the end each host hands the result back
 * to its spare. Two extra full-buffer steps on 2r ranks, and every rank still talks only to its
 * log2 p core partners plus at most one spare or host: never to everyone.
 */
export enum FoldRole {
  /** Runs the core algorithm alone. */
  Core,
  /** Runs the core algorithm for itself and the spare below it. */
  Host,
  /** Hands its data to its host and waits for the result. */
  Spare,
}

export class Fold {
  /** Size of the power-of-two core. */
  readonly core: number;
  /** Number of spares (and of hosts). */
  readonly extra: number;
  readonly role: FoldRole;
  /** This rank's place in the core, -1 for a spare. */
  readonly coreRank: number;

  constructor(
    readonly rank: number,
    readonly world: number,
  ) {
    this.core = world >= 1 ? 2 ** Math.floor(Math.log2(world)) : 1;
    this.extra = world - this.core;
    if (rank >= 2 * this.extra) {
      this.role = FoldRole.Core;
      this.coreRank = rank - this.extra;
    } else if (rank % 2 === 0) {
      this.role = FoldRole.Spare;
      this.coreRank = -1;
    } else {
      this.role = FoldRole.Host;
      this.coreRank = (rank - 1) / 2;
    }
  }

  /** The rank of core member `c`. */
  rankOf(c: number): number {
    return c < this.extra ? 2 * c + 1 : c + this.extra;
  }

  /** A host's spare or a spare's host; -1 for a core rank. */
  get buddy(): number {
    if (this.role === FoldRole.Host) return this.rank - 1;
    if (this.role === FoldRole.Spare) return this.rank + 1;
    return -1;
  }

  /** log2 of the core. */
  get levels(): number {
    return Math.log2(this.core);
  }
}

/**
 * Which versions become replicas, and which versions a node keeps so that, when any one node is
 * lost with its memory, a version its buddy received is still held by every other member.
 *
 * A replica costs CPU on cores the training uses: a checksum of the state and messages between
 * keepers, milliseconds of step time per 4 MiB version on two busy cores (docs/benchmarks.md,
 * "Fifth session: replicas and files spaced in time"). A
 * fixed "every 10th version" is too often for short steps and too seldom for long ones, so by
 * default the members choose the interval together from their step time, about `replicateMs`
 * apart (see `chooseEvery`): after each sync every member replicates every `base`th version,
 * measures its step, and all take the largest measure (an allreduce). Versions are numbered
 * alike on every member, so "every Nth" picks the same versions everywhere.
 *
 * A member learns the new interval when its allreduce completes, which may be some versions
 * later than another member. Until then it replicates every `base`th version (a superset: the
 * new interval is `base` times a power of two); once it knows, it replicates every `base`th
 * version below `switchAt`, the first multiple of the new interval after the exchange, and
 * only the multiples of the new one from there: the same switch on every member, whenever each
 * learns. What makes a difference in timing safe is what each node keeps (`retained`):
 * - the K newest versions;
 * - the two newest multiples of `every`. Two, because the newer one may still be on its way to
 *   the buddy when the fault comes;
 * - the two newest multiples of `base`: a member still on `base` may be the one lost, and its
 *   buddy then holds those;
 * - while the choice is pending here (`holdFrom`), every multiple of `base` from the version at
 *   which the exchange started: a member that already switched may be the one lost, and its
 *   replicas are multiples of an interval this node does not know yet.
 *
 * With `--replicas K` of 2 or more, the first peer gets every replica and the others, once the
 * members have chosen their intervals, only the multiples of `farEvery`, SPREAD_FACTOR times
 * further apart in time (`toFurtherPeers`): a second full stream cost as much as the first. They
 * switch as the first peer's lattice does, at the first multiple of `farEvery` from `switchAt`,
 * and until then (and while no interval is chosen: after each sync, a few dozen commits) get
 * every replica, a superset again. When a node and its first peer are lost together, the lost
 * node's slot comes from its second peer, so every member also keeps the two newest multiples of
 * `farEvery`. The price is the rollback: after a double fault it goes back as far as a multiple
 * of `farEvery` (up to two of its intervals), not of `every`.
 * test/unit/replica-cadence.test.ts checks this against random schedules, and that a simpler
 * rule fails them, for one fault and for two.
 */
export interface Cadence {
  keep: number;
  base: number;
  every: number;
  /**
   * Which commits make a version: every `versionEvery`th (1 when absent) from `versionsFrom`,
   * every commit below it. When chosen, it divides `every`: versions evenly spaced around the
   * replicas (a fixed one need not; replicas are versions anyway, see `makesVersion`).
   */
  versionEvery?: number | undefined;
  versionsFrom?: number | undefined;
  /** Below this version, every `base`th is replicated (the switch to `every` waits for a common point). */
  switchAt?: number | undefined;
  holdFrom?: number | undefined;
  /**
   * Versions kept whatever their age: the newest one whose digests the members found equal and
   * the one being compared (sdk/state-verifier.ts), which a corruption rolls back to.
   */
  pinned?: readonly number[] | undefined;
  /**
   * Once chosen (with `switchAt`), and with 2 peers or more: the second and further peers receive
   * only the multiples of this from the first multiple of it at or after `switchAt`
   * (`toFurtherPeers`), and `retained` keeps its two newest. Absent: every replica goes to every
   * peer (one peer, or no interval chosen yet).
   */
  farEvery?: number | undefined;
}

/** Replicas of every 10th version until the members have measured their step. */
export const REPLICA_BASE = 10;

/** Replicas no further apart than this many versions, whatever the step. */
export const MAX_EVERY = REPLICA_BASE * 2 ** 12;

/** Every `base`th version replicated, nothing held back: after a sync, and at the start. */
export const finest = (keep: number, base: number, versionEvery = 1): Cadence => ({ keep, base, every: base, versionEvery });

/**
 * Whether commit `c` makes a version: one on the version lattice (every `versionEvery`th, every
 * commit below `versionsFrom`), or one due as a replica or a file. Versions are numbered by their
 * commit, so a version means the same state on every member whichever commits each turned into
 * versions; a member that has not learned the coarser interval yet makes a version of every
 * commit, a superset. Replicas and files are always of versions: their lattices, and the rules
 * of `retained` that keep a common one, are as they were with a version per commit.
 */
export const makesVersion = (c: number, replicas: Cadence, disk: Cadence): boolean =>
  c % (replicas.versionEvery ?? 1) === 0 || c < (replicas.versionsFrom ?? 0) || isReplicated(c, replicas) || isReplicated(c, disk);

/**
 * The smallest divisor of the replica interval `every` whose commits are at least `targetMs`
 * apart at `stepMs` per commit (`every` itself if none is): versions evenly spaced, a replica
 * always one of them, and never further apart than the replicas. Any divisor will do, not only
 * powers of two: with replicas every 10 commits a costly version can still be every 10th.
 */
export function chooseVersionEvery(stepMs: number, targetMs: number, every: number): number {
  for (let n = 1; n < every; n++) if (every % n === 0 && n * stepMs >= targetMs) return n;
  return every;
}

/**
 * At most this share of the time between versions goes to making one (its copy, measured): a
 * state whose copy is slow gets versions further apart than `--version-ms`, as CheckFreq sizes its
 * checkpoint interval from measured costs (docs/architecture.md, "Which commits become versions").
 * A quarter of the 1 % a failure-free job may pay: the FMS, the keeper's replicas and the
 * threads' wake-ups take the rest (docs/benchmarks.md, "Ninth session").
 */
export const VERSION_COST_SHARE = 0.0025;

/** How far apart versions should be: `versionMs`, or further when a version costs `versionCostMs`. */
export const versionTargetMs = (versionMs: number, versionCostMs: number): number => Math.max(versionMs, versionCostMs / VERSION_COST_SHARE);

/** The smallest `base * 2^k` whose versions are at least `targetMs` apart at `stepMs` per version. */
export function chooseEvery(base: number, stepMs: number, targetMs: number): number {
  let every = base;
  while (every * stepMs < targetMs && every * 2 <= MAX_EVERY) every *= 2;
  return every;
}

export const isReplicated = (version: number, c: Pick<Cadence, 'base' | 'every' | 'switchAt'>): boolean =>
  version % c.base === 0 && (version % c.every === 0 || version < (c.switchAt ?? 0));

/**
 * How much further apart in time the second and further peers' replicas are than the first's
 * target (`--replicate-ms`): 64 times (`chooseFarEvery`). Measured (docs/benchmarks.md,
 * "Corruption and double faults"), a second peer receiving every replica, a 4 MiB version about
 * every 250 ms, cost +6.45 % of the job's CPU per step against one peer (rounds +4.2 to
 * +14.4 %). That stream costs per version sent (the message, and the receiver's checks), so one
 * version every 64 * 250 ms = 16 s or more costs at most a 64th of it: 0.10 % at the median,
 * 0.23 % at the worst round, under the 0.25 % target even there. M = 32 would be 0.20 % and
 * 0.45 %. A power of two times the replicas' interval, so that the lattices nest. What it costs
 * instead: the second peer's replicas are 16 to 32 s apart at the default, and a node lost
 * together with its first peer rolls the job back up to two of those (the first peer alone: two
 * replica intervals, under a second).
 */
export const SPREAD_FACTOR = 64;

/**
 * The second peers' interval: the smallest `every * 2^k` at least SPREAD_FACTOR times the
 * replicas' target time apart at `stepMs` (a fixed interval, no target: SPREAD_FACTOR times it).
 * In time, not a fixed multiple: with slow steps the replicas are already far apart, and cheap.
 */
export function chooseFarEvery(every: number, stepMs: number, targetMs: number | undefined): number {
  if (targetMs === undefined) return every * SPREAD_FACTOR;
  let far = every;
  while (far * stepMs < SPREAD_FACTOR * targetMs && far * 2 <= MAX_EVERY * SPREAD_FACTOR) far *= 2;
  return far;
}

/**
 * Whether version `version` also goes to the second and further peers: every replica until the
 * members have chosen `farEvery`; after it, the replicas below the first multiple of `farEvery`
 * at or after `switchAt`, and the multiples of `farEvery` from there. Always a subset of the
 * first peer's: the second never holds a version the first was not sent.
 */
export function toFurtherPeers(version: number, c: Pick<Cadence, 'base' | 'every' | 'switchAt' | 'farEvery'>): boolean {
  if (!isReplicated(version, c)) return false;
  if (c.farEvery === undefined || c.switchAt === undefined) return true;
  return version % c.farEvery === 0 || version < switchPoint(c.switchAt, c.farEvery);
}

/** The first version from which a member that learns `every` at `version` replicates only those. */
export const switchPoint = (version: number, every: number): number => Math.ceil(version / every) * every;

/**
 * Files follow the replicas at a multiple of their interval (`--persist-every` unset): the same
 * lattices scaled, switching at the first multiple of the scaled interval from the replicas'
 * switch, so the same rules keep a common version on disk.
 */
export function scaled(c: Cadence, factor: number): Cadence {
  const every = c.every * factor;
  return { ...c, base: c.base * factor, every, switchAt: c.switchAt === undefined ? undefined : switchPoint(c.switchAt, every) };
}

/** Files of every 10th replicated version, unless `--persist-every` fixes their interval. */
export const PERSIST_FACTOR = 10;

/** Files are written alike on every member and need no second peer's lattice (`farEvery` is for memory). */
export function diskCadence(replicas: Cadence, persistEvery: number | null): Cadence {
  return persistEvery === null ? { ...scaled(replicas, PERSIST_FACTOR), farEvery: undefined } : { keep: replicas.keep, base: persistEvery, every: persistEvery };
}

/** The versions (of one slot) a node keeps, out of those it holds. */
export function retained(versions: Iterable<number>, c: Cadence): Set<number> {
  // One pass, newest first: it runs at every commit, on the program's thread.
  const sorted = Array.from(versions).sort((a, b) => b - a);
  const keep = new Set<number>();
  let everyKept = 0;
  let baseKept = 0;
  // The second peers' lattice: its two newest, as for the first's (`farEvery`).
  const farEvery = c.farEvery ?? 0;
  let farKept = 0;
  for (let i = 0; i < sorted.length; i++) {
    const v = sorted[i] as number;
    const onBase = v % c.base === 0;
    if (i < c.keep) keep.add(v);
    if (everyKept < 2 && v % c.every === 0) {
      keep.add(v);
      everyKept++;
    }
    if (baseKept < 2 && onBase) {
      keep.add(v);
      baseKept++;
    }
    if (farEvery > 0 && farKept < 2 && v % farEvery === 0) {
      keep.add(v);
      farKept++;
    }
    if (onBase && c.holdFrom !== undefined && v >= c.holdFrom) keep.add(v);
  }
  for (const v of c.pinned ?? []) if (sorted.includes(v)) keep.add(v);
  return keep;
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { chooseEvery, chooseFarEvery, chooseVersionEvery, diskCadence, isReplicated, makesVersion, MAX_EVERY, retained, scaled, SPREAD_FACTOR, switchPoint, toFurtherPeers, VERSION_COST_SHARE, versionTargetMs, type Cadence } from '../../src/state/replica-cadence.js';

/**
 * A model of R members committing in step (none more than one version ahead of another, as
 * when every step has a collective), each keeping what `retained` says as it goes: versions are
 * dropped for good when pruned, as the keeper does. At version E the members start choosing a
 * coarser interval; each learns the choice some versions later (or not before the fault). Then
 * one member is lost with its memory, perhaps while the replica it made a version or two ago is
 * still on the way to its buddy. The claim: every survivor, and the buddy for the lost member's slot, still hold a
 * version in common, and not an old one.
 */
interface Schedule {
  ranks: number;
  keep: number;
  k: number;
  /** Versions of every 2^j commits once learned (2^j divides the replica interval). */
  j: number;
  e: number;
  delays: number[];
  fault: number;
  ahead: boolean[];
  lost: number;
  inFlight: boolean;
}

const BASE = 10;

/** The schedule's version interval: any divisor of the replica interval, as chooseVersionEvery may pick. */
const versionEveryOf = (s: Pick<Schedule, 'j'>, every: number): number => {
  const divisors = [...Array(every).keys()].map((i) => i + 1).filter((d) => every % d === 0);
  return divisors[s.j % divisors.length] as number;
};

type Rule = (versions: Iterable<number>, c: Cadence) => Set<number>;

function simulate(s: Schedule, prune: Rule = retained): { common: number[]; every: number; fault: number } {
  const every = BASE * 2 ** s.k;
  const start = BASE * s.e;
  // Faults from just before the exchange to four intervals after it; learning within two.
  const fault = Math.max(0, start - 2 * BASE + Math.floor((s.fault / 1000) * (2 * BASE + 4 * every)));
  const delays = s.delays.map((d) => (d > 1000 ? Infinity : 1 + Math.floor((d / 1000) * 2 * every)));
  const last = s.ahead.map((a) => fault + (a ? 1 : 0));
  const cadence = (r: number, v: number): Cadence => {
    const learnedAt = start + (delays[r] as number);
    if (v >= learnedAt) return { keep: s.keep, base: BASE, every, switchAt: switchPoint(start + 1, every), versionEvery: versionEveryOf(s, every), versionsFrom: switchPoint(start + 1, versionEveryOf(s, every)) };
    return { keep: s.keep, base: BASE, every: BASE, holdFrom: v >= start ? start : undefined };
  };
  const own = Array.from({ length: s.ranks }, () => new Set<number>());
  const replicas = Array.from({ length: s.ranks }, () => new Set<number>()); // by the slot they came from
  const lastReplicaOfLost = Math.max(...[...Array(fault + 2).keys()].filter((v) => v <= (last[s.lost] as number) && isReplicated(v, cadence(s.lost, v))));
  for (let v = 0; v <= fault + 1; v++) {
    for (let r = 0; r < s.ranks; r++) {
      if (v > (last[r] as number)) continue;
      const c = cadence(r, v);
      // Commits that make no version leave nothing to keep or replicate.
      if (!makesVersion(v, c, scaled(c, 10))) continue;
      own[r]?.add(v);
      own[r] = prune(own[r] as Set<number>, c);
      if (!isReplicated(v, c)) continue;
      // A replica is on its way for a version or two (a checksum and a message). Version 0 is on
      // disk as well (every node persists it at the start), so the model needs no replica of it.
      const inFlight = s.inFlight && v === lastReplicaOfLost && v > 0 && v >= (last[r] as number) - 1;
      if (r === s.lost && inFlight) continue;
      const buddy = (r + 1) % s.ranks;
      replicas[r]?.add(v);
      replicas[r] = prune(replicas[r] as Set<number>, cadence(buddy, Math.min(v, last[buddy] as number)));
    }
  }
  let common = [...(replicas[s.lost] as Set<number>)];
  for (let r = 0; r < s.ranks; r++) if (r !== s.lost) common = common.filter((v) => own[r]?.has(v));
  return { common, every, fault };
}

/**
 * The same model with `--replicas 2` and the second peer's sparser lattice (`spread`): every
 * member sends each replica to the next member and those on the lattice scaled by `spread` to
 * the one after (toFurtherPeers), and each holder keeps what `retained` says of what it received,
 * with its own cadence. Then one member or two are lost at once with their memory (the second
 * often the first's first peer: the case the second peer is for), each perhaps with its newest
 * replica to either peer still on its way. Memory and peers only, no disk: in the e2e tests the
 * jobs share a state directory, and its files could rescue what memory lost. The claim: every
 * survivor holds, and for each lost slot some surviving peer holds, a version in common.
 */
interface TwoFaults extends Schedule {
  spread: number;
  /** The second member lost, as an offset from the first (0: the first's first peer); none when `single`. */
  gap: number;
  single: boolean;
}

function simulatePeers(s: TwoFaults, prune: Rule = retained): { common: number[]; every: number; fault: number; lost: number[] } {
  const every = BASE * 2 ** s.k;
  const far = every * s.spread;
  const start = BASE * s.e;
  // Faults from just before the exchange to four of the second peer's intervals after it.
  const fault = Math.max(0, start - 2 * BASE + Math.floor((s.fault / 1000) * (2 * BASE + 4 * far)));
  const delays = s.delays.map((d) => (d > 1000 ? Infinity : 1 + Math.floor((d / 1000) * 2 * every)));
  const lost = s.single ? [s.lost] : [s.lost, (s.lost + 1 + (s.gap % (s.ranks - 1))) % s.ranks];
  const last = s.ahead.map((a) => fault + (a ? 1 : 0));
  const cadence = (r: number, v: number): Cadence => {
    const learnedAt = start + (delays[r] as number);
    if (v >= learnedAt) return { keep: s.keep, base: BASE, every, switchAt: switchPoint(start + 1, every), versionEvery: versionEveryOf(s, every), versionsFrom: switchPoint(start + 1, versionEveryOf(s, every)), farEvery: every * s.spread };
    // Not learned yet: no second peers' interval either, so every replica goes to every peer.
    return { keep: s.keep, base: BASE, every: BASE, holdFrom: v >= start ? start : undefined };
  };
  const own = Array.from({ length: s.ranks }, () => new Set<number>());
  /** held[h][r]: the replicas of member r's slot that member h holds. */
  const held = Array.from({ length: s.ranks }, () => Array.from({ length: s.ranks }, () => new Set<number>()));
  const lastOf = (r: number, sent: (v: number, c: Cadence) => boolean): number =>
    Math.max(-1, ...[...Array((last[r] as number) + 1).keys()].filter((v) => sent(v, cadence(r, v)) && makesVersion(v, cadence(r, v), scaled(cadence(r, v), 10))));
  // Each lost member's newest replica to each peer may still be on its way (made a version or two before).
  const inFlight = new Map(lost.map((r) => [r, [lastOf(r, isReplicated), lastOf(r, toFurtherPeers)]]));
  for (let v = 0; v <= fault + 1; v++) {
    for (let r = 0; r < s.ranks; r++) {
      if (v > (last[r] as number)) continue;
      const c = cadence(r, v);
      if (!makesVersion(v, c, scaled(c, 10))) continue;
      own[r]?.add(v);
      own[r] = prune(own[r] as Set<number>, c);
      for (const [i, sent] of [isReplicated, toFurtherPeers].entries()) {
        if (!sent(v, c)) continue;
        const pending = inFlight.get(r)?.[i];
        if (s.inFlight && v === pending && v > 0 && v >= (last[r] as number) - 1) continue;
        const to = (r + 1 + i) % s.ranks;
        if (to === r) continue;
        const h = held[to] as Set<number>[];
        h[r]?.add(v);
        h[r] = prune(h[r] as Set<number>, cadence(to, Math.min(v, last[to] as number)));
      }
    }
  }
  const survivors = [...Array(s.ranks).keys()].filter((r) => !lost.includes(r));
  let common = [...new Set(survivors.flatMap((h) => lost.flatMap((r) => [...((held[h] as Set<number>[])[r] as Set<number>)])))];
  for (const r of lost) common = common.filter((v) => survivors.some((h) => (held[h] as Set<number>[])[r]?.has(v)));
  for (const r of survivors) common = common.filter((v) => own[r]?.has(v));
  return { common, every: lost.length === 1 ? every : far, fault, lost };
}

/**
 * The same schedule for files: every member writes the versions of its disk cadence (the
 * replica cadence scaled by `factor`) and keeps what `retained` says of them; after a full stop,
 * perhaps with one member's newest file unfinished, all members' files must have a version in
 * common, for `--resume`.
 */
function simulateDisk(s: Schedule, factor: number): { common: number[]; every: number; fault: number } {
  const every = BASE * 2 ** s.k;
  const start = BASE * s.e;
  const fault = Math.max(0, start - 2 * BASE + Math.floor((s.fault / 1000) * (2 * BASE + 4 * every * factor)));
  const delays = s.delays.map((d) => (d > 1000 ? Infinity : 1 + Math.floor((d / 1000) * 2 * every * factor)));
  const replicaCadence = (r: number, v: number): Cadence => {
    const learnedAt = start + (delays[r] as number);
    if (v >= learnedAt) return { keep: s.keep, base: BASE, every, switchAt: switchPoint(start + 1, every), versionEvery: versionEveryOf(s, every), versionsFrom: switchPoint(start + 1, versionEveryOf(s, every)) };
    return { keep: s.keep, base: BASE, every: BASE, holdFrom: v >= start ? start : undefined };
  };
  const cadence = (r: number, v: number): Cadence => scaled(replicaCadence(r, v), factor);
  const files = Array.from({ length: s.ranks }, () => new Set<number>());
  let unfinished = -1;
  for (let v = 0; v <= fault; v++) if (isReplicated(v, cadence(s.lost, v))) unfinished = v;
  for (let v = 0; v <= fault; v++) {
    for (let r = 0; r < s.ranks; r++) {
      const c = cadence(r, v);
      // Which commits are versions is the replicas' cadence's to say, with the files'.
      if (!isReplicated(v, c) || !makesVersion(v, replicaCadence(r, v), c)) continue;
      // One member's newest file may be unfinished at the stop (not renamed into place).
      if (r === s.lost && s.inFlight && v > 0 && v === unfinished) continue;
      files[r]?.add(v);
      files[r] = retained(files[r] as Set<number>, c);
    }
  }
  const common = [...(files[0] as Set<number>)].filter((v) => files.every((f) => f.has(v)));
  return { common, every: every * factor, fault };
}

/** A schedule's fields: `ranks` members, and per member (up to `maxRanks`) when it learns the new interval. */
const scheduleFields = (minRanks: number, maxRanks: number, maxK: number) => ({
  ranks: fc.integer({ min: minRanks, max: maxRanks }),
  keep: fc.integer({ min: 1, max: 4 }),
  k: fc.integer({ min: 0, max: maxK }),
  j: fc.integer({ min: 0, max: 63 }),
  e: fc.integer({ min: 1, max: 8 }),
  /** Where in the range of interest the fault comes, in thousandths. */
  fault: fc.integer({ min: 0, max: 1000 }),
  lost: fc.nat(),
  inFlight: fc.boolean(),
  /** How late each member learns the new interval, in thousandths of two intervals; or never (above 1000). */
  delays: fc.array(fc.integer({ min: 0, max: 1200 }), { minLength: maxRanks, maxLength: maxRanks }),
  ahead: fc.array(fc.boolean(), { minLength: maxRanks, maxLength: maxRanks }),
});

/** The member lost is one of the job's, and each member's draws are its own. */
const fitted = <S extends { ranks: number; lost: number; delays: number[]; ahead: boolean[] }>(s: S): S => ({
  ...s,
  lost: s.lost % s.ranks,
  delays: s.delays.slice(0, s.ranks),
  ahead: s.ahead.slice(0, s.ranks),
});

const schedules = fc.record(scheduleFields(2, 5, 4)).map(fitted);

/** Small spreads keep the model fast; the rules do not depend on the factor, and one case below uses the real one. */
const twoFaultSchedules = fc
  .record({
    ...scheduleFields(3, 6, 3),
    spread: fc.constantFrom(2, 4, 8),
    gap: fc.oneof(fc.constant(0), fc.nat()),
    single: fc.boolean(),
  })
  .map(fitted);

describe('replica cadence', () => {
  it('a common version survives the loss of any member, whenever each learns the new interval', () => {
    fc.assert(
      fc.property(schedules, (s) => {
        const { common, every, fault } = simulate(s);
        assert.ok(common.length > 0, 'no version held by every survivor and by the buddy');
        // Lost work stays within two intervals (of the coarser cadence) and a step or two.
        assert.ok(Math.max(...common) >= fault - 2 * every - 1, `newest common ${Math.max(...common)} at fault ${fault}, every ${every}`);
      }),
      { numRuns: 3000 },
    );
  });

  it('after a full stop, every member has a file of a common version, whenever each learned the interval', () => {
    fc.assert(
      fc.property(schedules, (s) => {
        const { common, every, fault } = simulateDisk(s, 10);
        assert.ok(common.length > 0, 'no version every member has a file of');
        assert.ok(Math.max(...common) >= fault - 2 * every - 1, `newest common file ${Math.max(...common)} at ${fault}, every ${every}`);
      }),
      { numRuns: 3000 },
    );
  });

  it('keeping only the K newest and two of its own lattice would lose the common version (the model can fail)', () => {
    const naive: Rule = (versions, c) => {
      const sorted = [...versions].sort((a, b) => b - a);
      return new Set([...sorted.slice(0, c.keep), ...sorted.filter((v) => v % c.every === 0).slice(0, 2)]);
    };
    let failures = 0;
    fc.assert(
      fc.property(schedules, (s) => {
        if (simulate(s, naive).common.length === 0) failures++;
      }),
      { numRuns: 3000 },
    );
    assert.ok(failures > 0, 'the naive rule never failed: the schedules do not exercise the transition');
  });

  it('with 2 peers, the second on a sparser lattice: a common version survives any two members lost at once, in memory alone', () => {
    fc.assert(
      fc.property(twoFaultSchedules, (s) => {
        const { common, every, fault, lost } = simulatePeers(s);
        assert.ok(common.length > 0, `no version held by every survivor and, for each of ${lost.join(' and ')}, by a surviving peer`);
        // Lost work stays within two of the second peer's intervals (the first's, for one fault).
        assert.ok(Math.max(...common) >= fault - 2 * every - 1, `newest common ${Math.max(...common)} at fault ${fault}, every ${every}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('without keeping the second peer’s lattice, two adjacent members lost at once can leave no common version (the model can fail)', () => {
    const firstOnly: Rule = (versions, c) => retained(versions, { ...c, farEvery: undefined });
    let failures = 0;
    fc.assert(
      fc.property(twoFaultSchedules, (s) => {
        if (simulatePeers({ ...s, single: false, gap: 0 }, firstOnly).common.length === 0) failures++;
      }),
      { numRuns: 1000 },
    );
    assert.ok(failures > 0, 'the first peer’s rules alone never failed: the schedules do not exercise the second peer');
  });

  it('the real factor: a node and its first peer lost long after the interval was chosen, 3 members', () => {
    for (const fault of [0.1, 0.37, 0.5, 0.93, 1].map((f) => Math.floor(f * 1000))) {
      const s: TwoFaults = { ranks: 3, keep: 2, k: 1, j: 0, e: 2, fault, lost: 1, inFlight: true, delays: [3, 500, 1100], ahead: [false, true, false], spread: SPREAD_FACTOR, gap: 0, single: false };
      const { common, every, fault: at } = simulatePeers(s);
      const newest = Math.max(...common);
      assert.ok(common.length > 0 && newest >= at - 2 * every - 1, `fault at ${at}: common ${common.join(',')}`);
      // Once the second peers' lattice has switched, the version found is one of its multiples.
      if (at >= 2 * every) assert.equal(newest % every, 0, `fault at ${at}: common ${common.join(',')}`);
    }
  });

  it('the second peers get every replica until the interval is chosen, then only the multiples of farEvery, a subset of the first’s; files do not keep it', () => {
    const learned: Cadence = { keep: 2, base: 10, every: 40, switchAt: 80, farEvery: 160 };
    const further = [...Array(2000).keys()].filter((v) => toFurtherPeers(v, learned));
    assert.ok(further.every((v) => isReplicated(v, learned)));
    // Every 10th below the switch (80), every 40th until the first multiple of 160 from there, then every 160th.
    assert.deepEqual(further.slice(0, 13), [0, 10, 20, 30, 40, 50, 60, 70, 80, 120, 160, 320, 480]);
    const unchosen: Cadence = { keep: 2, base: 10, every: 10 };
    assert.deepEqual([...Array(100).keys()].filter((v) => toFurtherPeers(v, unchosen)), [0, 10, 20, 30, 40, 50, 60, 70, 80, 90], 'not chosen yet: every replica');
    assert.equal(diskCadence(learned, null).farEvery, undefined);
    // Held for the second peers: the two newest multiples of farEvery, beside the first's rules.
    assert.deepEqual([...retained([160, 320, 360, 400, 440, 480, 520], learned)].sort((a, b) => a - b), [320, 480, 520]);
    assert.deepEqual([...retained([160, 320, 360, 400, 440, 480, 520], { ...learned, farEvery: undefined })].sort((a, b) => a - b), [480, 520]);
  });

  it('chooses the second peers’ interval SPREAD_FACTOR times the replicas’ target time apart, or the replicas’ when those are as far', () => {
    assert.equal(chooseFarEvery(40, 6.5, 250), 2560, '6.5 ms steps: 16.6 s');
    assert.equal(chooseFarEvery(10, 2000, 250), 10, 'slow steps: replicas 20 s apart already');
    assert.equal(chooseFarEvery(10, 6.5, undefined), 10 * SPREAD_FACTOR, 'fixed intervals: a fixed multiple');
  });

  it('chooses the smallest base * 2^k that spaces replicas by the target time, within bounds', () => {
    assert.equal(chooseEvery(10, 6.5, 250), 40);
    assert.equal(chooseEvery(10, 30, 250), 10);
    assert.equal(chooseEvery(10, 1000, 250), 10);
    assert.equal(chooseEvery(10, 0.001, 250), MAX_EVERY);
    fc.assert(
      fc.property(fc.double({ min: 1e-3, max: 1e4, noNaN: true }), fc.integer({ min: 1, max: 60_000 }), (step, target) => {
        const e = chooseEvery(BASE, step, target);
        assert.ok(e % BASE === 0 && Number.isInteger(Math.log2(e / BASE)));
        assert.ok(e * step >= target || e === MAX_EVERY);
        assert.ok(e === BASE || (e / 2) * step < target);
      }),
    );
  });

  it('chooses the smallest divisor of the replica interval that spaces versions by the target time', () => {
    assert.equal(chooseVersionEvery(6.5, 40, 80), 8);
    assert.equal(chooseVersionEvery(6.5, 40, 40), 8);
    assert.equal(chooseVersionEvery(6.5, 40, 20), 10, 'a divisor, not only a power of two');
    assert.equal(chooseVersionEvery(6.5, 400, 20), 20, 'never further apart than the replicas');
    assert.equal(chooseVersionEvery(50, 40, 80), 1);
    fc.assert(
      fc.property(fc.double({ min: 1e-3, max: 1e4, noNaN: true }), fc.integer({ min: 1, max: 60_000 }), fc.integer({ min: 0, max: 12 }), (step, target, k) => {
        const every = BASE * 2 ** k;
        const n = chooseVersionEvery(step, target, every);
        assert.ok(every % n === 0, 'divides the replica interval');
        assert.ok(n * step >= target || n === every, 'far enough apart, or as far as the replicas');
        for (let d = 1; d < n; d++) assert.ok(every % d !== 0 || d * step < target, `no smaller divisor ${d} would do`);
      }),
    );
  });

  it('spaces versions further when one costs more than its share of the time between them', () => {
    assert.equal(versionTargetMs(40, 0.05), 40, 'a cheap version: the configured spacing');
    assert.equal(versionTargetMs(40, 1.5), 1.5 / VERSION_COST_SHARE, 'a 16 MiB copy: 600 ms');
    assert.equal(chooseVersionEvery(25, versionTargetMs(40, 1.5), 10), 10, '16 MiB at 25 ms steps, replicas every 10th: versions are the replicas');
  });
});

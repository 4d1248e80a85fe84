import type { MembershipRecord } from './membership-record.js';

/**
 * The ring of each record object (or, before the first record, of the configuration's node
 * list), derived once: a record is frozen once parsed (membership-record.ts) and the FMSes of one
 * process reading the same value share it, so the O(N log N) sort is done once per record, not
 * once per reader (the cluster simulator runs N FMSes in one process). Neither is changed once
 * made, so a ring derived from one is never stale.
 */
const rings = new WeakMap<object, readonly number[]>();

/**
 * Who watches whom. The live nodes of the job (members and spares, not failed) sorted by id form
 * a ring; each FMS watches its K successors and beats to its K predecessors, so every live node
 * is watched by K others and each FMS's load is K in, K out, whatever N is. Sorting by id, not
 * rank, keeps the ring stable across generations: a replacement only closes the gap the failed
 * node left, and spares are on it like anyone else (a dead spare must be found before it is
 * brought in). Every FMS derives the same ring from the same record, so no one announces it.
 */
export function ringOf(record: MembershipRecord | undefined, nodes: readonly number[]): readonly number[] {
  const key: object = record ?? nodes;
  let ring = rings.get(key);
  if (!ring) {
    ring = Object.freeze((record ? [...record.members, ...record.spares] : [...nodes]).sort((a, b) => a - b));
    rings.set(key, ring);
  }
  return ring;
}

/** Whether `node` is on the ring: a binary search, not a set of the whole ring per question. */
export const onRing = (ring: readonly number[], node: number): boolean => indexIn(ring, node) >= 0;

/** Index of `node` in the sorted ring, or -1. */
function indexIn(ring: readonly number[], node: number): number {
  let lo = 0;
  let hi = ring.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = ring[mid]!;
    if (v === node) return mid;
    if (v < node) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** The nodes `step` places on from `node` (±1), at most k, never `node` itself; none if it is not on the ring. */
function walk(ring: readonly number[], node: number, k: number, step: 1 | -1): number[] {
  const i = indexIn(ring, node);
  if (i < 0) return [];
  const out: number[] = [];
  const n = Math.min(k, ring.length - 1);
  for (let d = 1; d <= n; d++) out.push(ring[(((i + step * d) % ring.length) + ring.length) % ring.length]!);
  return out;
}

/** The nodes `node` watches: its k successors. */
export const watchedBy = (ring: readonly number[], node: number, k: number): number[] => walk(ring, node, k, 1);

/** The nodes that watch `node`, which it beats to: its k predecessors, nearest first. */
export const watchersOf = (ring: readonly number[], node: number, k: number): number[] => walk(ring, node, k, -1);

/**
 * The one FMS that writes the next membership for a fault: the lowest node on the ring that is
 * neither among the failed nor suspected by the caller. Every FMS computes it from the same
 * ring, so reports of close faults meet at one writer and become one generation; one whose
 * view differs (a suspicion of its own) reports elsewhere, which costs at most a second write.
 */
export function coordinatorOf(ring: readonly number[], exclude: (n: number) => boolean): number | undefined {
  for (const n of ring) if (!exclude(n)) return n;
  return undefined;
}

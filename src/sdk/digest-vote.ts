/**
 * The vote after the members' digests of a version disagreed (sdk/state-verifier.ts): which
 * digest, if any, a strict majority of the members holds. Each round every member learns the
 * largest digest not yet counted (a max-allreduce) and how many hold it (a sum-allreduce), so
 * the rounds are as many as the distinct digests, not the members: one corrupted member makes
 * two. Nobody gathers every member's digest, so nothing here grows with the number of members
 * but the allreduces' own log-depth. Every member runs the same rounds and gets the same answer.
 */
export type VoteAllreduce = (buf: Float64Array, op: 'max' | 'sum') => Promise<Float64Array>;

export interface DigestTally {
  digest: number;
  members: number;
}

export interface VoteResult {
  /** The digest more than half the members hold; undefined if none does (two members that differ, say). */
  majority: number | undefined;
  /** The digests counted, largest first: all of them unless a majority ended the count early. */
  tallies: DigestTally[];
}

/** More distinct digests than this and the job is not corrupted in one place: the count stops. */
export const MAX_VOTE_ROUNDS = 16;

/** `mine`: this member's digest (a non-negative integer, exact in a float64). */
export async function voteOnDigests(mine: number, world: number, allreduce: VoteAllreduce): Promise<VoteResult> {
  const tallies: DigestTally[] = [];
  let counted = 0;
  let below = Infinity;
  for (let round = 0; round < MAX_VOTE_ROUNDS && counted < world; round++) {
    const candidate = (await allreduce(new Float64Array([mine < below ? mine : -1]), 'max'))[0] as number;
    if (candidate < 0) break;
    const members = (await allreduce(new Float64Array([mine === candidate ? 1 : 0]), 'sum'))[0] as number;
    tallies.push({ digest: candidate, members });
    counted += members;
    below = candidate;
    if (2 * members > world) return { majority: candidate, tallies };
  }
  return { majority: undefined, tallies };
}

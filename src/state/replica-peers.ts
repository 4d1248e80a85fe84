/**
 * Which members hold a node's replicas: the next K in rank order (fewer in a smaller job). With
 * K = 2 any two nodes can fail at once and every lost node's replica is still held by a third:
 * two adjacent members, each holding the other's replica, no longer take a slot with them.
 * Each node pushes to K peers and receives from K, whatever the job's size: every replica to the
 * first, only every 64th in steady state to the others (replica-cadence.ts, `toFurtherPeers`).
 */
export function replicaPeers(members: readonly number[], rank: number, k: number): number[] {
  const out: number[] = [];
  for (let i = 1; i <= k && i < members.length; i++) out.push(members[(rank + i) % members.length] as number);
  return out;
}

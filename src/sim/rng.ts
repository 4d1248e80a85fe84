/**
 * A seeded pseudo-random source (mulberry32): the simulator's losses, delays, fault times and
 * victims come from it, so a run is repeated by repeating its --seed. Not for anything secret.
 */
export type Rng = () => number;

export function seededRng(seed: number): Rng {
  let a = seed >>> 0 || 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** k distinct picks from `from` (k <= from.length), in the order drawn. */
export function pick<T>(rng: Rng, from: readonly T[], k: number): T[] {
  const pool = [...from];
  const out: T[] = [];
  for (let i = 0; i < k && pool.length > 0; i++) {
    const j = Math.floor(rng() * pool.length);
    out.push(pool[j] as T);
    pool[j] = pool[pool.length - 1] as T;
    pool.pop();
  }
  return out;
}

import type { FmsEvent } from '../fms/fms.js';

/** One fault the simulator injected, and what the cluster made of it. */
export interface InjectedFault {
  kind: 'crash' | 'partition';
  /** The crashed node, or the nodes cut off. */
  nodes: number[];
  at: number;
  /** Partitions: when the link came back. */
  healAt?: number;
  /** First suspicion or fault_detected naming one of `nodes`, by any FMS. */
  detectedAt?: number;
  /** Every live node holds a record without the crashed node. */
  agreedAt?: number;
}

/**
 * Which nodes an event accuses: fault_detected's `failed`, and the fields a suspicion event
 * may carry (suspect, target, peer). `node` is the FMS that logged it, never the accused.
 */
export function accused(e: FmsEvent): number[] {
  if (e.event !== 'fault_detected' && !e.event.includes('suspect')) return [];
  const f = e as unknown as Record<string, unknown>;
  const out: number[] = [];
  for (const k of ['failed', 'suspect', 'suspected', 'target', 'peer']) {
    const v = f[k];
    if (typeof v === 'number') out.push(v);
    else if (Array.isArray(v)) for (const x of v) if (typeof x === 'number') out.push(x);
  }
  return out;
}

/** The q-quantile (0..1) of `xs` by nearest rank; NaN for none. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
}

import { InvalidArgumentError } from '../errors.js';
import { quantile } from '../sim/fault-log.js';
import { SimCluster, type ClusterOptions } from '../sim/cluster.js';
import { median } from '../util/stats.js';

/**
 * `rollcall bench scale`: a job of N nodes simulated in this process (src/sim/): the real FMS
 * code on a fake clock, an in-memory datagram network with latency, jitter, loss and partitions,
 * one memory store. Crashes and partitions are spread evenly over the simulated minutes, victims
 * drawn from --seed. One JSON line per run.
 */
export interface ScaleBenchOptions extends Omit<ClusterOptions, 'seed'> {
  seed: number;
  runs: number;
  minutes: number;
  crashes: number;
  partitions: number;
  partitionMs: number;
  partitionSize: number;
  json: boolean;
  /**
   * Called after each simulated minute with the figures so far (`sim_minutes` the minutes run,
   * per-fault figures over the faults injected so far): a long run cut short still says what it saw.
   */
  progress?: ((partial: ScaleResult) => void) | undefined;
}

export interface ScaleResult {
  nodes: number;
  spares: number;
  watchers: number | null;
  heartbeat_ms: number;
  fault_timeout_ms: number;
  loss: number;
  latency_ms: number;
  jitter_ms: number;
  seed: number;
  /** The faults run; fewer than asked when no untouched node was left in the job to pick. */
  faults: { crash: number; partition: number };
  faults_asked: { crash: number; partition: number };
  /** Crash to the first suspicion or fault_detected naming the node (median, p99, over crashes). */
  detect_ms: number | null;
  detect_p99_ms: number | null;
  /** Crash to every live node holding a record without it. */
  agreed_ms: number | null;
  agreed_p99_ms: number | null;
  /** Crashes never agreed by the end of the run. */
  unagreed: number;
  /** FMS-to-FMS datagrams sent per node per simulated second, over the nodes alive and in the job (program beats not counted). */
  datagrams_per_node_s: number;
  datagram_bytes_per_node_s: number | null;
  store_writes: number;
  /** Writes (and watch events) in the measured window over the faults injected (crashes and partitions). */
  store_writes_per_fault: number | null;
  cas_lost: number;
  watch_events: number;
  watch_events_per_fault: number | null;
  false_evictions: number;
  partitioned_evictions: number;
  fault_detected: number;
  fms_errors: number;
  /** The first few fms_error messages, to tell a simulator problem from the FMS's. */
  fms_error_sample: string[];
  generation: number;
  sim_minutes: number;
  startup_real_s: number;
  real_s: number;
  /** Figures so far, printed by --progress before the run's end. */
  partial?: true;
}

/** "crash:K,partition:K" (either may be left out) -> counts. */
export function parseFaults(spec: string): { crashes: number; partitions: number } {
  const out = { crashes: 0, partitions: 0 };
  if (spec.trim() === '' || spec === 'none') return out;
  for (const part of spec.split(',')) {
    const m = /^\s*(crash|partition):(\d+)\s*$/.exec(part);
    if (!m) throw new InvalidArgumentError(`--faults: "${part}" is not crash:K or partition:K (e.g. crash:3,partition:2)`);
    out[m[1] === 'crash' ? 'crashes' : 'partitions'] += Number(m[2]);
  }
  return out;
}

const ms = (x: number): number | null => (Number.isFinite(x) ? Math.round(x * 10) / 10 : null);

export async function runScale(o: Omit<ScaleBenchOptions, 'runs' | 'json'>): Promise<ScaleResult> {
  const t0 = performance.now();
  const c = new SimCluster(o);
  if (o.crashes + o.partitions * o.partitionSize > o.nodes + o.spares - 1) {
    throw new InvalidArgumentError(`--faults: ${o.crashes} crash(es) and ${o.partitions} partition(s) of ${o.partitionSize} need more than the ${o.nodes + o.spares} nodes`);
  }
  try {
    await c.start();
    const windowMs = o.minutes * 60_000;
    // Evenly spread, crashes and partitions alternating, victims drawn when each fires.
    const kinds: ('crash' | 'partition')[] = [];
    for (let i = 0; i < Math.max(o.crashes, o.partitions); i++) {
      if (i < o.crashes) kinds.push('crash');
      if (i < o.partitions) kinds.push('partition');
    }
    kinds.forEach((kind, i) => {
      c.clock.setTimeout(() => {
        if (kind === 'crash') for (const n of c.pickVictims(1)) c.crashAt(n);
        else c.partitionAt(c.pickVictims(o.partitionSize), o.partitionMs);
      }, ((i + 0.5) * windowMs) / kinds.length);
    });
    const t1 = performance.now();
    const progress = o.progress;
    await c.run(windowMs, progress && { everyMs: 60_000, report: () => progress(summary(c, o, t0, t1, true)) });
    return summary(c, o, t0, t1, false);
  } finally {
    await c.stop();
  }
}

/** The figures of a run, at its end or (`partial`) so far. */
function summary(c: SimCluster, o: Omit<ScaleBenchOptions, 'runs' | 'json'>, t0: number, t1: number, partial: boolean): ScaleResult {
  const faults = partial ? c.faults.length : o.crashes + o.partitions;
  const crashes = c.faults.filter((f) => f.kind === 'crash');
  const detect = crashes.flatMap((f) => (f.detectedAt === undefined ? [] : [f.detectedAt - f.at]));
  const agreed = crashes.flatMap((f) => (f.agreedAt === undefined ? [] : [f.agreedAt - f.at]));
  const nodeS = c.nodeMs / 1000;
  const { falseEvictions, partitionedEvictions } = c.evictions();
  const s = c.storeCounts;
  return {
    nodes: o.nodes,
    spares: o.spares,
    watchers: (c.cfg0 as { watchers?: number }).watchers ?? null,
    heartbeat_ms: c.cfg0.heartbeatMs,
    fault_timeout_ms: c.cfg0.faultTimeoutMs,
    loss: o.loss,
    latency_ms: o.latencyMs,
    jitter_ms: o.jitterMs,
    seed: o.seed,
    faults: { crash: crashes.length, partition: c.faults.length - crashes.length },
    faults_asked: { crash: o.crashes, partition: o.partitions },
    detect_ms: ms(median(detect)),
    detect_p99_ms: ms(quantile(detect, 0.99)),
    agreed_ms: ms(median(agreed)),
    agreed_p99_ms: ms(quantile(agreed, 0.99)),
    unagreed: crashes.length - agreed.length,
    datagrams_per_node_s: Math.round((c.network.counts.sent / nodeS) * 100) / 100,
    datagram_bytes_per_node_s: o.wire ? Math.round(c.network.counts.bytes / nodeS) : null,
    store_writes: s.writes,
    store_writes_per_fault: faults > 0 ? Math.round((s.writes / faults) * 100) / 100 : null,
    cas_lost: s.casLost,
    watch_events: s.watchEvents,
    watch_events_per_fault: faults > 0 ? Math.round((s.watchEvents / faults) * 100) / 100 : null,
    false_evictions: falseEvictions.length,
    partitioned_evictions: partitionedEvictions.length,
    fault_detected: c.eventCounts.get('fault_detected') ?? 0,
    fms_errors: c.eventCounts.get('fms_error') ?? 0,
    fms_error_sample: c.errors.slice(0, 3),
    generation: c.view.generation,
    sim_minutes: partial ? Math.round((c.clock.now() - c.measuredFrom) / 600) / 100 : o.minutes,
    startup_real_s: Math.round((t1 - t0) / 100) / 10,
    real_s: Math.round((performance.now() - t0) / 100) / 10,
    ...(partial ? { partial: true as const } : {}),
  };
}

export async function benchScale(o: ScaleBenchOptions, out: (line: string) => void): Promise<void> {
  for (let r = 0; r < o.runs; r++) {
    const res = await runScale({ ...o, seed: o.seed + r });
    if (o.json) out(JSON.stringify(res));
    else {
      out(
        `${res.nodes} nodes, ${res.sim_minutes} simulated min, ${res.faults.crash} crash(es) and ${res.faults.partition} partition(s), loss ${res.loss}, jitter ${res.jitter_ms} ms: ` +
          `detect ${res.detect_ms ?? '-'} ms, agreed ${res.agreed_ms ?? '-'} ms (p99 ${res.agreed_p99_ms ?? '-'}), ${res.datagrams_per_node_s} datagrams/node/s, ` +
          `${res.store_writes_per_fault ?? '-'} store writes and ${res.watch_events_per_fault ?? '-'} watch events per fault, ` +
          `false evictions ${res.false_evictions} (partitioned: ${res.partitioned_evictions}); ${res.real_s} s real`,
      );
    }
  }
}

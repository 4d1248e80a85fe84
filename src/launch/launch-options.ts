import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { InvalidArgumentError } from '../errors.js';
import { parseChaos, type ChaosAction } from './chaos.js';
import { MembershipPolicySchema, STRAGGLER_ACTIONS, type MembershipPolicy, type StragglerAction } from '../protocol/fms-messages.js';
import { PROXY_KINDS, type ProxyKind } from '../protocol/program-ipc.js';
import type { StoreAccess } from '../protocol/store-access.js';

/**
 * Replicas at least a quarter of a second apart: each costs milliseconds of step time on two
 * busy cores, so they are spaced for their share of the step to stay near 1 % (the figures:
 * docs/benchmarks.md, "Fifth session: replicas and files spaced in time"), and a `replace`
 * redoes less than twice this much work.
 */
export const DEFAULT_REPLICATE_MS = 250;

/**
 * Versions at least this far apart by default: a version costs a copy of the state and the
 * keeper's bookkeeping, a few percent of a short step when every step makes one; spaced this far
 * apart, their share stays under 1 % (the figures: docs/benchmarks.md, "Fifth session: replicas
 * and files spaced in time" and "Sixth session (2026-12-03): versions on a time cadence"), and
 * the work redone after a fault is bounded by the replicas (`DEFAULT_REPLICATE_MS`) anyway.
 */
export const DEFAULT_VERSION_MS = 40;

/**
 * Most nodes a job may have, members and spares together (node ids 0..MAX_NODES-1). Nothing in
 * the protocol is sized by it: it only turns a typo (an extra zero) into a clear message. On one
 * machine, memory is the real bound: each node is two processes of some 60 MB each.
 */
export const MAX_NODES = 65_536;

/**
 * The shortest heartbeat the detector can honour on a busy machine, and the one below which it
 * warns. Measured (docs/benchmarks.md, "The heartbeat floor"): the 4-node demo workload with a
 * 2 s CPU spike from outside had false faults in every run at 20 ms (a 60 ms fault timeout),
 * in one of two at 50 ms, in none at 100 ms or more.
 */
export const MIN_HEARTBEAT_MS = 50;
export const SAFE_HEARTBEAT_MS = 100;

/** What a job's timings risk, said before it starts (not refused: a quiet, dedicated cluster may afford them). */
export function timingWarnings(o: Pick<LaunchOptions, 'heartbeatMs' | 'faultTimeoutMs'>): string[] {
  if (o.heartbeatMs >= SAFE_HEARTBEAT_MS && o.faultTimeoutMs >= 3 * SAFE_HEARTBEAT_MS) return [];
  return [
    `--heartbeat-ms ${o.heartbeatMs} with a fault timeout of ${o.faultTimeoutMs} ms: a busy host (a CPU spike, a long GC) stalls processes for longer than that, and they are then declared failed; ${SAFE_HEARTBEAT_MS} ms and ${3 * SAFE_HEARTBEAT_MS} ms are the least measured free of false faults under a CPU spike`,
  ];
}

/** Everything `rollcall launch` accepts, checked in one place so a bad flag never starts a process. */
export const LaunchOptionsSchema = z
  .object({
    nodes: z.number().int().min(1).max(MAX_NODES),
    spares: z.number().int().min(0).max(MAX_NODES).default(0),
    minNodes: z.number().int().min(1).optional(),
    onFault: MembershipPolicySchema.optional(),
    events: z.string().min(1).optional(),
    heartbeatMs: z.number().int().min(MIN_HEARTBEAT_MS, `--heartbeat-ms must be at least ${MIN_HEARTBEAT_MS}: shorter beats are declared failed by any stall of a busy host`).max(60_000).default(200),
    /** FMSes each FMS watches (its successors on the ring of live nodes). */
    watchers: z.number().int().min(1).max(64).default(3),
    faultTimeoutMs: z.number().int().min(20).max(600_000).optional(),
    chaos: z.string().optional(),
    command: z.array(z.string()).min(1, 'no program command given (put it after --, e.g. rollcall launch --nodes 2 -- node train.js)'),
    job: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'job id: 1-64 letters, digits, dot, dash or underscore').optional(),
    /** How long a program may take to start and connect, and any rendezvous to complete. */
    startTimeoutMs: z.number().int().min(100).default(30_000),
    quiet: z.boolean().default(false),
    /** Where nodes persist their committed versions (default: a new temporary directory). */
    stateDir: z.string().min(1).optional(),
    keep: z.number().int().min(1).max(100).default(3),
    /** A fixed file interval in versions; without it, every 10th replicated version. */
    persistEvery: z.number().int().min(1).max(1_000_000).optional(),
    /** A fixed replica interval in versions; without it, replicas are about `replicateMs` apart. */
    replicateEvery: z.number().int().min(1).max(1_000_000).optional(),
    replicateMs: z.number().int().min(1).max(3_600_000).optional(),
    /** A fixed version interval in commits; without it, versions are about `versionMs` apart. */
    versionEvery: z.number().int().min(1).max(1_000_000).optional(),
    versionMs: z.number().int().min(1).max(3_600_000).optional(),
    /** Compare the replicated state's digests every Nth commit; 0: never; without it, chosen from the step time. */
    verifyEvery: z.number().int().min(0).max(1_000_000).optional(),
    /** How many peers hold each node's replicas. */
    replicas: z.number().int().min(1).max(8).default(2),
    proxy: z.enum(PROXY_KINDS, { message: 'use inline or thread' }).default('inline'),
    /** Continue a stopped job from the newest common state in this directory. */
    resume: z.string().min(1).optional(),
    /** Serve the live dashboard and /metrics at [HOST:]PORT. */
    dashboard: z.string().min(1).optional(),
    /** Keep serving the dashboard's final view this long after the job ended. */
    dashboardLingerMs: z.number().int().min(0).max(86_400_000).default(0),
    /** An external store for the runtime environment, `etcd://h:p[,h:p...]`; default: embedded. */
    /** A member is a straggler when its compute time per step stays above this many times the members' median... */
    stragglerFactor: z.number().min(1.1, 'at least 1.1: the members\' median is known to a few percent').max(100).default(1.5),
    /** ...for this long. */
    stragglerWindowMs: z.number().int().min(500).max(86_400_000).default(30_000),
    onStraggler: z.enum(STRAGGLER_ACTIONS, { message: 'use replace, report or shrink' }).default('replace'),
    /** How much `--chaos slow:...` slows a program down. */
    chaosSlowFactor: z.number().min(1.1).max(20).default(3),
    store: z
      .string()
      .regex(/^etcds?:\/\/[^,\s]+(,[^,\s]+)*$/, 'want etcd://host:port[,host:port...] or etcds://... (TLS)')
      .optional(),
  })
  .superRefine((o, ctx) => {
    if (o.nodes + o.spares > MAX_NODES) ctx.addIssue({ code: 'custom', path: ['spares'], message: `--nodes ${o.nodes} and --spares ${o.spares} make ${o.nodes + o.spares} nodes; at most ${MAX_NODES}` });
    if (o.minNodes !== undefined && o.minNodes > o.nodes) ctx.addIssue({ code: 'custom', path: ['minNodes'], message: `--min-nodes ${o.minNodes} is more than --nodes ${o.nodes}` });
    const fault = o.faultTimeoutMs ?? 3 * o.heartbeatMs;
    if (fault < 2 * o.heartbeatMs) {
      ctx.addIssue({ code: 'custom', path: ['faultTimeoutMs'], message: `--fault-timeout-ms ${fault} must be at least twice --heartbeat-ms ${o.heartbeatMs}: one late heartbeat is not a fault` });
    }
    if (o.resume !== undefined && o.stateDir !== undefined && o.resume !== o.stateDir) {
      ctx.addIssue({ code: 'custom', path: ['resume'], message: '--resume DIR already names the state directory; drop --state-dir or make them equal' });
    }
    if (o.resume !== undefined && !hasVersions(o.resume)) {
      ctx.addIssue({ code: 'custom', path: ['resume'], message: `${o.resume} holds no committed state (expected slot-N/vNNN.rcs files from an earlier run)` });
    }
    if (o.replicateEvery !== undefined && o.replicateMs !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['replicateEvery'], message: '--replicate-every N fixes the interval and --replicate-ms T chooses it from the step time: give one' });
    }
    if (o.versionEvery !== undefined && o.versionMs !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['versionEvery'], message: '--version-every N fixes the interval and --version-ms T chooses it from the step time: give one' });
    }
    if (o.onFault === 'replace' && o.spares === 0) ctx.addIssue({ code: 'custom', path: ['onFault'], message: '--on-fault replace needs at least one spare (--spares)' });
  });

export type LaunchInput = z.input<typeof LaunchOptionsSchema>;

export interface LaunchOptions {
  nodes: number;
  spares: number;
  minNodes: number;
  policy: MembershipPolicy;
  events: string | undefined;
  heartbeatMs: number;
  watchers: number;
  faultTimeoutMs: number;
  chaos: ChaosAction[];
  command: string[];
  job: string | undefined;
  startTimeoutMs: number;
  quiet: boolean;
  /** Undefined: a temporary directory, made by the launcher. */
  stateDir: string | undefined;
  keep: number;
  /** Undefined: every 10th replicated version. */
  persistEvery: number | undefined;
  /** Undefined: chosen from the step time, `replicateMs` apart. */
  replicateEvery: number | undefined;
  replicateMs: number;
  /** Undefined: chosen from the step time, `versionMs` apart. */
  versionEvery: number | undefined;
  versionMs: number;
  /** Undefined: chosen from the step time; 0: never. */
  verifyEvery: number | undefined;
  replicas: number;
  proxy: ProxyKind;
  resume: boolean;
  /** Undefined: the launcher embeds a TCP store. */
  store: string | undefined;
  /** For `etcds://`: TLS material and a user, read by the CLI (store/store-access.ts); not validated by the schema above. */
  storeAccess?: StoreAccess;
  /** [HOST:]PORT of the live dashboard; undefined: none. */
  dashboard: string | undefined;
  /** How long the dashboard outlives the job (its final view and /metrics); 0: it closes with the job. */
  dashboardLingerMs: number;
  stragglerFactor: number;
  stragglerWindowMs: number;
  onStraggler: StragglerAction;
  chaosSlowFactor: number;
}

/** Whether `dir` holds committed versions of some slot (what --resume needs). */
export function hasVersions(dir: string): boolean {
  try {
    return readdirSync(dir).some((d) => /^slot-\d+$/.test(d) && readdirSync(join(dir, d)).some((f) => /^v\d+\.rcs$/.test(f)));
  } catch {
    return false;
  }
}

const FLAG: Record<string, string> = {
  nodes: '--nodes',
  spares: '--spares',
  minNodes: '--min-nodes',
  onFault: '--on-fault',
  events: '--events',
  heartbeatMs: '--heartbeat-ms',
  watchers: '--watchers',
  faultTimeoutMs: '--fault-timeout-ms',
  chaos: '--chaos',
  command: 'command',
  job: '--job',
  stateDir: '--state-dir',
  keep: '--keep',
  persistEvery: '--persist-every',
  replicateEvery: '--replicate-every',
  replicateMs: '--replicate-ms',
  versionEvery: '--version-every',
  versionMs: '--version-ms',
  verifyEvery: '--verify-every',
  replicas: '--replicas',
  proxy: '--proxy',
  resume: '--resume',
  store: '--store',
  dashboard: '--dashboard',
  dashboardLingerMs: '--dashboard-linger-ms',
  stragglerFactor: '--straggler-factor',
  stragglerWindowMs: '--straggler-window-ms',
  onStraggler: '--on-straggler',
  chaosSlowFactor: '--chaos-slow-factor',
};

/** Validates and fills defaults; throws InvalidArgumentError naming the flag. */
export function resolveLaunchOptions(input: LaunchInput): LaunchOptions {
  const r = LaunchOptionsSchema.safeParse(input);
  if (!r.success) {
    const msg = r.error.issues
      .map((i) => {
        const flag = FLAG[String(i.path[0])] ?? String(i.path[0] ?? 'options');
        return i.message.includes(flag) ? i.message : `${flag}: ${i.message}`;
      })
      .join('; ');
    throw new InvalidArgumentError(msg);
  }
  const o = r.data;
  const policy = o.onFault ?? (o.spares > 0 ? 'replace' : 'shrink');
  const chaos = o.chaos === undefined ? [] : parseChaos(o.chaos);
  const all = o.nodes + o.spares;
  for (const a of chaos) {
    if (a.target !== 'random' && a.target.node >= all) throw new InvalidArgumentError(`--chaos: "${a.spec}" names node ${a.target.node}, but the job has nodes 0..${all - 1}`);
  }
  return {
    nodes: o.nodes,
    spares: o.spares,
    // Replace mode keeps the job at its size: once the spares are gone, a fault ends the job
    // (with its state kept for --resume) rather than quietly finishing smaller, with another
    // result. Shrinking is the user's to ask for: --min-nodes M, or --on-fault shrink.
    minNodes: o.minNodes ?? (policy === 'replace' ? o.nodes : 1),
    policy,
    events: o.events,
    heartbeatMs: o.heartbeatMs,
    watchers: o.watchers,
    faultTimeoutMs: o.faultTimeoutMs ?? 3 * o.heartbeatMs,
    chaos,
    command: o.command,
    job: o.job,
    startTimeoutMs: o.startTimeoutMs,
    quiet: o.quiet,
    stateDir: o.resume ?? o.stateDir,
    keep: o.keep,
    persistEvery: o.persistEvery,
    replicateEvery: o.replicateEvery,
    replicateMs: o.replicateMs ?? DEFAULT_REPLICATE_MS,
    versionEvery: o.versionEvery,
    versionMs: o.versionMs ?? DEFAULT_VERSION_MS,
    verifyEvery: o.verifyEvery,
    replicas: o.replicas,
    proxy: o.proxy,
    resume: o.resume !== undefined,
    store: o.store,
    dashboard: o.dashboard,
    dashboardLingerMs: o.dashboardLingerMs,
    stragglerFactor: o.stragglerFactor,
    stragglerWindowMs: o.stragglerWindowMs,
    onStraggler: o.onStraggler,
    chaosSlowFactor: o.chaosSlowFactor,
  };
}

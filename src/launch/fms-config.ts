import type { FmsConfig } from '../fms/fms.js';
import type { LaunchOptions } from './launch-options.js';

export interface NodePlacement {
  job: string;
  node: number;
  secret: string;
  store: string;
  host: string;
  stateDir: string;
}

/**
 * The one place the job's options become an FMS's configuration, for `rollcall launch` (every
 * node on this machine) and `rollcall node` (one node per host) alike. The timeouts of the
 * recovery protocol all derive from the fault timeout, so one flag scales them together.
 */
export function fmsConfig(opts: LaunchOptions, at: NodePlacement): FmsConfig {
  const all = opts.nodes + opts.spares;
  return {
    ...at,
    command: opts.command,
    nodes: Array.from({ length: all }, (_, i) => i),
    policy: opts.policy,
    heartbeatMs: opts.heartbeatMs,
    faultTimeoutMs: opts.faultTimeoutMs,
    rendezvousTimeoutMs: Math.max(2000, 4 * opts.faultTimeoutMs),
    recoveryTimeoutMs: Math.max(opts.startTimeoutMs, 10 * opts.faultTimeoutMs),
    commTimeoutMs: Math.max(10_000, 4 * opts.faultTimeoutMs),
    startTimeoutMs: opts.startTimeoutMs,
    keep: opts.keep,
    persistEvery: opts.persistEvery ?? null,
    replicateEvery: opts.replicateEvery ?? null,
    replicateMs: opts.replicateMs,
    versionEvery: opts.versionEvery ?? null,
    versionMs: opts.versionMs,
    proxy: opts.proxy,
  };
}

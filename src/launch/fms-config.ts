import type { FmsConfig } from '../protocol/fms-messages.js';
import type { StoreAccess } from '../protocol/store-access.js';
import type { LaunchOptions } from './launch-options.js';
import { stragglerExchangeMs } from '../fms/straggler-rule.js';

export interface NodePlacement {
  job: string;
  node: number;
  secret: string;
  store: string;
  storeAccess?: StoreAccess;
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
  const rendezvousTimeoutMs = Math.max(2000, 4 * opts.faultTimeoutMs);
  return {
    job: at.job,
    node: at.node,
    secret: at.secret,
    store: at.store,
    ...(at.storeAccess ? { storeAccess: at.storeAccess } : {}),
    host: at.host,
    command: opts.command,
    nodes: Array.from({ length: all }, (_, i) => i),
    policy: opts.policy,
    heartbeatMs: opts.heartbeatMs,
    watchers: opts.watchers,
    faultTimeoutMs: opts.faultTimeoutMs,
    rendezvousTimeoutMs,
    startTimeoutMs: opts.startTimeoutMs,
    straggler: { factor: opts.stragglerFactor, windowMs: opts.stragglerWindowMs, on: opts.onStraggler },
    program: {
      job: at.job,
      node: at.node,
      store: at.store,
      ...(at.storeAccess ? { storeAccess: at.storeAccess } : {}),
      secret: at.secret,
      host: at.host,
      heartbeatMs: opts.heartbeatMs,
      rendezvousTimeoutMs,
      recoveryTimeoutMs: Math.max(opts.startTimeoutMs, 10 * opts.faultTimeoutMs),
      startTimeoutMs: opts.startTimeoutMs,
      commTimeoutMs: Math.max(10_000, 4 * opts.faultTimeoutMs),
      stateDir: at.stateDir,
      keep: opts.keep,
      persistEvery: opts.persistEvery ?? null,
      replicateEvery: opts.replicateEvery ?? null,
      replicateMs: opts.replicateMs,
      versionEvery: opts.versionEvery ?? null,
      versionMs: opts.versionMs,
      verifyEvery: opts.verifyEvery ?? null,
      replicas: opts.replicas,
      proxy: opts.proxy,
      stragglerExchangeMs: stragglerExchangeMs(opts.stragglerWindowMs),
    },
  };
}

import type { ChildProcess } from 'node:child_process';
import { z } from 'zod';
import type { LogEvent } from './events.js';
import type { ProgramConfig, ProgramStats } from './program-ipc.js';
import type { StoreAccess } from './store-access.js';

/**
 * Launcher ↔ FMS process messages (Node IPC between processes of the same Rollcall build): the
 * configuration an FMS is started with, and what it reports back. Not validated on receipt: both
 * ends are the same build, and neither is user code.
 */

/** What a fault does to the membership; `restart` also restarts every program (the torchrun baseline). */
export const MembershipPolicySchema = z.enum(['replace', 'shrink', 'restart']);
export type MembershipPolicy = z.infer<typeof MembershipPolicySchema>;

/**
 * What a straggler confirmed slow for the whole window leads to: `replace` by a spare (with no
 * spare left, it is only reported), `report` only, or `shrink`: declared a fault even with no spare,
 * when the job can lose a member (--min-nodes).
 */
export const STRAGGLER_ACTIONS = ['replace', 'report', 'shrink'] as const;
export type StragglerAction = (typeof STRAGGLER_ACTIONS)[number];

/** The straggler rule's settings (fms/straggler-rule.ts). */
export interface StragglerConfig {
  /** Slow: compute time per step above this many times the members' median. */
  factor: number;
  /** For this long without a break. */
  windowMs: number;
  on: StragglerAction;
}

export interface FmsConfig {
  job: string;
  node: number;
  secret: string;
  /** Store address: host:port (the embedded store) or etcd://host:port[,host:port...]. */
  store: string;
  /** For `etcds://`: TLS material and a user (store-access.ts). */
  storeAccess?: StoreAccess;
  /** Address every listening socket of this node binds to; a wildcard advertises this host's address. */
  host: string;
  command: string[];
  /** Every node of the job, members and spares. */
  nodes: number[];
  policy: MembershipPolicy;
  heartbeatMs: number;
  /** How many other FMSes each one watches on the ring of live nodes (`--watchers K`; default 3). */
  watchers?: number;
  /** Silence after which a node or program is declared failed. */
  faultTimeoutMs: number;
  rendezvousTimeoutMs: number;
  startTimeoutMs: number;
  straggler: StragglerConfig;
  /** Sent verbatim to the program when it connects, with this FMS's datagram address added. */
  program: Omit<ProgramConfig, 'fms'>;
}

export enum FmsState {
  Starting = 'starting',
  Spare = 'spare',
  Running = 'running',
  Recovering = 'recovering',
  /** This node was declared failed; it has left the job. */
  Fenced = 'fenced',
  Done = 'done',
  Stopped = 'stopped',
}

export type ToFms =
  | { type: 'start'; config: FmsConfig }
  | { type: 'stop' }
  /** `--chaos slow:...`: the program computes `factor` times slower from now on (sdk/compute-meter.ts). */
  | { type: 'slow'; factor: number };

export type FromFms =
  | { type: 'ready'; node: number }
  /** Sent last before an FMS exits; its delivery means every earlier message was delivered. */
  | { type: 'flush' }
  | { type: 'event'; event: LogEvent }
  | { type: 'progress'; node: number; step: number; stats?: ProgramStats | undefined }
  | { type: 'health'; node: number; phi: Record<string, number> }
  /** The node's program was started as `pid`, the leader of its own process group. */
  | { type: 'program'; node: number; pid: number }
  | { type: 'finished'; node: number; state: FmsState; result?: unknown };

/**
 * Sends to an FMS process if its channel is open. The channel can still close under the write
 * (the FMS exiting at that moment); without a callback Node raises that EPIPE as an uncaught
 * 'error' and takes the launcher down. The FMS's exit is reported by its 'exit' handler.
 */
export function sendToFms(child: ChildProcess, m: ToFms): void {
  if (child.connected) child.send(m, () => undefined);
}

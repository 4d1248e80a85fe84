import { z } from 'zod';
import { SerializedErrorSchema } from './error-wire.js';
import { ProgramEventMessageSchema } from './program-events.js';
import { StoreAccessSchema } from './store-access.js';

/**
 * Messages between an FMS and its program over the Node IPC channel. Both ends validate what
 * they receive: the program is user code and the FMS must survive any message from it, and a
 * program started by a different Rollcall version should fail with a message, not misbehave.
 */

const Int = z.number().int();
const NodeId = Int.nonnegative();

/**
 * Where the proxy's communicator runs (docs/architecture.md, "The communication proxy"):
 * - `inline`: on the program's own thread. No hand-off per operation; the communicator is
 *   still disposable: it is destroyed and rebuilt for each generation, the program is not.
 * - `thread`: in a worker thread of the program's process. Each operation is a message to it.
 * Part of the program's configuration (below); src/proxy/ builds either kind.
 */
export const PROXY_KINDS = ['inline', 'thread'] as const;
export type ProxyKind = (typeof PROXY_KINDS)[number];

/** A program's running totals, sent with its progress at most once a second (for /metrics). */
export const ProgramStatsSchema = z.object({
  commits: z.number().nonnegative(),
  replicaBytes: z.number().nonnegative(),
  persistBytes: z.number().nonnegative(),
  allreduceBytes: z.number().nonnegative(),
  allreduceSeconds: z.number().nonnegative(),
  /** Time computing: outside the program's operations (sdk/compute-meter.ts). */
  computeSeconds: z.number().nonnegative().optional(),
});
export type ProgramStats = z.infer<typeof ProgramStatsSchema>;

export const newProgramStats = (): ProgramStats => ({ commits: 0, replicaBytes: 0, persistBytes: 0, allreduceBytes: 0, allreduceSeconds: 0, computeSeconds: 0 });

/**
 * What a program is told when it connects: built once from the job's options (launch/fms-config.ts),
 * carried verbatim by the FMS, which adds only the address of its own datagram endpoint.
 */
export const ProgramConfigSchema = z.object({
  job: z.string(),
  node: NodeId,
  store: z.string(),
  /** For `etcds://`: TLS material and a user, with the secret in the same channel. */
  storeAccess: StoreAccessSchema.optional(),
  secret: z.string(),
  /** Address the program's communicator and keeper listen on, and advertise. */
  host: z.string().min(1),
  /** Where the program's heartbeat thread sends its datagrams. */
  fms: z.string(),
  heartbeatMs: z.number().positive(),
  /** Bound on any single rendezvous, and on how long an idle program waits for a recovery. */
  rendezvousTimeoutMs: z.number().positive(),
  recoveryTimeoutMs: z.number().positive(),
  /** How long a program may take to start: bounds generation 0's rendezvous, when every program is still starting. */
  startTimeoutMs: z.number().positive(),
  commTimeoutMs: z.number().positive(),
  /** Where committed versions are persisted, and how many each node keeps. */
  stateDir: z.string(),
  keep: z.number().int().positive(),
  /** A fixed file interval in versions; null: every 10th replicated version. */
  persistEvery: z.number().int().positive().nullable(),
  /** A fixed replica interval in versions; null: chosen from the step time, `replicateMs` apart. */
  replicateEvery: z.number().int().positive().nullable(),
  replicateMs: z.number().positive(),
  /** A fixed version interval in commits; null: chosen from the step time, `versionMs` apart. */
  versionEvery: z.number().int().positive().nullable(),
  versionMs: z.number().positive(),
  /** Compare the replicated state's digests every Nth commit; null: chosen from the step time; 0: never. */
  verifyEvery: z.number().int().nonnegative().nullable().default(null),
  /** How many peers hold a node's replicas (replica-peers.ts). */
  replicas: z.number().int().positive().default(2),
  proxy: z.enum(PROXY_KINDS),
  /** How often the members exchange their compute times, for the straggler rule (sdk/straggler-exchange.ts). */
  stragglerExchangeMs: z.number().positive(),
});
export type ProgramConfig = z.infer<typeof ProgramConfigSchema>;

export const ToProgramSchema = z.discriminatedUnion('type', [
  ProgramConfigSchema.extend({ type: z.literal('config') }),
  /** Join this generation: relaunch the proxy for it. */
  z.object({
    type: z.literal('generation'),
    generation: Int.nonnegative(),
    rank: Int.nonnegative(),
    world: Int.positive(),
    /** Node ids in rank order. */
    members: z.array(NodeId),
    /** Whose state this node holds: its own node id, or the slot of the node it replaced. */
    slot: NodeId,
    /** Spares waiting in the record: whether a two-member corruption dispute can call on one (sdk/state.ts). */
    spares: Int.nonnegative().optional(),
    /** The spares, by node id: their addresses are read while this generation runs, so that bringing one in reads nothing on the recovery path. */
    spareNodes: z.array(NodeId).optional(),
  }),
  /**
   * This node waits as a spare: get ready to be brought in (the address book followed, so that
   * joining reads nothing from the store on the recovery path).
   */
  z.object({ type: z.literal('spare'), generation: Int.nonnegative() }),
  /** A fault is being recovered: hold operations until the next generation. */
  z.object({ type: z.literal('idle'), generation: Int.nonnegative() }),
  /** `--chaos slow`: compute `factor` times slower from now on, a straggler made on purpose (sdk/compute-meter.ts). */
  z.object({ type: z.literal('slow'), factor: z.number().min(1) }),
]);
export type ToProgram = z.infer<typeof ToProgramSchema>;

export const FromProgramSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('hello'), pid: Int.positive(), version: z.literal(1) }),
  /** Standby proxy started: the program can join a generation without start-up cost. */
  z.object({ type: z.literal('warm') }),
  z.object({ type: z.literal('proxy_ready'), generation: Int, ms: z.number() }),
  /** The proxy could not join, or its communicator broke, in `generation`. */
  z.object({ type: z.literal('proxy_broken'), generation: Int, error: SerializedErrorSchema }),
  /** The program issued its first operation in `generation`, at `ts` (ms since the epoch). */
  z.object({ type: z.literal('resumed'), generation: Int, ts: z.number(), stepsRedone: Int.nonnegative().optional(), msRedone: z.number().nonnegative().optional() }),
  /** One of the program's events for the log (common_state_selected, state_corrupt, ...), with its fields (protocol/events.ts). */
  ProgramEventMessageSchema,
  z.object({ type: z.literal('progress'), step: Int.nonnegative(), stats: ProgramStatsSchema.optional() }),
  /**
   * After each exchange of compute times (sdk/straggler-exchange.ts): this member's compute time
   * per step and the members' median, over the same commits; the FMS judges it (fms/straggler-watch.ts).
   */
  z.object({ type: z.literal('compute'), generation: Int.nonnegative(), computeMs: z.number().nonnegative(), medianMs: z.number().nonnegative(), world: Int.positive(), spanMs: z.number().nonnegative() }),
  /** The program is closing its job: its heartbeats stop, and it should exit soon. */
  z.object({ type: z.literal('closing') }),
  /**
   * The program found its own node faulty (its replicated state differs from the majority's):
   * the FMS fences it and declares the fault, as for a program killed by a signal.
   */
  z.object({ type: z.literal('fault'), cause: z.literal('corruption'), detail: z.string() }),
  /**
   * The job cannot go on and it is not the program's bug (no common state after a double fault,
   * a corruption no majority resolves): the FMS ends the job with this reason; the program then
   * exits with a non-zero code, which is not reported as its own failure.
   */
  z.object({ type: z.literal('job_failed'), reason: z.string() }),
  /**
   * The program is dying of an error it did not handle: its name (and code, for Rollcall's own),
   * so the FMS can say which in the job's failure rather than only the exit code.
   */
  z.object({ type: z.literal('uncaught'), name: z.string(), code: z.string().optional(), message: z.string() }),
  /** The program's final result, reported just before it exits successfully. */
  z.object({ type: z.literal('result'), value: z.unknown() }),
]);
export type FromProgram = z.infer<typeof FromProgramSchema>;

export const IPC_VERSION = 1 as const;

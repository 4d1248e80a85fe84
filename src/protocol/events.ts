import { z } from 'zod';
import { FaultCauseSchema } from './datagram.js';
import { MembershipPolicySchema } from './fms-messages.js';
import { programEventShapes, type ProgramEventName } from './program-events.js';
import { NO_JIT } from './no-jit.js';

export { ProgramEventMessageSchema, programEventMessage, type ProgramEventMessage, type ProgramEventName } from './program-events.js';

/**
 * Every event the log holds, each with its fields, in one schema: the one list of them. An
 * event-log line is `{ ts, event, ...fields }`. Writers are typed by it (an unknown name, or a
 * missing or mistyped field, does not compile), a program's events are validated by it when its
 * FMS receives them (src/protocol/program-ipc.ts), and readers take a line through `parseEvent` to its typed
 * form. Adding an event or a field means adding it here, where every writer and reader sees it.
 */
const Int = z.number().int();
const NodeId = Int.nonnegative();
const Generation = Int.nonnegative();
const Ts = z.number();
const Nodes = z.array(NodeId);

const event = <E extends string, S extends z.ZodRawShape>(name: E, shape: S) => z.object({ ts: Ts, event: z.literal(name), ...shape });

/** `rollcall launch` and `rollcall node` end a job, or a node, in one of these. */
const JobOutcomeSchema = z.enum(['completed', 'failed', 'stopped']);
const NodeOutcomeSchema = z.enum(['completed', 'failed', 'fenced', 'stopped']);
/** What `--chaos` does (launch/chaos.ts ChaosKind). */
const ChaosKindSchema = z.enum(['kill', 'stop', 'kill-node', 'slow', 'corrupt']);

/** Written by the launcher (`rollcall launch`) or by a host's node runner (`rollcall node`). */
const launcherEvents = [
  event('job_started', {
    job: z.string(),
    nodes: Nodes,
    spares: Nodes,
    policy: MembershipPolicySchema,
    minNodes: Int.positive(),
    heartbeatMs: z.number().positive(),
    faultTimeoutMs: z.number().positive(),
    command: z.array(z.string()),
    stateDir: z.string(),
    keep: Int.positive(),
    resume: z.boolean(),
  }),
  event('node_started', { node: NodeId, job: z.string(), host: z.string(), bind: z.string(), pid: Int, generation: Generation, role: z.enum(['member', 'spare']) }),
  /** `pid`: the FMS's for kill-node, else the program's (absent if the FMS process has none). */
  event('fault_injected', { node: NodeId, kind: ChaosKindSchema, pid: Int.optional(), spec: z.string() }),
  /** From the fault (its injection, or its first detection) to every member running again. */
  /**
   * `ms` from `faultTs`, which is what `from` says (launch/recovery-tracker.ts): the injection,
   * the detection where it is the fault (an exit, a reset), or the last sign of life of a node
   * found silent. `detectionMs`: from `faultTs` to the first detection (null: the same instant).
   */
  event('recovered', {
    generation: Generation,
    ms: z.number().nonnegative(),
    from: z.enum(['fault_injected', 'fault_detected', 'last_sign_of_life']),
    faultTs: Ts,
    detectionMs: z.number().nonnegative().nullable().optional(),
    cause: z.string().optional(),
  }),
  /** Each node's step, about once a second. */
  event('node_progress', { node: NodeId, step: Int.nonnegative() }),
  event('fms_exited', { node: NodeId, code: Int.nullable(), signal: z.string().nullable() }),
  /**
   * `worldStart`/`worldEnd`: members at the start and at the end (a shrunk job says so).
   * `chaosNotFired`: the --chaos actions that never injected their fault (the job ended first,
   * or their target had left): the run did not test what was asked, and the launcher exits 4.
   */
  event('job_completed', {
    generation: Generation,
    result: z.unknown(),
    results: z.record(z.string(), z.unknown()),
    worldStart: Int.positive().optional(),
    worldEnd: Int.nonnegative().optional(),
    chaosNotFired: z.array(z.string()).optional(),
  }),
  event('job_failed', { generation: Generation, outcome: JobOutcomeSchema, reason: z.string().optional(), worldStart: Int.positive().optional(), worldEnd: Int.nonnegative().optional() }),
  event('node_completed', { node: NodeId, outcome: NodeOutcomeSchema, reason: z.string().nullable() }),
  event('node_stopped', { node: NodeId, outcome: NodeOutcomeSchema, reason: z.string().nullable() }),
] as const;

/** Written by a node's FMS, which adds its `node` to each. */
const fmsEvents = [
  event('program_started', { node: NodeId, pid: Int, fmsPid: Int, generation: Generation }),
  /** Its standby proxy is up. */
  event('program_warm', { node: NodeId, pid: Int }),
  event('proxy_started', { node: NodeId, generation: Int, ms: z.number() }),
  event('proxy_relaunched', { node: NodeId, generation: Int, ms: z.number() }),
  /** The program's first operation in `generation` (`ts` is when it issued it). */
  event('program_resumed', { node: NodeId, generation: Int, pid: Int, steps_redone: z.number().nonnegative().optional(), ms_redone: z.number().nonnegative().optional() }),
  event('proxy_broken', { node: NodeId, generation: Int, failed: Nodes, message: z.string() }),
  event('fault_detected', { node: NodeId, by: NodeId, failed: Nodes, cause: FaultCauseSchema, generation: Generation, detail: z.string() }),
  /** The FMS the fault was reported to, the one writing the next membership (empty: the detector itself). */
  event('fault_notified', { node: NodeId, by: NodeId, failed: Nodes, to: Nodes }),
  /** A watched peer went silent (or its proxy link broke): an indirect probe confirms or clears it. `health`: the observer's own score (Lifeguard). */
  event('peer_suspected', { node: NodeId, suspect: NodeId, cause: FaultCauseSchema, detail: z.string(), health: Int.nonnegative() }),
  /** A suspicion that did not become a fault: the peer answered (`ack`), beat again, or nobody could tell. */
  event('peer_cleared', { node: NodeId, suspect: NodeId, how: z.enum(['ack', 'heartbeat', 'unresolved']), health: Int.nonnegative() }),
  event('program_idle', { node: NodeId, generation: Generation }),
  event('membership_updated', { node: NodeId, generation: Generation, members: Nodes, removed: Nodes, added: Nodes, by: NodeId, cause: FaultCauseSchema }),
  event('node_fenced', { node: NodeId, generation: Generation }),
  /** Exited with an error code: the program's own failure, which ends the job. */
  event('program_failed', { node: NodeId, pid: Int, code: Int.nullable() }),
  event('program_completed', { node: NodeId, pid: Int, result: z.unknown() }),
  event('fms_error', { node: NodeId, message: z.string() }),
  /**
   * Stragglers (fms/straggler-watch.ts), judged by the node's own FMS: its program's compute time
   * per step (`compute_ms`) went above `factor` times the members' median (`median_ms`).
   */
  event('straggler_suspected', { node: NodeId, generation: Generation, compute_ms: z.number().nonnegative(), median_ms: z.number().nonnegative(), factor: z.number().positive(), window_ms: z.number().positive() }),
  /** Back under the factor (`why: fast_again`), or the suspicion ended by a new generation (`membership_changed`). */
  event('straggler_cleared', { node: NodeId, generation: Generation, compute_ms: z.number().nonnegative().nullable(), median_ms: z.number().nonnegative().nullable(), slow_ms: z.number().nonnegative(), why: z.enum(['fast_again', 'membership_changed']) }),
  /** Slow for the whole window, and left in place: `--on-straggler report`, or nothing to replace it with (`why`). */
  event('straggler_reported', { node: NodeId, generation: Generation, compute_ms: z.number().nonnegative(), median_ms: z.number().nonnegative(), slow_ms: z.number().nonnegative(), why: z.string() }),
] as const;

/** What a program sends its FMS for the log (program-events.ts), with the `node` its FMS adds. */
const ps = programEventShapes;
const programEvents = {
  common_state_selected: event('common_state_selected', { node: NodeId, ...ps.common_state_selected }),
  replica_interval_chosen: event('replica_interval_chosen', { node: NodeId, ...ps.replica_interval_chosen }),
  version_interval_chosen: event('version_interval_chosen', { node: NodeId, ...ps.version_interval_chosen }),
  state_corrupt: event('state_corrupt', { node: NodeId, ...ps.state_corrupt }),
  verify_interval_chosen: event('verify_interval_chosen', { node: NodeId, ...ps.verify_interval_chosen }),
  corruption_detected: event('corruption_detected', { node: NodeId, ...ps.corruption_detected }),
  state_error: event('state_error', { node: NodeId, ...ps.state_error }),
  program_error: event('program_error', { node: NodeId, ...ps.program_error }),
  auth_refused: event('auth_refused', { node: NodeId, ...ps.auth_refused }),
  comm_listening: event('comm_listening', { node: NodeId, ...ps.comm_listening }),
};
const p = programEvents;

export const EventSchema = z.discriminatedUnion('event', [
  ...launcherEvents,
  ...fmsEvents,
  p.common_state_selected,
  p.replica_interval_chosen,
  p.version_interval_chosen,
  p.state_corrupt,
  p.verify_interval_chosen,
  p.corruption_detected,
  p.state_error,
  p.program_error,
  p.auth_refused,
  p.comm_listening,
]);

/** The message by which a program forwards one of its events (and only those) to its FMS. */


/** One event-log line, typed. */
export type LogEvent = z.infer<typeof EventSchema>;
export type EventName = LogEvent['event'];
export type EventOf<N extends EventName> = Extract<LogEvent, { event: N }>;
/** An event's own fields: what its writer passes (`ts` and `event` are the line's). */
export type EventFields<N extends EventName> = N extends EventName ? Omit<EventOf<N>, 'ts' | 'event'> : never;
/** The same without `node`, which the FMS adds to each of its own and its program's events. */
export type NodeEventFields<N extends EventName> = N extends EventName ? Omit<EventOf<N>, 'ts' | 'event' | 'node'> : never;
/** The events an FMS writes: its own, and those its program sends it. */
export type FmsEventName = z.infer<(typeof fmsEvents)[number]>['event'] | ProgramEventName;


/** A line as read from a log file or the store, before `parseEvent`: only `ts` and `event` are known. */
export interface EventLine {
  ts: number;
  event: string;
  [field: string]: unknown;
}

/** The line for `event` with its `fields`, at `ts`. */
export function logEvent<N extends EventName>(event: N, fields: EventFields<N>, ts = Date.now()): EventOf<N> {
  // The signature pairs the name with its fields; the compiler cannot follow that through the spread.
  return { ts, event, ...fields } as unknown as EventOf<N>;
}


/** Every event name, in the schema's order. */
export const EVENT_NAMES: readonly EventName[] = EventSchema.options.map((o) => o.shape.event.value);
const NAMES = new Set<string>(EVENT_NAMES);

/** The typed event, or undefined if `e` is not an event of the log or its fields are wrong. */
export function parseEvent(e: unknown): LogEvent | undefined {
  if (typeof e !== 'object' || e === null || !NAMES.has((e as { event?: unknown }).event as string)) return undefined;
  const r = EventSchema.safeParse(e, NO_JIT);
  return r.success ? r.data : undefined;
}

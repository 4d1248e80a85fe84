import { z } from 'zod';
// Types only: the log's schema is not loaded by a program (see below).
import type { NodeEventFields } from './events.js';

/**
 * The events a program sends its FMS for the log (`{ type: 'event', event, fields }`,
 * program-ipc.ts); the FMS adds its `node` and logs them (events.ts holds the log's schema,
 * built from these shapes). Apart from events.ts so that a program loads these few schemas and
 * not the log's forty: those take 2.4 MB of heap, and in the program they made the rendezvous
 * of every recovery about 20 ms slower (docs/benchmarks.md, eighth session).
 */
const Int = z.number().int();
const NodeId = Int.nonnegative();
const Generation = Int.nonnegative();

export const programEventShapes = {
  /** Rank 0, after a rollback: the version every member restored. */
  common_state_selected: { generation: Generation, version: Int.nonnegative(), step: Int.nonnegative() },
  /** `far_every`, `far_from`: the second and further peers' interval and where it starts (replica-cadence.ts, farEvery), when the node has them. */
  replica_interval_chosen: {
    generation: Generation,
    every: Int.positive(),
    from_version: Int.nonnegative(),
    step_ms: z.number().nonnegative(),
    target_ms: z.number().positive().nullable(),
    far_every: Int.positive().optional(),
    far_from: Int.nonnegative().optional(),
  },
  /** `cost_ms`: a version's commit, measured (the slowest member's); versions are spaced by it too. */
  version_interval_chosen: { generation: Generation, every: Int.positive(), from_commit: Int.nonnegative(), step_ms: z.number().nonnegative(), target_ms: z.number().positive().nullable(), cost_ms: z.number().nonnegative() },
  /** Rank 0: the commit at which, and how often, the members compare their replicated state's digests (sdk/state-verifier.ts). */
  verify_interval_chosen: { generation: Generation, every: Int.positive(), from_commit: Int.nonnegative(), digest_ms: z.number().nonnegative() },
  /**
   * Rank 0: the members' digests of `version` differed (each digest with how many members hold
   * it). `replace`: the members outside the majority are failed; `retry`: no majority, every
   * member recomputes from `rollback_to`; `arbitrate`: no majority a second time between two
   * members, rank 1 steps out for a spare; `fail_job`: the same with no spare. After an
   * arbitration, `replace` with no majority fails the member that disagreed with both partners.
   */
  corruption_detected: {
    generation: Generation,
    version: Int.nonnegative(),
    rollback_to: Int.nonnegative(),
    digests: z.array(z.object({ digest: z.string(), members: Int.positive() })),
    action: z.enum(['replace', 'retry', 'arbitrate', 'fail_job']),
  },
  /** A version whose checksum fails, in memory, in a file or from a peer (`source`). */
  state_corrupt: { slot: NodeId, version: Int.nonnegative(), source: z.string(), message: z.string() },
  state_error: { message: z.string(), slot: NodeId.optional(), version: Int.nonnegative().optional() },
  /**
   * A peer that could not authenticate was refused: a replayed or forged exchange, another job,
   * or bytes that are not the protocol. `peer`: its address as this node saw it. `unlogged`:
   * refusals since the last one logged that were not (at most 10 are logged a second).
   */
  auth_refused: { service: z.enum(['keeper']), peer: z.string(), reason: z.string(), unlogged: Int.positive().optional() },
  /**
   * The node's communicator listens (once for its life): `address` (TCP, what other hosts dial)
   * and `socket`, the Unix domain socket the nodes on its host dial, or null with `no_socket`
   * saying why (docs/architecture.md, "Ranks on one host over Unix domain sockets").
   */
  comm_listening: { address: z.string(), socket: z.string().nullable(), no_socket: z.string().optional() },
  /** The SDK's reason for a failure (`code`: its ErrorCode), or the FMS's about the program (no code). */
  program_error: { message: z.string(), code: z.string().optional() },
} as const;

const message = <E extends string, S extends z.ZodRawShape>(name: E, fields: S) => z.object({ type: z.literal('event'), event: z.literal(name), fields: z.object(fields) });
const s = programEventShapes;

export const ProgramEventMessageSchema = z.discriminatedUnion('event', [
  message('common_state_selected', s.common_state_selected),
  message('replica_interval_chosen', s.replica_interval_chosen),
  message('version_interval_chosen', s.version_interval_chosen),
  message('state_corrupt', s.state_corrupt),
  message('verify_interval_chosen', s.verify_interval_chosen),
  message('corruption_detected', s.corruption_detected),
  message('state_error', s.state_error),
  message('program_error', s.program_error),
  message('auth_refused', s.auth_refused),
  message('comm_listening', s.comm_listening),
]);

export type ProgramEventMessage = z.infer<typeof ProgramEventMessageSchema>;
export type ProgramEventName = ProgramEventMessage['event'];

/** A program's message for the log. */
export function programEventMessage<N extends ProgramEventName>(event: N, fields: NodeEventFields<N>): ProgramEventMessage {
  // The signature pairs the name with its fields; the compiler cannot follow that into the union.
  return { type: 'event', event, fields } as unknown as ProgramEventMessage;
}

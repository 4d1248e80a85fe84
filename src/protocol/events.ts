import { z } from 'zod';

/**
 * The events that readers of the log act on (the recovery tracker, the dashboard, the demo,
 * reports), each with its fields, in one schema. An event-log line is `{ ts, event, ...fields }`;
 * `parseEvent` gives the typed event, or undefined for a line that is not one of these (other
 * events are kept in the log, for people, and readers pass them by). Adding a field to an
 * event means adding it here, where every reader sees it.
 */
const Int = z.number().int();
const NodeId = Int.nonnegative();
const Ts = z.number();

const base = <E extends string, S extends z.ZodRawShape>(event: E, shape: S) => z.object({ ts: Ts, event: z.literal(event), ...shape });

export const KnownEventSchema = z.discriminatedUnion('event', [
  base('job_started', { job: z.string().optional(), nodes: z.array(NodeId), spares: z.array(NodeId) }),
  base('node_started', { node: NodeId, job: z.string().optional(), role: z.enum(['member', 'spare']).optional() }),
  base('program_started', { node: NodeId, pid: Int.optional() }),
  base('fault_injected', { node: NodeId, kind: z.string().optional(), spec: z.string().optional() }),
  base('fault_detected', { node: NodeId.optional(), by: NodeId.optional(), failed: z.array(NodeId).default([]), cause: z.string().default('unknown'), generation: Int.nonnegative() }),
  base('membership_updated', { generation: Int.nonnegative(), members: z.array(NodeId), removed: z.array(NodeId).optional(), added: z.array(NodeId).optional() }),
  base('node_fenced', { node: NodeId }),
  base('fms_exited', { node: NodeId }),
  base('common_state_selected', { generation: Int.nonnegative(), version: Int.nonnegative(), step: Int.nonnegative().optional() }),
  base('replica_interval_chosen', { generation: Int.nonnegative(), every: Int.positive(), from_version: Int.nonnegative(), step_ms: z.number().nonnegative() }),
  base('version_interval_chosen', { generation: Int.nonnegative(), every: Int.positive(), from_commit: Int.nonnegative() }),
  base('program_resumed', { node: NodeId, generation: Int.nonnegative(), steps_redone: z.number().nonnegative().optional(), ms_redone: z.number().nonnegative().optional() }),
  base('recovered', { generation: Int.nonnegative(), ms: z.number().nonnegative() }),
  base('node_progress', { node: NodeId, step: Int.nonnegative() }),
  base('job_completed', { generation: Int.nonnegative().optional() }),
  base('job_failed', { outcome: z.string().optional(), reason: z.string().nullish() }),
]);

export type KnownEvent = z.infer<typeof KnownEventSchema>;
export type KnownEventName = KnownEvent['event'];
export type EventOf<N extends KnownEventName> = Extract<KnownEvent, { event: N }>;

const NAMES = new Set<string>(KnownEventSchema.options.map((o) => o.shape.event.value));

/** The typed event, or undefined if `e` is not one of the known events or its fields are wrong. */
export function parseEvent(e: unknown): KnownEvent | undefined {
  if (typeof e !== 'object' || e === null || !NAMES.has((e as { event?: unknown }).event as string)) return undefined;
  const r = KnownEventSchema.safeParse(e);
  return r.success ? r.data : undefined;
}

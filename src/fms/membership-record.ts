import { z } from 'zod';
import { CorruptRecordError, InvalidArgumentError } from '../errors.js';
import { MembershipPolicySchema } from '../protocol/fms-messages.js';
import { NO_JIT } from '../protocol/no-jit.js';

/**
 * The membership record and the pure rule that turns a record plus a fault into the next one.
 * No I/O here, so the rule can be tested exhaustively and every FMS computes the same result
 * from the same input.
 */

const NodeId = z.number().int().nonnegative();

/** The policy is part of the launcher's configuration of an FMS (protocol/fms-messages.ts). */
export { MembershipPolicySchema, type MembershipPolicy } from '../protocol/fms-messages.js';

export const MembershipRecordSchema = z
  .object({
    generation: z.number().int().nonnegative(),
    /** Node ids in rank order: rank = index. */
    members: z.array(NodeId),
    spares: z.array(NodeId),
    /**
     * The nodes reported failed, newest last, so a late or repeated report is recognised as old
     * news; at most FAILED_KEPT of them (the record is rewritten on every fault and read by every
     * node: it must not grow with the job's history). Older ones are only counted, in `failedDropped`.
     */
    failed: z.array(NodeId),
    /** How many failed nodes were dropped from the front of `failed` (absent: none). */
    failedDropped: z.number().int().nonnegative().optional(),
    minNodes: z.number().int().positive(),
    policy: MembershipPolicySchema,
    state: z.enum(['running', 'failed']),
    reason: z.string().optional(),
    /**
     * Whose state a node holds, for nodes that hold someone else's: a spare brought in for a
     * failed node takes over that node's slot (and so its committed versions). Absent: its own.
     */
    slots: z.record(z.string(), NodeId).optional(),
  })
  .superRefine((r, ctx) => {
    const seen = new Set<number>();
    for (const n of [...r.members, ...r.spares, ...r.failed]) {
      if (seen.has(n)) ctx.addIssue({ code: 'custom', message: `node ${n} appears more than once across members, spares and failed` });
      seen.add(n);
    }
    if (r.state === 'failed' && r.reason === undefined) ctx.addIssue({ code: 'custom', message: 'a failed job must carry a reason' });
    if (r.state === 'running' && r.members.length < r.minNodes) {
      ctx.addIssue({ code: 'custom', message: `running with ${r.members.length} member(s), below minNodes ${r.minNodes}` });
    }
  });
export type MembershipRecord = z.infer<typeof MembershipRecordSchema>;

export interface MembershipChange {
  /** Members dropped from the communicator by this change. */
  removed: number[];
  /** Spares brought into the communicator by this change. */
  added: number[];
}

export interface MembershipTransition {
  record: MembershipRecord;
  changed: MembershipChange;
  /** Whether the record differs from the input, i.e. must be written. */
  write: boolean;
  /** Whether the generation went up (members changed or the job ended). */
  bumped: boolean;
}

/**
 * The last few values parsed and their records, deep-frozen so no holder can change what another
 * holds. The record is read again and again unchanged (a watch delivery, then a get of the same
 * revision; in the cluster simulator, src/sim/, every one of N FMSes in one process reads the same
 * value): validating it is O(N) each time (a set over every node), so N readers cost O(N^2) per
 * generation. Equal text is an equal record, so a hit returns what the schema accepted before.
 */
const PARSED_KEPT = 4;
const parsedRecords = new Map<string, MembershipRecord>();

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/**
 * Parses a stored value; anything unexpected becomes a CorruptRecordError naming the key. The
 * record returned is frozen (it may be shared with other readers of the same value).
 */
export function parseMembership(key: string, value: string): MembershipRecord {
  const seen = parsedRecords.get(value);
  if (seen) return seen;
  const record = deepFreeze(validateMembership(key, value));
  if (parsedRecords.size >= PARSED_KEPT) parsedRecords.delete(parsedRecords.keys().next().value as string);
  parsedRecords.set(value, record);
  return record;
}

function validateMembership(key: string, value: string): MembershipRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch (e) {
    throw new CorruptRecordError(key, `membership record at ${key} is not JSON: ${(e as Error).message}`, { cause: e });
  }
  const parsed = MembershipRecordSchema.safeParse(raw, NO_JIT);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(record)'}: ${i.message}`).join('; ');
    throw new CorruptRecordError(key, `membership record at ${key} is invalid: ${issues}`, { cause: parsed.error });
  }
  return parsed.data;
}

/**
 * The failed nodes a record names. A node that is neither member nor spare is out of the job
 * either way: one named here, or one dropped from here long ago (counted in `failedDropped`).
 */
export const FAILED_KEPT = 256;

/** Whether `node` is out of the job for good: neither a member nor a spare. */
export function isOut(record: MembershipRecord, node: number): boolean {
  return !record.members.includes(node) && !record.spares.includes(node);
}

/** How many nodes the job was started with: members, spares, failed, and failed nodes no longer named. */
export function nodesEver(record: MembershipRecord): number {
  return record.members.length + record.spares.length + record.failed.length + (record.failedDropped ?? 0);
}

/** The slot (whose committed state) a node holds. */
export function slotOf(record: MembershipRecord, node: number): number {
  return record.slots?.[String(node)] ?? node;
}

/** The node's rank in this generation, or undefined if it is not a member. */
export function rankOf(record: MembershipRecord, node: number): number | undefined {
  const i = record.members.indexOf(node);
  return i < 0 ? undefined : i;
}

/**
 * The membership after `failedNodes` are lost. Returns the input itself (write: false) when
 * every node named is already known failed, or when the job has already ended: that is how
 * concurrent proposers of the same fault converge on one generation bump.
 *
 * `replace` fills failed ranks with spares, lowest rank first, so surviving members keep their
 * rank; once spares run out the remaining failed ranks are dropped as in `shrink`, as far as
 * minNodes allows (the CLI sets it to the job's size in replace mode unless told otherwise). A lost spare
 * is struck from the spares without a generation bump: the communicator is unchanged, so
 * relaunching every proxy for it would be a recovery with nothing to recover.
 */
export function nextMembership(record: MembershipRecord, failedNodes: readonly number[]): MembershipTransition {
  const unchanged: MembershipTransition = { record, changed: { removed: [], added: [] }, write: false, bumped: false };
  const lost = new Set(failedNodes);
  for (const n of lost) {
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`failed node id must be a non-negative integer, got ${n}`);
    // Past the kept list, a node that is none of these may be one failed long ago: old news.
    if (!record.members.includes(n) && !record.spares.includes(n) && !record.failed.includes(n) && !record.failedDropped) {
      throw new InvalidArgumentError(`node ${n} is not part of this job (neither member, spare nor failed)`, { node: n });
    }
  }
  if (record.state === 'failed') return unchanged;

  const lostMembers = record.members.filter((n) => lost.has(n));
  const lostSpares = record.spares.filter((n) => lost.has(n));
  if (lostMembers.length === 0 && lostSpares.length === 0) return unchanged;

  const spares = record.spares.filter((n) => !lost.has(n));
  const members: number[] = [];
  const added: number[] = [];
  const slots = { ...(record.slots ?? {}) };
  for (const n of record.members) {
    if (!lost.has(n)) members.push(n);
    else if (record.policy !== 'shrink' && spares.length > 0) {
      const s = spares.shift() as number;
      members.push(s);
      added.push(s);
      slots[String(s)] = slotOf(record, n);
    }
  }
  const all = [...record.failed, ...lostMembers, ...lostSpares];
  const drop = Math.max(0, all.length - FAILED_KEPT);
  const failed = all.slice(drop);
  const compacted = drop > 0 ? { failedDropped: (record.failedDropped ?? 0) + drop } : {};

  if (lostMembers.length === 0) {
    return { record: { ...record, spares, failed, ...compacted }, changed: { removed: [], added: [] }, write: true, bumped: false };
  }

  const next: MembershipRecord = { ...record, generation: record.generation + 1, members, spares, failed, ...compacted, ...(added.length > 0 ? { slots } : {}) };
  if (members.length < record.minNodes) {
    next.state = 'failed';
    next.reason =
      `node(s) ${lostMembers.join(',')} failed and no spare is left: ` +
      `${members.length} member(s) would remain, below minNodes ${record.minNodes}` +
      // What to do about it, where the user can: the CLI's replace mode only shrinks as far as asked.
      (record.policy === 'shrink' ? '' : ' (replace mode does not shrink the job: give --min-nodes M, or --on-fault shrink, to let it go on with fewer members)');
  }
  return { record: next, changed: { removed: lostMembers, added }, write: true, bumped: true };
}

/**
 * `restart` after a program fault on a node that is itself still there: the same members in a
 * new generation, every program started afresh. Keyed on the generation the fault was seen in,
 * so that every FMS proposing the same restart produces one bump, not one each.
 */
export function restartMembership(record: MembershipRecord, observedGeneration: number): MembershipTransition {
  if (record.state === 'failed' || record.generation !== observedGeneration) {
    return { record, changed: { removed: [], added: [] }, write: false, bumped: false };
  }
  return { record: { ...record, generation: record.generation + 1 }, changed: { removed: [], added: [] }, write: true, bumped: true };
}

/** The terminal record for a job that cannot go on (a program bug, a shutdown). */
export function failedMembership(record: MembershipRecord, reason: string): MembershipTransition {
  if (record.state === 'failed') return { record, changed: { removed: [], added: [] }, write: false, bumped: false };
  return { record: { ...record, generation: record.generation + 1, state: 'failed', reason }, changed: { removed: [], added: [] }, write: true, bumped: true };
}

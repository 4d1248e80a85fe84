import { z } from 'zod';
import {
  AbortedError,
  AlreadyExistsError,
  AuthError,
  ClosedError,
  CollectiveMismatchError,
  CorruptRecordError,
  CorruptStateError,
  InvalidArgumentError,
  JobFailedError,
  LeaseExpiredError,
  MembershipChangedError,
  NoCommonStateError,
  CorruptionDetectedError,
  CorruptionUnresolvedError,
  JobStoppedError,
  PeerFailedError,
  ProtocolError,
  RendezvousTimeoutError,
  RollcallError,
  StoreUnavailableError,
  TimeoutError,
  TlsError,
  type ErrorCode,
  type PeerFailureReason,
  type RollcallErrorOptions,
} from '../errors.js';

/**
 * A typed error as it crosses a process or thread boundary (proxy thread → program, program →
 * FMS), and the one place it becomes a class again. The registry below has an entry for every
 * ErrorCode (the compiler checks it), so a code added later cannot silently come back as
 * something else. Boundaries that carry less than an error (a keeper thread's reply: its
 * message; comm's ABORT frame: the failed ranks and why) say so where they are defined.
 */
const Int = z.number().int();

export const SerializedErrorSchema = z.object({
  name: z.string(),
  code: z.string(),
  message: z.string(),
  rank: Int.optional(),
  node: Int.optional(),
  failedRanks: z.array(Int).readonly().optional(),
  reason: z.string().optional(),
  detectedBy: Int.optional(),
  detail: z.string().optional(),
  missingRanks: z.array(Int).readonly().optional(),
  job: z.string().optional(),
  generation: Int.optional(),
  world: Int.optional(),
  key: z.string().optional(),
  source: z.string().optional(),
});

export type SerializedError = z.infer<typeof SerializedErrorSchema>;

/** Not a Rollcall error (a bug, a library's own error): it keeps its name and message. */
export const INTERNAL_CODE = 'ERR_INTERNAL';

/** Flattens an error, keeping every field `reviveError` needs to rebuild the same class. */
export function serializeError(e: unknown): SerializedError {
  if (!(e instanceof RollcallError)) {
    const err = e as Error | undefined;
    return { name: err?.name ?? 'Error', code: INTERNAL_CODE, message: err?.message ?? String(e) };
  }
  const out: SerializedError = { name: e.name, code: e.code, message: e.message, rank: e.rank, node: e.node };
  if (e instanceof PeerFailedError) Object.assign(out, { failedRanks: [...e.failedRanks], reason: e.reason, detectedBy: e.detectedBy, detail: e.detail });
  else if (e instanceof RendezvousTimeoutError) out.missingRanks = [...e.missingRanks];
  else if (e instanceof JobFailedError) Object.assign(out, { job: e.job, reason: e.reason, generation: e.generation });
  else if (e instanceof MembershipChangedError) Object.assign(out, { generation: e.generation, world: e.world });
  else if (e instanceof AlreadyExistsError || e instanceof CorruptRecordError) out.key = e.key;
  else if (e instanceof CorruptStateError) out.source = e.source;
  return out;
}

type Reviver = (e: SerializedError, opts: RollcallErrorOptions) => RollcallError;

const REASONS: readonly PeerFailureReason[] = ['reset', 'closed', 'timeout', 'reported'];

const REVIVE: { [C in ErrorCode]: Reviver } = {
  ERR_PEER_FAILED: (e, o) => new PeerFailedError(e.failedRanks ?? [], REASONS.find((r) => r === e.reason) ?? 'reported', e.detectedBy ?? -1, e.detail, { node: o.node }),
  ERR_ABORTED: (e, o) => new AbortedError(e.message, o),
  ERR_CLOSED: (e, o) => new ClosedError(e.message, o),
  ERR_COLLECTIVE_MISMATCH: (e, o) => new CollectiveMismatchError(e.message, o),
  ERR_PROTOCOL: (e, o) => new ProtocolError(e.message, o),
  ERR_AUTH: (e, o) => new AuthError(e.message, o),
  ERR_TLS: (e, o) => new TlsError(e.message, o),
  ERR_TIMEOUT: (e, o) => new TimeoutError(e.message, o),
  ERR_RENDEZVOUS_TIMEOUT: (e, o) => new RendezvousTimeoutError(e.missingRanks ?? (e.rank === undefined ? [] : [e.rank]), e.message, { node: o.node }),
  ERR_INVALID_ARGUMENT: (e, o) => new InvalidArgumentError(e.message, o),
  ERR_STORE_UNAVAILABLE: (e, o) => new StoreUnavailableError(e.message, o),
  ERR_LEASE_EXPIRED: (e, o) => new LeaseExpiredError(e.message, o),
  ERR_JOB_FAILED: (e, o) => new JobFailedError(e.job ?? '?', e.reason ?? e.message, e.generation ?? -1, o),
  ERR_ALREADY_EXISTS: (e, o) => new AlreadyExistsError(e.key ?? '?', e.message, o),
  ERR_CORRUPT_RECORD: (e, o) => new CorruptRecordError(e.key ?? '?', e.message, o),
  ERR_MEMBERSHIP_CHANGED: (e, o) => new MembershipChangedError(e.generation ?? -1, e.rank ?? -1, e.world ?? 0, { node: o.node }),
  ERR_CORRUPT_STATE: (e, o) => new CorruptStateError(e.source ?? '?', e.message, o),
  ERR_NO_COMMON_STATE: (e, o) => new NoCommonStateError(e.message, o),
  ERR_CORRUPTION_DETECTED: (e, o) => new CorruptionDetectedError(e.message, o),
  ERR_CORRUPTION_UNRESOLVED: (e, o) => new CorruptionUnresolvedError(e.message, o),
  ERR_JOB_STOPPED: (e, o) => new JobStoppedError(e.message, o),
};

/** Rebuilds the typed error, so callers on this side can match on its class and fields. */
export function reviveError(e: SerializedError, where = 'remote'): RollcallError {
  const opts: RollcallErrorOptions = { rank: e.rank, node: e.node };
  const revive = Object.hasOwn(REVIVE, e.code) ? REVIVE[e.code as ErrorCode] : undefined;
  // Not ours: whatever threw it there, that side is unusable now.
  return revive ? revive(e, opts) : new ClosedError(`${where} failed: ${e.name}: ${e.message}`, opts);
}

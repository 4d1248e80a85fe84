/**
 * Every failure Rollcall reports is one of these classes. Each has a stable `code` that callers
 * and the event log can match on, says whether retrying can help, and names the rank(s) or
 * node it concerns. Remote conditions are mapped to these classes in one place (comm/peer.ts
 * for wire errors, store/tcp-store-client.ts for store errors) so there is one vocabulary.
 */
export type ErrorCode =
  | 'ERR_PEER_FAILED'
  | 'ERR_ABORTED'
  | 'ERR_CLOSED'
  | 'ERR_COLLECTIVE_MISMATCH'
  | 'ERR_PROTOCOL'
  | 'ERR_AUTH'
  | 'ERR_TLS'
  | 'ERR_TIMEOUT'
  | 'ERR_RENDEZVOUS_TIMEOUT'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_LEASE_EXPIRED'
  | 'ERR_JOB_FAILED'
  | 'ERR_ALREADY_EXISTS'
  | 'ERR_CORRUPT_RECORD'
  | 'ERR_MEMBERSHIP_CHANGED'
  | 'ERR_CORRUPT_STATE'
  | 'ERR_NO_COMMON_STATE'
  | 'ERR_CORRUPTION_DETECTED'
  | 'ERR_CORRUPTION_UNRESOLVED'
  | 'ERR_JOB_STOPPED';

export interface RollcallErrorOptions {
  cause?: unknown;
  rank?: number;
  node?: number;
}

export abstract class RollcallError extends Error {
  abstract readonly code: ErrorCode;
  /** True when the same call may succeed if made again (for example after a reconnect). */
  readonly retryable: boolean = false;
  readonly rank: number | undefined;
  readonly node: number | undefined;

  constructor(message: string, opts: RollcallErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.rank = opts.rank;
    this.node = opts.node;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, rank: this.rank, node: this.node };
  }
}

export type PeerFailureReason = 'reset' | 'closed' | 'timeout' | 'reported';

/** One or more peers of a communicator died, dropped their connection or went silent. */
export class PeerFailedError extends RollcallError {
  readonly code = 'ERR_PEER_FAILED' as const;
  /** Ranks (in the communicator's generation) believed failed, ascending. */
  readonly failedRanks: readonly number[];
  readonly reason: PeerFailureReason;
  /** The rank that first observed the failure (this rank, or the one that reported it). */
  readonly detectedBy: number;
  /** What the detector saw, without the summary ("no frame or heartbeat for over 1000 ms"). */
  readonly detail: string | undefined;

  constructor(failedRanks: readonly number[], reason: PeerFailureReason, detectedBy: number, detail?: string, opts: RollcallErrorOptions = {}) {
    const ranks = [...new Set(failedRanks)].sort((a, b) => a - b);
    super(
      `peer rank(s) ${ranks.join(',')} failed (${reason}, seen by rank ${detectedBy})${detail ? `: ${detail}` : ''}`,
      { ...opts, rank: ranks[0] },
    );
    this.failedRanks = ranks;
    this.detail = detail;
    this.reason = reason;
    this.detectedBy = detectedBy;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), failedRanks: this.failedRanks, reason: this.reason, detectedBy: this.detectedBy };
  }
}

/** The caller aborted: `abort()` on the communicator or an AbortSignal on the operation. */
export class AbortedError extends RollcallError {
  readonly code = 'ERR_ABORTED' as const;
}

/** The object was closed deliberately; nothing further can be done with it. */
export class ClosedError extends RollcallError {
  readonly code = 'ERR_CLOSED' as const;
}

/** Ranks called different collectives, or the same one with different lengths, dtypes or ops. */
export class CollectiveMismatchError extends RollcallError {
  readonly code = 'ERR_COLLECTIVE_MISMATCH' as const;
}

/** A peer sent bytes that do not follow the wire protocol (bad magic, version, size, type). */
export class ProtocolError extends RollcallError {
  readonly code = 'ERR_PROTOCOL' as const;
}

/** A peer could not prove it holds the job's secret, or was for another job or generation. */
export class AuthError extends RollcallError {
  readonly code = 'ERR_AUTH' as const;
}

/**
 * A TLS connection could not be made: the server's certificate does not verify against the CA
 * we were given (or does not name the host we dialled), or the server refused our certificate.
 * The message names the cause as TLS reported it.
 */
export class TlsError extends RollcallError {
  readonly code = 'ERR_TLS' as const;
}

/** A deadline passed before the awaited thing happened. */
export class TimeoutError extends RollcallError {
  readonly code = 'ERR_TIMEOUT' as const;
  override readonly retryable = true;
}

/** Not every rank of the group published its address before the rendezvous deadline. */
export class RendezvousTimeoutError extends RollcallError {
  readonly code = 'ERR_RENDEZVOUS_TIMEOUT' as const;
  override readonly retryable = true;
  readonly missingRanks: readonly number[];
  constructor(missingRanks: readonly number[], message: string, opts: RollcallErrorOptions = {}) {
    super(message, { ...opts, rank: missingRanks[0] });
    this.missingRanks = missingRanks;
  }
}

/** A caller passed something unusable: a bad option, a wrong-typed buffer, an out-of-range rank. */
export class InvalidArgumentError extends RollcallError {
  readonly code = 'ERR_INVALID_ARGUMENT' as const;
}

/** The store could not be reached or answered with a failure. */
export class StoreUnavailableError extends RollcallError {
  readonly code = 'ERR_STORE_UNAVAILABLE' as const;
  override readonly retryable = true;
}

/** A lease ran out (or was revoked), so the keys attached to it are gone. */
export class LeaseExpiredError extends RollcallError {
  readonly code = 'ERR_LEASE_EXPIRED' as const;
}

/**
 * The job cannot go on (too few nodes left for its minimum). Every FMS that touches the
 * membership after that sees this, because the terminal record stays in the store.
 */
export class JobFailedError extends RollcallError {
  readonly code = 'ERR_JOB_FAILED' as const;
  readonly job: string;
  readonly reason: string;
  /** Generation of the terminal record. */
  readonly generation: number;
  constructor(job: string, reason: string, generation: number, opts: RollcallErrorOptions = {}) {
    super(`job ${job} failed at generation ${generation}: ${reason}`, opts);
    this.job = job;
    this.reason = reason;
    this.generation = generation;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), job: this.job, reason: this.reason, generation: this.generation };
  }
}

/** Something that must be created once (a job's membership) was already created by someone else. */
export class AlreadyExistsError extends RollcallError {
  readonly code = 'ERR_ALREADY_EXISTS' as const;
  readonly key: string;
  constructor(key: string, message: string, opts: RollcallErrorOptions = {}) {
    super(message, opts);
    this.key = key;
  }
}

/** A record in the store does not parse or breaks its invariants; it is left untouched. */
export class CorruptRecordError extends RollcallError {
  readonly code = 'ERR_CORRUPT_RECORD' as const;
  readonly key: string;
  constructor(key: string, message: string, opts: RollcallErrorOptions = {}) {
    super(message, opts);
    this.key = key;
  }
}

/**
 * The job's membership changed under the program (a fault was recovered). Raised once per change,
 * by the first operation the program makes (or had pending) after it, so that every member learns
 * of the change at the same point of its loop and can resynchronise its state before going on.
 */
export class MembershipChangedError extends RollcallError {
  readonly code = 'ERR_MEMBERSHIP_CHANGED' as const;
  override readonly retryable = true;
  readonly generation: number;
  readonly world: number;
  constructor(generation: number, rank: number, world: number, opts: RollcallErrorOptions = {}) {
    super(`membership changed: now generation ${generation}, rank ${rank} of ${world}`, { ...opts, rank });
    this.generation = generation;
    this.world = world;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), generation: this.generation, world: this.world };
  }
}

/** A stored state version (file, replica) failed its checks: truncated, wrong format, bad checksum. */
export class CorruptStateError extends RollcallError {
  readonly code = 'ERR_CORRUPT_STATE' as const;
  /** The file or peer the bad copy came from. */
  readonly source: string;
  constructor(source: string, message: string, opts: RollcallErrorOptions = {}) {
    super(message, opts);
    this.source = source;
  }
}

/** After a fault, no version is held intact (or fetchable) by every member: nothing to roll back to. */
export class NoCommonStateError extends RollcallError {
  readonly code = 'ERR_NO_COMMON_STATE' as const;
}

/**
 * The members' digests of the state they declared identical differ (sdk/state-verifier.ts):
 * thrown by a commit so that `Job.run()` syncs, votes and rolls back. Retryable: the rollback is
 * the retry.
 */
export class CorruptionDetectedError extends RollcallError {
  readonly code = 'ERR_CORRUPTION_DETECTED' as const;
  override readonly retryable = true;
}

/** Digests differ with no majority a second time (two members): nothing tells which is corrupt; the job ends. */
export class CorruptionUnresolvedError extends RollcallError {
  readonly code = 'ERR_CORRUPTION_UNRESOLVED' as const;
}

/**
 * The job was stopped from outside (a signal, or the process that started the launcher exited)
 * before it finished. Not a failure of the job's: the message names the signal, and the CLI
 * exits with 128 + its number, as a shell reports a process that signal ended.
 */
export class JobStoppedError extends RollcallError {
  readonly code = 'ERR_JOB_STOPPED' as const;
}

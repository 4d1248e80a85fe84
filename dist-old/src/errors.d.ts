/**
 * Every failure Rollcall reports is one of these classes. Each has a stable `code` that callers
 * and the event log can match on, says whether retrying can help, and names the rank(s) or
 * node it concerns. Remote conditions are mapped to these classes in one place (comm/peer.ts
 * for wire errors, store/tcp-store-client.ts for store errors) so there is one vocabulary.
 */
export type ErrorCode = 'ERR_PEER_FAILED' | 'ERR_ABORTED' | 'ERR_CLOSED' | 'ERR_COLLECTIVE_MISMATCH' | 'ERR_PROTOCOL' | 'ERR_AUTH' | 'ERR_TIMEOUT' | 'ERR_RENDEZVOUS_TIMEOUT' | 'ERR_INVALID_ARGUMENT' | 'ERR_STORE_UNAVAILABLE' | 'ERR_LEASE_EXPIRED' | 'ERR_JOB_FAILED' | 'ERR_ALREADY_EXISTS' | 'ERR_CORRUPT_RECORD' | 'ERR_MEMBERSHIP_CHANGED' | 'ERR_CORRUPT_STATE' | 'ERR_NO_COMMON_STATE';
export interface RollcallErrorOptions {
    cause?: unknown;
    rank?: number;
    node?: number;
}
export declare abstract class RollcallError extends Error {
    abstract readonly code: ErrorCode;
    /** True when the same call may succeed if made again (for example after a reconnect). */
    readonly retryable: boolean;
    readonly rank: number | undefined;
    readonly node: number | undefined;
    constructor(message: string, opts?: RollcallErrorOptions);
    toJSON(): Record<string, unknown>;
}
export type PeerFailureReason = 'reset' | 'closed' | 'timeout' | 'reported';
/** One or more peers of a communicator died, dropped their connection or went silent. */
export declare class PeerFailedError extends RollcallError {
    readonly code: "ERR_PEER_FAILED";
    /** Ranks (in the communicator's generation) believed failed, ascending. */
    readonly failedRanks: readonly number[];
    readonly reason: PeerFailureReason;
    /** The rank that first observed the failure (this rank, or the one that reported it). */
    readonly detectedBy: number;
    /** What the detector saw, without the summary ("no frame or heartbeat for over 1000 ms"). */
    readonly detail: string | undefined;
    constructor(failedRanks: readonly number[], reason: PeerFailureReason, detectedBy: number, detail?: string, opts?: RollcallErrorOptions);
    toJSON(): Record<string, unknown>;
}
/** The caller aborted: `abort()` on the communicator or an AbortSignal on the operation. */
export declare class AbortedError extends RollcallError {
    readonly code: "ERR_ABORTED";
}
/** The object was closed deliberately; nothing further can be done with it. */
export declare class ClosedError extends RollcallError {
    readonly code: "ERR_CLOSED";
}
/** Ranks called different collectives, or the same one with different lengths, dtypes or ops. */
export declare class CollectiveMismatchError extends RollcallError {
    readonly code: "ERR_COLLECTIVE_MISMATCH";
}
/** A peer sent bytes that do not follow the wire protocol (bad magic, version, size, type). */
export declare class ProtocolError extends RollcallError {
    readonly code: "ERR_PROTOCOL";
}
/** A peer could not prove it holds the job's secret, or was for another job or generation. */
export declare class AuthError extends RollcallError {
    readonly code: "ERR_AUTH";
}
/** A deadline passed before the awaited thing happened. */
export declare class TimeoutError extends RollcallError {
    readonly code: "ERR_TIMEOUT";
    readonly retryable = true;
}
/** Not every rank of the group published its address before the rendezvous deadline. */
export declare class RendezvousTimeoutError extends RollcallError {
    readonly code: "ERR_RENDEZVOUS_TIMEOUT";
    readonly retryable = true;
    readonly missingRanks: readonly number[];
    constructor(missingRanks: readonly number[], message: string, opts?: RollcallErrorOptions);
}
/** A caller passed something unusable: a bad option, a wrong-typed buffer, an out-of-range rank. */
export declare class InvalidArgumentError extends RollcallError {
    readonly code: "ERR_INVALID_ARGUMENT";
}
/** The store could not be reached or answered with a failure. */
export declare class StoreUnavailableError extends RollcallError {
    readonly code: "ERR_STORE_UNAVAILABLE";
    readonly retryable = true;
}
/** A lease ran out (or was revoked), so the keys attached to it are gone. */
export declare class LeaseExpiredError extends RollcallError {
    readonly code: "ERR_LEASE_EXPIRED";
}
/**
 * The job cannot go on (too few nodes left for its minimum). Every FMS that touches the
 * membership after that sees this, because the terminal record stays in the store.
 */
export declare class JobFailedError extends RollcallError {
    readonly code: "ERR_JOB_FAILED";
    readonly job: string;
    readonly reason: string;
    /** Generation of the terminal record. */
    readonly generation: number;
    constructor(job: string, reason: string, generation: number, opts?: RollcallErrorOptions);
    toJSON(): Record<string, unknown>;
}
/** Something that must be created once (a job's membership) was already created by someone else. */
export declare class AlreadyExistsError extends RollcallError {
    readonly code: "ERR_ALREADY_EXISTS";
    readonly key: string;
    constructor(key: string, message: string, opts?: RollcallErrorOptions);
}
/** A record in the store does not parse or breaks its invariants; it is left untouched. */
export declare class CorruptRecordError extends RollcallError {
    readonly code: "ERR_CORRUPT_RECORD";
    readonly key: string;
    constructor(key: string, message: string, opts?: RollcallErrorOptions);
}
/**
 * The job's membership changed under the program (a fault was recovered). Raised once per change,
 * by the first operation the program makes (or had pending) after it, so that every member learns
 * of the change at the same point of its loop and can resynchronise its state before going on.
 */
export declare class MembershipChangedError extends RollcallError {
    readonly code: "ERR_MEMBERSHIP_CHANGED";
    readonly retryable = true;
    readonly generation: number;
    readonly world: number;
    constructor(generation: number, rank: number, world: number, opts?: RollcallErrorOptions);
    toJSON(): Record<string, unknown>;
}
/** A stored state version (file, replica) failed its checks: truncated, wrong format, bad checksum. */
export declare class CorruptStateError extends RollcallError {
    readonly code: "ERR_CORRUPT_STATE";
    /** The file or peer the bad copy came from. */
    readonly source: string;
    constructor(source: string, message: string, opts?: RollcallErrorOptions);
}
/** After a fault, no version is held intact (or fetchable) by every member: nothing to roll back to. */
export declare class NoCommonStateError extends RollcallError {
    readonly code: "ERR_NO_COMMON_STATE";
}

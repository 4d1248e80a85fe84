export class RollcallError extends Error {
    /** True when the same call may succeed if made again (for example after a reconnect). */
    retryable = false;
    rank;
    node;
    constructor(message, opts = {}) {
        super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
        this.name = new.target.name;
        this.rank = opts.rank;
        this.node = opts.node;
    }
    toJSON() {
        return { name: this.name, code: this.code, message: this.message, rank: this.rank, node: this.node };
    }
}
/** One or more peers of a communicator died, dropped their connection or went silent. */
export class PeerFailedError extends RollcallError {
    code = 'ERR_PEER_FAILED';
    /** Ranks (in the communicator's generation) believed failed, ascending. */
    failedRanks;
    reason;
    /** The rank that first observed the failure (this rank, or the one that reported it). */
    detectedBy;
    /** What the detector saw, without the summary ("no frame or heartbeat for over 1000 ms"). */
    detail;
    constructor(failedRanks, reason, detectedBy, detail, opts = {}) {
        const ranks = [...new Set(failedRanks)].sort((a, b) => a - b);
        super(`peer rank(s) ${ranks.join(',')} failed (${reason}, seen by rank ${detectedBy})${detail ? `: ${detail}` : ''}`, { ...opts, rank: ranks[0] });
        this.failedRanks = ranks;
        this.detail = detail;
        this.reason = reason;
        this.detectedBy = detectedBy;
    }
    toJSON() {
        return { ...super.toJSON(), failedRanks: this.failedRanks, reason: this.reason, detectedBy: this.detectedBy };
    }
}
/** The caller aborted: `abort()` on the communicator or an AbortSignal on the operation. */
export class AbortedError extends RollcallError {
    code = 'ERR_ABORTED';
}
/** The object was closed deliberately; nothing further can be done with it. */
export class ClosedError extends RollcallError {
    code = 'ERR_CLOSED';
}
/** Ranks called different collectives, or the same one with different lengths, dtypes or ops. */
export class CollectiveMismatchError extends RollcallError {
    code = 'ERR_COLLECTIVE_MISMATCH';
}
/** A peer sent bytes that do not follow the wire protocol (bad magic, version, size, type). */
export class ProtocolError extends RollcallError {
    code = 'ERR_PROTOCOL';
}
/** A peer could not prove it holds the job's secret, or was for another job or generation. */
export class AuthError extends RollcallError {
    code = 'ERR_AUTH';
}
/** A deadline passed before the awaited thing happened. */
export class TimeoutError extends RollcallError {
    code = 'ERR_TIMEOUT';
    retryable = true;
}
/** Not every rank of the group published its address before the rendezvous deadline. */
export class RendezvousTimeoutError extends RollcallError {
    code = 'ERR_RENDEZVOUS_TIMEOUT';
    retryable = true;
    missingRanks;
    constructor(missingRanks, message, opts = {}) {
        super(message, { ...opts, rank: missingRanks[0] });
        this.missingRanks = missingRanks;
    }
}
/** A caller passed something unusable: a bad option, a wrong-typed buffer, an out-of-range rank. */
export class InvalidArgumentError extends RollcallError {
    code = 'ERR_INVALID_ARGUMENT';
}
/** The store could not be reached or answered with a failure. */
export class StoreUnavailableError extends RollcallError {
    code = 'ERR_STORE_UNAVAILABLE';
    retryable = true;
}
/** A lease ran out (or was revoked), so the keys attached to it are gone. */
export class LeaseExpiredError extends RollcallError {
    code = 'ERR_LEASE_EXPIRED';
}
/**
 * The job cannot go on (too few nodes left for its minimum). Every FMS that touches the
 * membership after that sees this, because the terminal record stays in the store.
 */
export class JobFailedError extends RollcallError {
    code = 'ERR_JOB_FAILED';
    job;
    reason;
    /** Generation of the terminal record. */
    generation;
    constructor(job, reason, generation, opts = {}) {
        super(`job ${job} failed at generation ${generation}: ${reason}`, opts);
        this.job = job;
        this.reason = reason;
        this.generation = generation;
    }
    toJSON() {
        return { ...super.toJSON(), job: this.job, reason: this.reason, generation: this.generation };
    }
}
/** Something that must be created once (a job's membership) was already created by someone else. */
export class AlreadyExistsError extends RollcallError {
    code = 'ERR_ALREADY_EXISTS';
    key;
    constructor(key, message, opts = {}) {
        super(message, opts);
        this.key = key;
    }
}
/** A record in the store does not parse or breaks its invariants; it is left untouched. */
export class CorruptRecordError extends RollcallError {
    code = 'ERR_CORRUPT_RECORD';
    key;
    constructor(key, message, opts = {}) {
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
    code = 'ERR_MEMBERSHIP_CHANGED';
    retryable = true;
    generation;
    world;
    constructor(generation, rank, world, opts = {}) {
        super(`membership changed: now generation ${generation}, rank ${rank} of ${world}`, { ...opts, rank });
        this.generation = generation;
        this.world = world;
    }
    toJSON() {
        return { ...super.toJSON(), generation: this.generation, world: this.world };
    }
}
/** A stored state version (file, replica) failed its checks: truncated, wrong format, bad checksum. */
export class CorruptStateError extends RollcallError {
    code = 'ERR_CORRUPT_STATE';
    /** The file or peer the bad copy came from. */
    source;
    constructor(source, message, opts = {}) {
        super(message, opts);
        this.source = source;
    }
}
/** After a fault, no version is held intact (or fetchable) by every member: nothing to roll back to. */
export class NoCommonStateError extends RollcallError {
    code = 'ERR_NO_COMMON_STATE';
}
//# sourceMappingURL=errors.js.map
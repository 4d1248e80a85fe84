import type { Store, Watcher } from '../store/store.js';
import { type Deadline } from '../util/deadline.js';
import { type MembershipChange, type MembershipPolicy, type MembershipRecord } from './membership-record.js';
export * from './membership-record.js';
/**
 * The job's membership in the store: one record at `rollcall/<job>/membership`, changed only
 * by compare-and-set on its modRevision. The CAS is the whole coordination protocol: any number
 * of FMSes may propose at once, each losing proposer re-reads and recomputes, and the pure rule
 * in membership-record.ts makes a fault that is already applied a no-op.
 */
export declare function membershipKey(job: string): string;
export interface InitMembershipOptions {
    /** Initial members, in rank order. */
    nodes: readonly number[];
    spares?: readonly number[];
    /** Fewest members the job can run with; defaults to all initial nodes. */
    minNodes?: number;
    policy: MembershipPolicy;
}
/**
 * Writes generation 0. Only one launcher can win (CAS against "key absent"); the other gets
 * AlreadyExistsError rather than silently adopting a membership it did not choose.
 */
export declare function initMembership(store: Store, job: string, opts: InitMembershipOptions): Promise<MembershipRecord>;
/** The current record, or undefined if the job has none. Throws CorruptRecordError on a bad value. */
export declare function readMembership(store: Store, job: string): Promise<MembershipRecord | undefined>;
export type MembershipWatchEvent = {
    kind: 'record';
    record: MembershipRecord;
    modRevision: number;
}
/**
 * `ended` is false for a corrupt or deleted record (the watch goes on, a later valid write is
 * still delivered) and true when the store broke the watch.
 */
 | {
    kind: 'error';
    error: Error;
    ended: boolean;
};
/**
 * Delivers the current record (if any), then every later write, in revision order. Errors come
 * through the same callback so a consumer cannot forget them, and a bad record never throws
 * into the store's delivery path.
 */
export declare function watchMembership(store: Store, job: string, onChange: (ev: MembershipWatchEvent) => void): Promise<Watcher>;
export interface ApplyFaultOptions {
    deadline: Deadline;
    signal?: AbortSignal;
}
export interface ApplyFaultResult {
    record: MembershipRecord;
    changed: MembershipChange;
    /** True only for the proposer whose write raised the generation. */
    bumped: boolean;
}
/**
 * Records that `failedNodes` are lost and returns the resulting membership. Safe to call from
 * every FMS at once: exactly one write happens per distinct change, the others find it already
 * applied and return the current record with `bumped: false`.
 *
 * Throws JobFailedError if this fault (or an earlier one) left fewer than minNodes members;
 * the terminal record is written first so every other FMS hits the same error.
 */
export declare function applyFault(store: Store, job: string, failedNodes: readonly number[], opts: ApplyFaultOptions): Promise<ApplyFaultResult>;
/** Proposes a `restart` of every program after a program fault seen in `observedGeneration`. */
export declare function applyRestart(store: Store, job: string, observedGeneration: number, opts: ApplyFaultOptions): Promise<ApplyFaultResult>;
/**
 * Ends the job: writes the terminal record (unless it is already there) so every FMS and the
 * launcher stop on the same reason. Returns the terminal record.
 */
export declare function failJob(store: Store, job: string, reason: string, opts: ApplyFaultOptions): Promise<MembershipRecord>;
/** The event-log line for a change, so its field names live next to the record they describe. */
export declare function membershipUpdatedEvent(result: ApplyFaultResult): {
    event: 'membership_updated';
    generation: number;
    members: number[];
    removed: number[];
    added: number[];
};

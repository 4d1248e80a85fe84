import { z } from 'zod';
/** What a fault does to the membership; `restart` also restarts every program (the torchrun baseline). */
export declare const MembershipPolicySchema: z.ZodEnum<{
    replace: "replace";
    shrink: "shrink";
    restart: "restart";
}>;
export type MembershipPolicy = z.infer<typeof MembershipPolicySchema>;
export declare const MembershipRecordSchema: z.ZodObject<{
    generation: z.ZodNumber;
    members: z.ZodArray<z.ZodNumber>;
    spares: z.ZodArray<z.ZodNumber>;
    failed: z.ZodArray<z.ZodNumber>;
    minNodes: z.ZodNumber;
    policy: z.ZodEnum<{
        replace: "replace";
        shrink: "shrink";
        restart: "restart";
    }>;
    state: z.ZodEnum<{
        failed: "failed";
        running: "running";
    }>;
    reason: z.ZodOptional<z.ZodString>;
    slots: z.ZodOptional<z.ZodRecord<z.ZodString, z.ZodNumber>>;
}, z.core.$strip>;
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
/** Parses a stored value; anything unexpected becomes a CorruptRecordError naming the key. */
export declare function parseMembership(key: string, value: string): MembershipRecord;
/** The slot (whose committed state) a node holds. */
export declare function slotOf(record: MembershipRecord, node: number): number;
/** The node's rank in this generation, or undefined if it is not a member. */
export declare function rankOf(record: MembershipRecord, node: number): number | undefined;
/**
 * The membership after `failedNodes` are lost. Returns the input itself (write: false) when
 * every node named is already known failed, or when the job has already ended: that is how
 * concurrent proposers of the same fault converge on one generation bump.
 *
 * `replace` fills failed ranks with spares, lowest rank first, so surviving members keep their
 * rank; once spares run out the remaining failed ranks are dropped as in `shrink`. A lost spare
 * is struck from the spares without a generation bump: the communicator is unchanged, so
 * relaunching every proxy for it would be a recovery with nothing to recover.
 */
export declare function nextMembership(record: MembershipRecord, failedNodes: readonly number[]): MembershipTransition;
/**
 * `restart` after a program fault on a node that is itself still there: the same members in a
 * new generation, every program started afresh. Keyed on the generation the fault was seen in,
 * so that every FMS proposing the same restart produces one bump, not one each.
 */
export declare function restartMembership(record: MembershipRecord, observedGeneration: number): MembershipTransition;
/** The terminal record for a job that cannot go on (a program bug, a shutdown). */
export declare function failedMembership(record: MembershipRecord, reason: string): MembershipTransition;

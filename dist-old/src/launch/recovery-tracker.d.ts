import type { FmsEvent } from '../fms/fms.js';
import type { MembershipRecord } from '../fms/membership.js';
export interface Recovery {
    generation: number;
    /** From the fault (its injection if Rollcall injected it, else its first detection) to every member running its next operation. */
    ms: number;
    from: 'fault_injected' | 'fault_detected';
    faultTs: number;
}
/**
 * Turns the event stream into recovery times. One incident opens at the first fault and closes
 * when every member of the then-current generation has resumed in it, so a second fault during
 * a recovery lengthens that recovery instead of starting a second, overlapping one.
 */
export declare class RecoveryTracker {
    private open;
    private readonly resumed;
    injected(ts: number, generation: number): void;
    observe(e: FmsEvent, record: MembershipRecord): Recovery | undefined;
    check(record: MembershipRecord): Recovery | undefined;
}

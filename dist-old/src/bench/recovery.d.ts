import type { MembershipPolicy } from '../fms/membership.js';
export type FaultKind = 'kill' | 'stop';
export interface RecoveryBenchOptions {
    modes: MembershipPolicy[];
    faults: FaultKind[];
    samples: number;
    nodes: number;
    spares: number;
    heartbeatMs: number;
    json: boolean;
    /** Also run a fault-free job this long with every core busy, counting false detections. */
    loadMs: number;
    /** Run the training loop with registered state: the recovery includes the rollback. */
    state: boolean;
}
export interface RecoveryResult {
    mode: MembershipPolicy;
    fault: FaultKind;
    nodes: number;
    state: boolean;
    median_ms: number;
    samples_ms: number[];
}
/**
 * One job per sample, each with one fault injected by --chaos at step 30 on a node chosen in
 * turn. The recovery time is the launcher's own `recovered` event: from the injection to the
 * last member running its next operation in the new generation, all timestamps taken where
 * they happened.
 */
export declare function benchRecovery(o: RecoveryBenchOptions, out: (line: string) => void): Promise<RecoveryResult[]>;

import type { FmsEvent } from '../fms/fms.js';
import type { LaunchOptions } from './launch-options.js';
export type JobOutcome = 'completed' | 'failed' | 'stopped';
export interface LaunchResult {
    outcome: JobOutcome;
    exitCode: number;
    reason?: string;
    /** What rank 0 of the last generation reported. */
    result?: unknown;
    results: Record<number, unknown>;
    events: FmsEvent[];
}
export interface LaunchHooks {
    onEvent?(e: FmsEvent): void;
    /** A program reported its step. */
    onProgress?(node: number, step: number): void;
    /** Human-readable progress lines (stderr in the CLI). */
    log?(line: string): void;
    /** Resolves the launch as stopped; the CLI wires SIGINT/SIGTERM here. */
    stopSignal?: AbortSignal;
}
/**
 * Runs one job on this machine: the embedded store (the job's runtime environment), one FMS
 * process per node (each in its own process group, with its program inside), the chaos
 * schedule, and the event log. Resolves when the job completes, fails or is stopped, after every
 * process of the job has exited.
 */
export declare function launch(opts: LaunchOptions, hooks?: LaunchHooks): Promise<LaunchResult>;

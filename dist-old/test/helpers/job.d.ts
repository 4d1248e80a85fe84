export declare const ROLLCALL: string;
export declare const STEPS_PROGRAM: string;
export type Ev = {
    ts: number;
    event: string;
    [k: string]: unknown;
};
export interface JobRun {
    code: number | null;
    signal: NodeJS.Signals | null;
    out: string;
    err: string;
    events: Ev[];
}
export declare function readEvents(path: string): Ev[];
/**
 * Runs `rollcall launch` as a real process with an event log. `during` may act on the running
 * launcher (send it a signal) once `waitFor` says the log has reached the right point.
 */
export declare function runJob(args: string[], opts?: {
    timeoutMs?: number;
    waitFor?: (evs: Ev[]) => boolean;
    during?: (pid: number) => void;
}): Promise<JobRun>;
/** Alive and not a zombie (a container's init may never reap orphans). */
export declare function isAlive(pid: number): boolean;
/** Every program and FMS process the job ever started. */
export declare function jobPids(events: Ev[]): number[];
export declare const of: (events: Ev[], name: string) => Ev[];
export declare const first: (events: Ev[], name: string, pred?: (e: Ev) => boolean) => Ev | undefined;
/** Waits (polling, with a deadline) until none of `pids` is alive; returns those still alive. */
export declare function waitAllDead(pids: number[], timeoutMs: number): Promise<number[]>;
export declare const TRAIN_PROGRAM: string;
/** Asserts the job completed and returns rank 0's result and every member's, by node. */
export declare function completedResults<T>(run: JobRun): {
    result: T;
    results: Record<string, T>;
};

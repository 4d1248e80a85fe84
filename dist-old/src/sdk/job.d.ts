import type { NumericArray, ReduceOp } from '../comm/dtype.js';
import { type ToProgram } from './ipc.js';
import { State, type StateEntry } from './state.js';
export declare enum JobState {
    /** Started as a spare, or between start and the first generation. */
    Waiting = "waiting",
    Running = "running",
    /** A fault is being recovered: operations wait for the next generation. */
    Idle = "idle",
    Closed = "closed"
}
type Config = Extract<ToProgram, {
    type: 'config';
}>;
export interface ConnectOptions {
    /** How long to wait for the FMS's configuration (default 30 s). */
    timeoutMs?: number;
}
/**
 * Joins the job this process was started in by `rollcall launch`. Resolves once the program is a
 * member of a generation: at once for a first member, and only when it is brought in for a spare.
 */
export declare function connect(opts?: ConnectOptions): Promise<Job>;
/**
 * The program's view of the job: its rank, world size and generation, and the collectives, each
 * carried out by the node's communication proxy. During a recovery, operations wait (the program
 * is idle); when the membership has changed, the first operation afterwards rejects with
 * MembershipChangedError so the program can resynchronise, then operations go on.
 */
export declare class Job {
    private readonly config;
    readonly job: string;
    readonly node: number;
    state: JobState;
    generation: number;
    rank: number;
    world: number;
    /** Node ids in rank order, in this generation. */
    members: number[];
    /** Whose state this node holds (see the glossary's "slot"): its own id, or the replaced node's. */
    slot: number;
    /** Resolves when the first generation is joined. */
    readonly started: Promise<void>;
    private resolveStarted;
    private proxy;
    /** A proxy joining a generation; ended at once if a newer generation or close() overtakes it. */
    private activating;
    private standby;
    /** Newest generation the FMS asked for; a slower switch to an older one gives up. */
    private target;
    /** Generation the program has been told about (by MembershipChangedError or by connect()). */
    private acked;
    private reportedResume;
    /** With registered state the program resumes after the rollback, which reports it itself. */
    private manualResume;
    private keeper;
    private waiters;
    private readonly heartbeat;
    constructor(config: Config);
    /** Reports the program's progress (its step): shown live and used by `--chaos ...@step=N`. */
    progress(step: number): void;
    /** The program's result, logged in `job_completed`; call it once, before exiting. */
    result(value: unknown): void;
    allreduce<T extends NumericArray>(buf: T, op?: ReduceOp): Promise<T>;
    broadcast<T extends NumericArray>(buf: T, root?: number): Promise<T>;
    barrier(): Promise<void>;
    send<T extends NumericArray>(buf: T, peer: number, tag?: number): Promise<T>;
    recv<T extends NumericArray>(buf: T, peer: number, tag?: number): Promise<T>;
    /**
     * Registers the program's state: typed arrays and JSON values. Commit it at consistent points
     * with `state.commit()`; `run()` rolls every member back to the newest common version after a
     * fault.
     */
    registerState<T extends Record<string, StateEntry>>(values: T): State<T>;
    /** Started with the job, like the standby proxy: a spare must not pay for it when it joins. */
    private startKeeper;
    /**
     * Runs the program's loop, in the spirit of Horovod's elastic.run but in place: on a
     * membership change every member rolls back to the newest common version and the loop is
     * entered again, in the same process. The loop should continue from `state.step`.
     */
    run<T extends Record<string, StateEntry>>(state: State<T>, loop: (state: State<T>) => Promise<void>): Promise<void>;
    private stateHost;
    /** Ends the program's part in the job; the process can then exit. */
    close(): Promise<void>;
    private op;
    private waitRunning;
    private wake;
    private onMessage;
    private enterIdle;
    private onBroken;
    private switchTo;
    /**
     * An inline proxy cannot answer its peers' pings while the program computes, so a long step
     * (an evaluation on one rank, say) would look like silence to ranks waiting on it. Liveness
     * is the FMS's job in both modes, judged from the program's own heartbeat thread; the
     * communicator's silence timeout only backs it up where it cannot misfire. A wait on a
     * stopped peer still ends: its FMS is declared failed and this proxy is terminated.
     */
    private commTimeoutMs;
    private takeStandby;
    private startStandby;
    private onResumed;
    private refillStandby;
}
export {};

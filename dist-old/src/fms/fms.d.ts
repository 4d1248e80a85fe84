import { type Clock } from './clock.js';
import { type MembershipPolicy } from './membership.js';
import type { ProxyKind } from '../proxy/proxy.js';
export interface FmsConfig {
    job: string;
    node: number;
    secret: string;
    /** Store address (host:port). */
    store: string;
    command: string[];
    /** Every node of the job, members and spares. */
    nodes: number[];
    policy: MembershipPolicy;
    heartbeatMs: number;
    /** Silence after which a node or program is declared failed. */
    faultTimeoutMs: number;
    rendezvousTimeoutMs: number;
    recoveryTimeoutMs: number;
    commTimeoutMs: number;
    startTimeoutMs: number;
    stateDir: string;
    keep: number;
    persistEvery: number;
    replicateEvery: number;
    proxy: ProxyKind;
}
export declare enum FmsState {
    Starting = "starting",
    Spare = "spare",
    Running = "running",
    Recovering = "recovering",
    /** This node was declared failed; it has left the job. */
    Fenced = "fenced",
    Done = "done",
    Stopped = "stopped"
}
/** One event-log line; `ts` is set where the thing happened, not where it is written. */
export interface FmsEvent {
    event: string;
    ts: number;
    [field: string]: unknown;
}
export interface FmsHooks {
    event(e: FmsEvent): void;
    progress(node: number, step: number): void;
    /** The node's program finished successfully, or the node has left the job. */
    finished(outcome: {
        node: number;
        state: FmsState;
        result?: unknown;
    }): void;
}
/**
 * The fault management service of one node. It supervises its own program (exit, heartbeat
 * thread), watches every other FMS by heartbeat datagrams, and on a fault: tells the other FMSes,
 * idles its program, writes the next membership (compare-and-set; any FMS may win) and, for every
 * new generation, has the program relaunch its communication proxy. It never restarts the
 * program, except in `restart` mode, which exists as the baseline to compare against.
 */
export declare class Fms {
    private readonly cfg;
    private readonly hooks;
    private readonly clock;
    state: FmsState;
    private store;
    private endpoint;
    private watcher;
    private program;
    private programConnected;
    private programBeating;
    private record;
    private peers;
    private beatTimer;
    private readonly peerMonitor;
    private programMonitor;
    /** Generation whose failure we already idled the program for. */
    private idledFor;
    /** Generation the program was last told to join. */
    private sentGeneration;
    private result;
    private readonly declared;
    private stopping;
    private readonly inflight;
    constructor(cfg: FmsConfig, hooks: FmsHooks, clock?: Clock);
    private emit;
    start(): Promise<void>;
    private beat;
    private startProgram;
    private onProgramMessage;
    /** Heartbeats from the program's own thread: silence means a hung (stopped, frozen) process. */
    private watchProgram;
    private onProgramExit;
    private finishProgram;
    private programBug;
    /**
     * A proxy saw a peer fail (reset, silence) or could not rendezvous. The failed node's own FMS
     * usually reports first (it sees its program exit within milliseconds), so we wait one
     * heartbeat interval before blaming the node ourselves.
     */
    private onProxyBroken;
    /** The nodes whose programs have not finished: a finished one closing its links is no fault. */
    private stillRunning;
    private onDatagram;
    private onFaultNotice;
    /**
     * @param ownProgram the fault is this node's program (exit or hang), not the node itself: in
     * `restart` mode the node stays and every program is restarted.
     */
    private declareFault;
    private propose;
    private proposeNow;
    private idleProgram;
    private onRecord;
    private sendGeneration;
    /** Stops every judgement and heartbeat of ours. */
    private silence;
    /** Ends the program (SIGTERM, then SIGKILL) and everything of ours. */
    stop(graceMs?: number): Promise<void>;
}

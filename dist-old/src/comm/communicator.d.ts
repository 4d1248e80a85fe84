import { EventEmitter } from 'node:events';
import { RollcallError } from '../errors.js';
import { type NumericArray, type ReduceOp } from './dtype.js';
import { Peer } from './peer.js';
export declare enum CommState {
    Ready = "ready",
    /** A peer failed or the caller aborted: every pending and later operation rejects. */
    Broken = "broken",
    Closed = "closed"
}
export interface CommTuning {
    /** A peer silent this long while we wait on it is declared failed. Default 10 s. */
    timeoutMs: number;
    /** Idle links send a PING this often so a silent peer can be told from a busy one. */
    heartbeatMs: number;
    /** Buffers up to this size use the small-message algorithms (direct, recursive doubling); above, halving-doubling or the ring. */
    smallBytes: number;
    /**
     * Allreduces up to this size use recursive doubling in power-of-two worlds of 4 or more,
     * whatever smallBytes says: whole buffers in log2(R) rounds beat halving-doubling's 2·log2(R)
     * rounds while a round costs more than its bytes. 4 ranks on 2 cores, alternated, 3 runs:
     * 48 KiB 162-219 µs against 240-251 µs, 64 KiB 226-228 against 242-250 µs; at 128 KiB and
     * 256 KiB no better. At 2 ranks the ring (two half-size steps) was as fast or faster.
     */
    doublingMaxBytes: number;
    /**
     * Allreduces above smallBytes and up to this size use recursive halving and doubling
     * instead of the ring, in power-of-two worlds of 4 or more: fewer rounds, the same bytes.
     * 4 ranks on 2 cores, medians of 3: 1 MiB 1046 µs against 1877 µs in the ring, 2 MiB 2766
     * against 3445 µs; at 4 MiB the ring wins (its chunks pipeline): 6.9 against 12.8 ms.
     */
    halvingMaxBytes: number;
    /**
     * Pipelining unit of the ring and chain algorithms. Each chunk costs a frame, a write and a
     * wake-up; 1 MiB beat 256 KiB here (2 ranks, 1 MiB: 615 -> 504 us median; 4 ranks, 16 MiB:
     * 39 -> 36 ms), the ring of 4 still pipelines 4 chunks per segment at 16 MiB.
     */
    chunkBytes: number;
    /** Largest frame a peer may send us. */
    maxFrameBytes: number;
    /**
     * Busy-poll the event loop for up to this long after a collective starts, instead of
     * sleeping in epoll: see spinner.ts. createCommunicator() picks AUTO_SPIN_US when every rank
     * on this host can have a core to itself and the caller did not choose, else 0 (with more
     * ranks than cores, a spinning rank takes the core another rank needs).
     */
    spinUs: number;
    /**
     * Collectives up to this size poll. 2 ranks, medians of 9 runs: 64 KiB 55 µs per allreduce
     * polling, 83 µs sleeping (Open MPI: 42 µs); 256 KiB 86 against 94 µs.
     */
    spinMaxBytes: number;
    /**
     * Between polls, yield the core (sched_yield, see cpu-yield.ts). createCommunicator() turns it
     * on, with polling up to SHARED_SPIN_MAX_BYTES, when this host has more ranks than cores and
     * the caller did not choose: 4 ranks on 2 cores, 4 KiB allreduce 66-76 µs against 99-124 µs
     * sleeping in epoll; 64 KiB and up, no better, so they do not poll.
     */
    spinYield: boolean;
}
export declare const DEFAULT_TUNING: CommTuning;
/** With more ranks than cores, collectives up to this size poll (and yield). */
export declare const SHARED_SPIN_MAX_BYTES: number;
/** Measured: 50 µs catches most 4 KiB replies (15-20 µs) with room for a late peer. */
export declare const AUTO_SPIN_US = 50;
export interface OpOptions {
    signal?: AbortSignal;
}
export interface CommEvents {
    broken: [err: RollcallError];
    closed: [];
}
/**
 * A communicator for one generation of a group: `world` ranks of job `job`. It is fail-stop:
 * the first failure (a peer lost, a mismatch, an abort) breaks it for good, every pending and
 * later operation rejects with that typed error, and the other ranks are told why. Recovery
 * means building a new communicator for a new generation, which is the proxy's job.
 */
export declare class Communicator extends EventEmitter<CommEvents> {
    readonly job: string;
    readonly generation: number;
    readonly rank: number;
    readonly world: number;
    private readonly peers;
    readonly tuning: CommTuning;
    state: CommState;
    private failure;
    private seq;
    /** Collectives must run one at a time, in call order, on every rank. */
    private readonly queue;
    private pumping;
    private current;
    /** Collective frames that arrived for a collective we have not started yet. */
    private readonly early;
    /** Sequence number of the collective that started last, -1 before the first. */
    private lastStarted;
    /** Signatures of the last few collectives, to diagnose a late frame from a mismatched call. */
    private readonly recent;
    /** Ranks that closed their communicator cleanly; the next operation fails on them. */
    private readonly departed;
    private readonly p2p;
    private readonly pool;
    private readonly spinner;
    private readonly ctx;
    private readonly livenessTimer;
    private lastTick;
    constructor(job: string, generation: number, rank: number, world: number, peers: Map<number, Peer>, tuning: CommTuning);
    /** The error that broke this communicator, if any. */
    get error(): RollcallError | undefined;
    /** In-place allreduce. Resolves with `buf`, which then holds the result on every rank. */
    allreduce<T extends NumericArray>(buf: T, op?: ReduceOp, opts?: OpOptions): Promise<T>;
    private allreduceRun;
    private smallAllreduce;
    /** In-place broadcast of `buf` from `root` to every rank. */
    broadcast<T extends NumericArray>(buf: T, root?: number, opts?: OpOptions): Promise<T>;
    /** Gathers every rank's `input` into `output` (length world × input.length), in rank order. */
    allgather<T extends NumericArray>(input: T, output?: T, opts?: OpOptions): Promise<T>;
    /**
     * Reduces `buf` across ranks and leaves this rank's segment of the result in place: segment r
     * is [floor(r·n/world), floor((r+1)·n/world)). Resolves with a view of that segment.
     */
    reduceScatter<T extends NumericArray>(buf: T, op?: ReduceOp, opts?: OpOptions): Promise<T>;
    /** This rank's segment of a reduce-scatter result: a view, not a copy. */
    segmentOf<T extends NumericArray>(buf: T, rank: number): T;
    barrier(opts?: OpOptions): Promise<void>;
    /** Sends `buf` to rank `to`. Resolves once the data no longer needs `buf`. */
    send(buf: NumericArray, to: number, opts?: OpOptions & {
        tag?: number;
    }): Promise<void>;
    /** Receives the next message from rank `from` into `buf`; its length, dtype and tag must match. */
    recv<T extends NumericArray>(buf: T, from: number, opts?: OpOptions & {
        tag?: number;
    }): Promise<T>;
    /** Cancels everything: pending and later operations reject with AbortedError, peers are told. */
    abort(reason?: string): void;
    /**
     * Drops every link at once with no final word, as a crash would. For a proxy being replaced:
     * a goodbye or ABORT queued behind a stopped peer's full socket would hold the process open.
     */
    destroy(reason?: string): void;
    /** Closes the links gracefully. Pending operations reject with ClosedError. */
    close(): void;
    private sig;
    /** A write that fails means the link is gone: that is a peer failure, reported as one. */
    private flushed;
    private checkRank;
    private peerFor;
    /** Why an operation cannot start now (broken, closed, or its signal already aborted), if so. */
    private refusal;
    private guard;
    /**
     * Queues a collective; it starts in a microtask if none is running (not synchronously, so
     * that a close() or abort() right after the call still finds nothing sent). The returned
     * promise is the only one made per call: no chain of promise hops per operation.
     */
    private run;
    private readonly pumpTask;
    /** Starts queued collectives while none is running; re-entered when one settles. */
    private pump;
    private startOp;
    private onFrame;
    private deliver;
    /**
     * A rank that said BYE has sent everything it ever will (BYE travels after its data), so an
     * operation still waiting on it can never finish: fail it now rather than at the timeout.
     */
    private checkDeparted;
    private failDeparted;
    private dispatch;
    private checkSignature;
    private onRemoteAbort;
    private onPeerLost;
    private checkLiveness;
    /**
     * The single failure path: record, reject everything, tell the others why, drop the links.
     * Ranks believed dead or misbehaving get no final word; everyone else gets an ABORT.
     */
    private fail;
}

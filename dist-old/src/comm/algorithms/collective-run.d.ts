import { ProtocolError } from '../../errors.js';
import { type DType, type NumericArray, type ReduceOp } from '../dtype.js';
import { OpKind, type FrameFields, type FrameHeader } from '../frame.js';
import type { BufferPool } from '../buffer-pool.js';
/** What a running collective needs from its communicator. */
export interface RunContext {
    readonly rank: number;
    readonly world: number;
    /** Every rank but this one, in rank order. */
    readonly others: readonly number[];
    /** Elements per pipelined chunk for this dtype. */
    chunkElems(dtype: DType): number;
    sendData(to: number, fields: FrameFields, step: number, offset: number, payload: Uint8Array, onFlushed: (err?: Error) => void): void;
    /** Scratch memory that outlives a call would only feed the garbage collector. */
    readonly pool: BufferPool;
}
export interface RunSignature {
    seq: number;
    kind: OpKind;
    dtype: DType;
    redop: ReduceOp | undefined;
    count: number;
    /** Broadcast root, or 0. */
    tag: number;
}
/**
 * One execution of one collective on this rank. Frames are pushed in as they arrive (from the
 * socket's data handler, so reductions overlap with transfer); the run resolves only once every
 * expected frame was consumed *and* every send it made was flushed, because sends reference the
 * caller's buffer without copying it.
 */
export declare abstract class CollectiveRun {
    protected readonly ctx: RunContext;
    readonly sig: RunSignature;
    /** Header fields shared by every frame of this call. */
    readonly fields: FrameFields;
    /** Set by the communicator before begin(): called once, when the run resolves or fails. */
    onSettled: (err?: Error) => void;
    private pendingWrites;
    private framesLeft;
    private started;
    settled: boolean;
    constructor(ctx: RunContext, sig: RunSignature);
    /** Makes the initial sends. Subclasses set the number of frames they expect first. */
    begin(): void;
    /** True while frames are still expected: a run only waiting on its own sends needs no one. */
    get expecting(): boolean;
    protected expectFrames(n: number): void;
    protected abstract start(): void;
    abstract onFrame(from: number, h: FrameHeader, payload: Uint8Array): void;
    /** Ranks this run still expects frames from: the suspects if it stalls. */
    abstract waitingOn(): number[];
    /** Runs once all frames are in and all sends flushed, before the run resolves. */
    protected finish(): void;
    protected send(to: number, step: number, offset: number, payload: Uint8Array): void;
    private readonly flushed;
    protected frameDone(): void;
    fail(err: Error): void;
    private maybeComplete;
    protected badFrame(from: number, what: string): ProtocolError;
    protected checkLength(from: number, payload: Uint8Array, elems: number): void;
}
export declare function mod(a: number, n: number): number;
/** Start of segment `i` when `n` elements are split as evenly as possible into `parts`. */
export declare function segStart(i: number, n: number, parts: number): number;
export declare function chunkCount(elems: number, chunk: number): number;
export type { NumericArray };

import { type NumericArray, type ReduceOp } from '../dtype.js';
import type { FrameHeader } from '../frame.js';
import { CollectiveRun, type RunContext, type RunSignature } from './collective-run.js';
export interface RingPlan {
    /** Reduce-scatter phase: afterwards rank r holds the reduced segment r. */
    reduce: ReduceOp | undefined;
    /** Allgather phase: circulate every rank's segment r to everyone. */
    gather: boolean;
}
/**
 * The bandwidth-optimal ring: each rank sends and receives 2(R-1)/R of the buffer. Segments are
 * cut into chunks and every received chunk is reduced and forwarded at once, so the ring works
 * as a pipeline. Chunk c of segment s is always reduced in the same ring order, so results are
 * bit-identical on every rank and every run.
 */
export declare class RingRun extends CollectiveRun {
    private readonly buf;
    private readonly plan;
    private readonly left;
    private readonly right;
    private readonly chunk;
    private readonly rsSteps;
    private readonly agSteps;
    constructor(ctx: RunContext, sig: RunSignature, buf: NumericArray, plan: RingPlan);
    private seg;
    /** Segment received at a given wire step. */
    private recvSeg;
    protected start(): void;
    private sendChunk;
    onFrame(from: number, h: FrameHeader, payload: Uint8Array): void;
    waitingOn(): number[];
}
/**
 * Broadcast for large buffers: a pipelined chain root → root+1 → ... Each rank forwards each
 * chunk as soon as it lands, so the cost is about one buffer's transfer plus R-2 chunks.
 */
export declare class ChainBroadcastRun extends CollectiveRun {
    private readonly buf;
    private readonly pos;
    private readonly chunk;
    private readonly left;
    private readonly right;
    constructor(ctx: RunContext, sig: RunSignature, buf: NumericArray, root: number);
    protected start(): void;
    onFrame(from: number, h: FrameHeader, payload: Uint8Array): void;
    waitingOn(): number[];
}

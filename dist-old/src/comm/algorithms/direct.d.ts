import { type NumericArray, type ReduceOp } from '../dtype.js';
import type { FrameHeader } from '../frame.js';
import { CollectiveRun, type RunContext, type RunSignature } from './collective-run.js';
declare abstract class DirectRun extends CollectiveRun {
    private readonly sources;
    private readonly expectElems;
    /** arrived[r] is 1 once rank r's frame is in. */
    private readonly arrived;
    private readonly isSource;
    constructor(ctx: RunContext, sig: RunSignature, sources: readonly number[], expectElems: number);
    protected start(): void;
    protected abstract sendAll(): void;
    /** Consumes one contribution; `data` is valid only during the call. */
    protected abstract accept(from: number, data: NumericArray): void;
    onFrame(from: number, _h: FrameHeader, payload: Uint8Array): void;
    waitingOn(): number[];
}
export declare class DirectAllreduceRun extends DirectRun {
    private readonly buf;
    private readonly fold;
    constructor(ctx: RunContext, sig: RunSignature, buf: NumericArray, op: ReduceOp);
    protected sendAll(): void;
    protected accept(from: number, data: NumericArray): void;
    protected finish(): void;
}
export declare class DirectReduceScatterRun extends DirectRun {
    private readonly buf;
    private readonly lo;
    private readonly fold;
    constructor(ctx: RunContext, sig: RunSignature, buf: NumericArray, op: ReduceOp);
    protected sendAll(): void;
    protected accept(from: number, data: NumericArray): void;
    protected finish(): void;
}
export declare class DirectAllgatherRun extends DirectRun {
    private readonly input;
    private readonly output;
    constructor(ctx: RunContext, sig: RunSignature, input: NumericArray, output: NumericArray);
    protected sendAll(): void;
    protected accept(from: number, data: NumericArray): void;
}
export declare class DirectBroadcastRun extends DirectRun {
    private readonly buf;
    private readonly root;
    constructor(ctx: RunContext, sig: RunSignature, buf: NumericArray, root: number);
    protected sendAll(): void;
    protected accept(_from: number, data: NumericArray): void;
}
export declare class BarrierRun extends DirectRun {
    constructor(ctx: RunContext, sig: RunSignature);
    protected sendAll(): void;
    protected accept(): void;
}
export {};

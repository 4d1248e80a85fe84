export interface AllreduceBenchOptions {
    ranks: number;
    sizes: number[];
    repeats: number;
    json: boolean;
    timeoutMs: number;
    /** Undefined: the library's default. */
    spinUs?: number;
}
export interface AllreduceResult {
    impl: 'rollcall';
    ranks: number;
    bytes: number;
    us: number;
    algbw_GBps: number;
    busbw_GBps: number;
}
/** Runs R local rank processes and reports, per size, the median over `repeats` timed loops. */
export declare function benchAllreduce(o: AllreduceBenchOptions, out: (line: string) => void): Promise<AllreduceResult[]>;

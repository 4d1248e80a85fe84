/**
 * Busy-polls the event loop for a short while after a collective starts, instead of sleeping
 * in epoll at once. On this kind of machine (a VM) a core that goes idle takes 50-100 µs to
 * wake again; a 4 KiB exchange takes 15-20 µs when both sides poll. setImmediate makes each
 * loop turn poll with a zero timeout, so the data is seen as soon as it lands.
 *
 * Spinning only pays if the peer runs meanwhile. When it keeps not paying (the ranks share a
 * core, or the peer is computing), stop for a while: a spin that never hits only takes CPU
 * from whoever we are waiting for.
 */
export declare class Spinner {
    private readonly us;
    private readonly yieldCpu?;
    private readonly missesBeforeRest;
    private readonly restCalls;
    private misses;
    private resting;
    /** `yieldCpu`, when ranks share cores: called between polls, so a polling rank gives its core to the one it waits for. */
    constructor(us: number, yieldCpu?: (() => void) | undefined, missesBeforeRest?: number, restCalls?: number);
    /** Polls until `run` settles or `us + extraUs` have passed. */
    watch(run: {
        readonly settled: boolean;
    }, extraUs?: number): void;
}

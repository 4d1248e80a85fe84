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
export class Spinner {
    us;
    yieldCpu;
    missesBeforeRest;
    restCalls;
    misses = 0;
    resting = 0;
    /** `yieldCpu`, when ranks share cores: called between polls, so a polling rank gives its core to the one it waits for. */
    constructor(us, yieldCpu, missesBeforeRest = 8, restCalls = 64) {
        this.us = us;
        this.yieldCpu = yieldCpu;
        this.missesBeforeRest = missesBeforeRest;
        this.restCalls = restCalls;
    }
    /** Polls until `run` settles or `us + extraUs` have passed. */
    watch(run, extraUs = 0) {
        if (this.us <= 0)
            return;
        if (this.resting > 0) {
            this.resting--;
            return;
        }
        const until = performance.now() + (this.us + extraUs) / 1000;
        const spin = () => {
            if (run.settled) {
                this.misses = 0;
            }
            else if (performance.now() < until) {
                this.yieldCpu?.();
                setImmediate(spin);
            }
            else if (++this.misses >= this.missesBeforeRest) {
                this.misses = 0;
                this.resting = this.restCalls;
            }
        };
        setImmediate(spin);
    }
}
//# sourceMappingURL=spinner.js.map
import { performance } from 'node:perf_hooks';
/**
 * Monotonic, so an NTP step neither makes every node look silent nor hides a dead one. Timers are
 * unref()'d: a supervisor's bookkeeping must never be the thing that keeps a process alive.
 */
export const realClock = {
    now: () => performance.now(),
    setTimeout(fn, ms) {
        const t = setTimeout(fn, Math.max(0, ms));
        t.unref();
        return t;
    },
    clearTimeout(handle) {
        clearTimeout(handle);
    },
};
/** A clock tests move by hand. Timers fire in due order, ties in the order they were set. */
export class FakeClock {
    t;
    seq = 0;
    timers = new Map();
    constructor(start = 0) {
        this.t = start;
    }
    now() {
        return this.t;
    }
    setTimeout(fn, ms) {
        const id = ++this.seq;
        this.timers.set(id, { due: this.t + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: id, fn });
        return id;
    }
    clearTimeout(handle) {
        this.timers.delete(handle);
    }
    /** Timers still waiting to fire. */
    get pending() {
        return this.timers.size;
    }
    /**
     * Moves time forward by `ms`, firing every timer that falls due on the way (including ones set
     * by earlier callbacks), each seeing now() at its due time, or later if it was already overdue.
     */
    advance(ms) {
        const target = this.t + Math.max(0, ms);
        for (;;) {
            let next;
            for (const entry of this.timers) {
                const [, tm] = entry;
                if (tm.due <= target && (!next || tm.due < next[1].due || (tm.due === next[1].due && tm.seq < next[1].seq)))
                    next = entry;
            }
            if (!next)
                break;
            this.timers.delete(next[0]);
            this.t = Math.max(this.t, next[1].due);
            next[1].fn();
        }
        this.t = target;
    }
    /**
     * Moves time forward without firing anything: what a blocked event loop experiences. The next
     * advance() runs everything overdue at once, late.
     */
    jump(ms) {
        this.t += Math.max(0, ms);
    }
}
//# sourceMappingURL=clock.js.map
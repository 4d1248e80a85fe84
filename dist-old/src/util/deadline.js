import { AbortedError, TimeoutError } from '../errors.js';
export function deadlineIn(ms, now = Date.now) {
    return now() + ms;
}
export function remaining(deadline, now = Date.now) {
    return Math.max(0, deadline - now());
}
/**
 * Races `work` against the deadline and an optional signal. The timer is unref()'d so a pending
 * wait never keeps a process alive on its own.
 */
export function withDeadline(work, deadline, what, opts = {}) {
    return new Promise((resolve, reject) => {
        const ms = remaining(deadline);
        const timer = setTimeout(() => {
            cleanup();
            reject(opts.onTimeout ? opts.onTimeout() : new TimeoutError(`${what}: deadline passed`));
        }, ms);
        timer.unref();
        const onAbort = () => {
            cleanup();
            reject(new AbortedError(`${what}: aborted`, { cause: opts.signal?.reason }));
        };
        const cleanup = () => {
            clearTimeout(timer);
            opts.signal?.removeEventListener('abort', onAbort);
        };
        if (opts.signal?.aborted) {
            onAbort();
            return;
        }
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        work.then((v) => {
            cleanup();
            resolve(v);
        }, (e) => {
            cleanup();
            reject(e);
        });
    });
}
/** A promise that resolves after `ms`, without holding the process open. */
export function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
        }, ms);
        t.unref();
        const onAbort = () => {
            clearTimeout(t);
            reject(new AbortedError('sleep aborted'));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
    });
}
/** Exponential backoff with full jitter and a cap, as grpc-js does for reconnects. */
export function backoffMs(attempt, baseMs = 20, capMs = 1000, random = Math.random) {
    const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
//# sourceMappingURL=deadline.js.map
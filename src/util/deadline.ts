import { AbortedError, TimeoutError, type RollcallError } from '../errors.js';

/** Milliseconds since the epoch: an absolute deadline, passed down unchanged through every layer. */
export type Deadline = number;

export function deadlineIn(ms: number, now: () => number = Date.now): Deadline {
  return now() + ms;
}

export function remaining(deadline: Deadline, now: () => number = Date.now): number {
  return Math.max(0, deadline - now());
}

/**
 * Races `work` against the deadline and an optional signal. The timer is unref()'d so a pending
 * wait never keeps a process alive on its own.
 */
export function withDeadline<T>(
  work: Promise<T>,
  deadline: Deadline,
  what: string,
  opts: { signal?: AbortSignal | undefined; onTimeout?: () => RollcallError } = {},
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const ms = remaining(deadline);
    const timer = setTimeout(() => {
      cleanup();
      reject(opts.onTimeout ? opts.onTimeout() : new TimeoutError(`${what}: deadline passed`));
    }, ms);
    timer.unref();
    const onAbort = (): void => {
      cleanup();
      reject(new AbortedError(`${what}: aborted`, { cause: opts.signal?.reason }));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    if (opts.signal?.aborted) {
      onAbort();
      return;
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        cleanup();
        resolve(v);
      },
      (e: unknown) => {
        cleanup();
        reject(e);
      },
    );
  });
}

/** A promise that resolves after `ms`, without holding the process open. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    t.unref();
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new AbortedError('sleep aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Exponential backoff with full jitter and a cap, as grpc-js does for reconnects. */
export function backoffMs(attempt: number, baseMs = 20, capMs = 1000, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Runs `attempt` until it succeeds, a failure is not retryable (a RollcallError says so), or the
 * deadline would pass before the next try: then the last failure is thrown. Waits between tries
 * with backoffMs, so many nodes that failed together do not retry together.
 */
export async function retryUntil<T>(attempt: () => Promise<T>, deadline: Deadline, opts: { baseMs?: number; capMs?: number; signal?: AbortSignal } = {}): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (e) {
      const retryable = (e as Partial<RollcallError>).retryable === true;
      const wait = backoffMs(n, opts.baseMs ?? 100, opts.capMs ?? 2000);
      if (!retryable || opts.signal?.aborted || remaining(deadline) <= wait) throw e;
      await sleep(wait, opts.signal);
    }
  }
}

import { type RollcallError } from '../errors.js';
/** Milliseconds since the epoch: an absolute deadline, passed down unchanged through every layer. */
export type Deadline = number;
export declare function deadlineIn(ms: number, now?: () => number): Deadline;
export declare function remaining(deadline: Deadline, now?: () => number): number;
/**
 * Races `work` against the deadline and an optional signal. The timer is unref()'d so a pending
 * wait never keeps a process alive on its own.
 */
export declare function withDeadline<T>(work: Promise<T>, deadline: Deadline, what: string, opts?: {
    signal?: AbortSignal | undefined;
    onTimeout?: () => RollcallError;
}): Promise<T>;
/** A promise that resolves after `ms`, without holding the process open. */
export declare function sleep(ms: number, signal?: AbortSignal): Promise<void>;
/** Exponential backoff with full jitter and a cap, as grpc-js does for reconnects. */
export declare function backoffMs(attempt: number, baseMs?: number, capMs?: number, random?: () => number): number;

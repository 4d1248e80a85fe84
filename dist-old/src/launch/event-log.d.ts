import type { FmsEvent } from '../fms/fms.js';
/**
 * The job's event log: one JSON object per line, each with `ts` (ms since the epoch) and
 * `event`. Written synchronously so that the log is complete up to the last event even if the
 * launcher is killed, and in the order events reached the launcher.
 */
export declare class EventLog {
    private readonly listener?;
    private fd;
    readonly events: FmsEvent[];
    constructor(path: string | undefined, listener?: ((e: FmsEvent) => void) | undefined);
    write(e: FmsEvent): void;
    close(): void;
}

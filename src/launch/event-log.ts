import { closeSync, openSync, writeSync } from 'node:fs';
import type { LogEvent } from '../protocol/events.js';

/**
 * The job's event log: one JSON object per line, each with `ts` (ms since the epoch) and
 * `event`. Written synchronously so that the log is complete up to the last event even if the
 * launcher is killed, and in the order events reached the launcher.
 */
export class EventLog {
  private fd: number | undefined;
  readonly events: LogEvent[] = [];

  constructor(path: string | undefined, private readonly listener?: (e: LogEvent) => void) {
    if (path !== undefined) this.fd = openSync(path, 'w');
  }

  write(e: LogEvent): void {
    this.events.push(e);
    if (this.fd !== undefined) writeSync(this.fd, `${JSON.stringify(e)}\n`);
    this.listener?.(e);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

import { closeSync, openSync, writeSync } from 'node:fs';
/**
 * The job's event log: one JSON object per line, each with `ts` (ms since the epoch) and
 * `event`. Written synchronously so that the log is complete up to the last event even if the
 * launcher is killed, and in the order events reached the launcher.
 */
export class EventLog {
    listener;
    fd;
    events = [];
    constructor(path, listener) {
        this.listener = listener;
        if (path !== undefined)
            this.fd = openSync(path, 'w');
    }
    write(e) {
        this.events.push(e);
        if (this.fd !== undefined)
            writeSync(this.fd, `${JSON.stringify(e)}\n`);
        this.listener?.(e);
    }
    close() {
        if (this.fd !== undefined)
            closeSync(this.fd);
        this.fd = undefined;
    }
}
//# sourceMappingURL=event-log.js.map
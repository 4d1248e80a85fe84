import type { FmsEvent } from '../fms/fms.js';
/**
 * The demo's live view on stderr: a progress bar redrawn in place on a terminal (a line per 10 %
 * otherwise), with the fault and the recovery printed above it as they happen.
 */
export declare class ProgressView {
    private readonly stream;
    private readonly total;
    private readonly enabled;
    private step;
    private lastTenth;
    private drawn;
    private readonly tty;
    constructor(stream: NodeJS.WriteStream, total: number, enabled: boolean);
    progress(step: number): void;
    say(line: string): void;
    event(e: FmsEvent): void;
    done(): void;
    private bar;
    private draw;
}

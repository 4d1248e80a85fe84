import { EventEmitter } from 'node:events';
import { type FromProgram, type ToProgram } from '../sdk/ipc.js';
export interface ProgramExit {
    code: number | null;
    signal: NodeJS.Signals | null;
    /** The FMS ended it itself (fencing, restart, shutdown): not a fault. */
    expected: boolean;
}
/**
 * The node's program as the FMS sees it: a child process with an IPC channel. The child stays in
 * the FMS's process group, so killing the node's group (or the FMS dying, see the SDK's
 * 'disconnect' handler) never leaves the program behind.
 */
export declare class ProgramProcess extends EventEmitter<{
    message: [FromProgram];
    bad: [string];
    exit: [ProgramExit];
}> {
    readonly pid: number;
    readonly exited: Promise<ProgramExit>;
    private expected;
    private done;
    private readonly child;
    constructor(command: readonly string[], env: NodeJS.ProcessEnv);
    get running(): boolean;
    send(m: ToProgram): void;
    /** Signals the program; anything but SIGSTOP/SIGCONT marks its exit as expected. */
    kill(signal?: NodeJS.Signals): void;
    /** SIGTERM, then SIGKILL if it has not gone within graceMs. */
    stop(graceMs: number): Promise<ProgramExit>;
}

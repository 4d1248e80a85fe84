import { EventEmitter } from 'node:events';
import type { NumericArray, ReduceOp } from '../comm/dtype.js';
import { type RollcallError } from '../errors.js';
import type { ProxyConnect } from './protocol.js';
import { ProxyState, type CommProxy } from './proxy.js';
/**
 * The communication proxy run on the program's own thread. An operation is a direct call on the
 * communicator, with no message to another thread: measured, that hand-off cost ~1 ms per 4 MiB
 * allreduce on 2 cores (docs/benchmarks.md). The proxy stays disposable: a relaunch destroys this
 * communicator and builds the next generation's, and the program keeps its pid and its memory.
 */
export declare class InlineProxy extends EventEmitter<{
    broken: [RollcallError];
}> implements CommProxy {
    private readonly store;
    state: ProxyState;
    private comm;
    private readonly abort;
    private constructor();
    /** Connects to the store ahead of need, so a relaunch pays only the rendezvous. */
    static standby(store: string, secret: string, timeoutMs: number): Promise<InlineProxy>;
    activate(connect: Omit<ProxyConnect, 'type'>, timeoutMs: number): Promise<number>;
    allreduce<T extends NumericArray>(buf: T, redop?: ReduceOp): Promise<T>;
    broadcast<T extends NumericArray>(buf: T, root?: number): Promise<T>;
    barrier(): Promise<void>;
    send<T extends NumericArray>(buf: T, peer: number, tag?: number): Promise<T>;
    recv<T extends NumericArray>(buf: T, peer: number, tag?: number): Promise<T>;
    close(): Promise<void>;
    terminate(): Promise<void>;
    private ready;
}

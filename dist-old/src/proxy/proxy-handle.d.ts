import { EventEmitter } from 'node:events';
import { type NumericArray, type ReduceOp } from '../comm/dtype.js';
import { RollcallError } from '../errors.js';
import type { ProxyConnect, SerializedError } from './protocol.js';
import { ProxyState, type CommProxy } from './proxy.js';
/** Rebuilds a typed error that crossed the thread boundary, so callers can match on it. */
export declare function revive(e: SerializedError): RollcallError;
/** A typed array whose memory the proxy can use directly (no copy across the thread boundary). */
export declare function sharedArray<T extends NumericArray>(ctor: new (buf: SharedArrayBuffer, offset: number, length: number) => T, length: number, bytesPer: number): T;
/**
 * The program's side of one proxy generation. Operations on arrays that live in a
 * SharedArrayBuffer are zero-copy; other arrays are staged through shared memory and copied
 * back, which costs two memcpys.
 */
export declare class ProxyHandle extends EventEmitter<{
    broken: [RollcallError];
}> implements CommProxy {
    private readonly worker;
    state: ProxyState;
    private nextId;
    private readonly pending;
    private constructor();
    /**
     * Starts a proxy thread ahead of need: modules loaded, store connected. Starting a thread
     * and loading the library took most of a relaunch (see docs/architecture.md), so the SDK keeps
     * one standby proxy and activates it when the membership changes.
     */
    static standby(store: string, secret: string, timeoutMs: number): Promise<ProxyHandle>;
    /** Joins a generation; resolves with the rendezvous time in ms. */
    activate(connect: Omit<ProxyConnect, 'type'>, timeoutMs: number): Promise<number>;
    private request;
    allreduce<T extends NumericArray>(buf: T, redop?: ReduceOp): Promise<T>;
    broadcast<T extends NumericArray>(buf: T, root?: number): Promise<T>;
    barrier(): Promise<void>;
    send<T extends NumericArray>(buf: T, peer: number, tag?: number): Promise<T>;
    recv<T extends NumericArray>(buf: T, peer: number, tag?: number): Promise<T>;
    /**
     * Ends the proxy at the end of the job: the communicator says BYE after its last data, so peers
     * still finishing see a departure, not a reset that their FMS would take for a fault. A
     * thread that lingers past graceMs is terminated.
     */
    close(graceMs?: number): Promise<void>;
    /** Ends the thread at once: a relaunch must not wait for a proxy stuck on a dead peer. */
    terminate(): Promise<void>;
    private staged;
    private readonly staging;
    private takeStaging;
    private call;
    private onMessage;
    private breakWith;
}

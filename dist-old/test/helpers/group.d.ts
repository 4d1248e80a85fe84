import { type CommunicatorConfig } from '../../src/comm/rendezvous.js';
import type { Communicator, CommTuning } from '../../src/comm/communicator.js';
import { MemoryTransport, type MemoryTransportOptions } from '../../src/comm/memory-transport.js';
import type { Transport } from '../../src/comm/transport.js';
import type { Store } from '../../src/store/store.js';
export declare const SMALL_TUNING: Partial<CommTuning>;
export interface GroupOptions {
    tuning?: Partial<CommTuning>;
    transport?: Transport;
    memory?: MemoryTransportOptions;
    store?: Store;
    secret?: (rank: number) => string;
    extra?: Partial<CommunicatorConfig>;
}
/** Builds `world` communicators in one process, over the in-memory transport by default. */
export declare function makeGroup(world: number, opts?: GroupOptions): Promise<{
    comms: Communicator[];
    transports: MemoryTransport[];
    store: Store;
}>;
export declare function closeAll(comms: Communicator[]): void;
/** Deterministic pseudo-random numbers, so a failing case can be replayed. */
export declare function rng(seed: number): () => number;

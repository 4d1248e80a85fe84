import { z } from 'zod';
import { type Store } from '../store/store.js';
import { Communicator, type CommTuning } from './communicator.js';
import type { Transport } from './transport.js';
declare const ConfigSchema: z.ZodObject<{
    job: z.ZodString;
    generation: z.ZodNumber;
    rank: z.ZodNumber;
    world: z.ZodNumber;
    secret: z.ZodString;
    host: z.ZodOptional<z.ZodString>;
    rendezvousTimeoutMs: z.ZodOptional<z.ZodNumber>;
}, z.core.$strip>;
export interface CommunicatorConfig extends z.input<typeof ConfigSchema> {
    store: Store;
    transport?: Transport;
    tuning?: Partial<CommTuning>;
    signal?: AbortSignal;
}
export declare function addressKey(job: string, generation: number, rank?: number): string;
/**
 * Builds the communicator of one generation: publish our address in the store, wait for
 * everyone's, then connect each pair once (the higher rank dials the lower) and authenticate.
 * Everything happens before one deadline; a rank that never shows up is named in the error.
 */
export declare function createCommunicator(config: CommunicatorConfig): Promise<Communicator>;
/**
 * How the ranks on this host poll (TCP addresses only). With a core for each, they poll; with
 * more ranks than cores, they poll only small collectives and yield the core between polls; if
 * yielding is not available, they do not poll. Choices the caller made are kept.
 */
export declare function autoSpin(addrs: readonly string[], rank: number, cores: number, chosen: Partial<CommTuning>): Promise<Partial<CommTuning>>;
export {};

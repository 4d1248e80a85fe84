import { type Deadline } from '../util/deadline.js';
import type { Store } from './store.js';
export interface ConnectStoreOptions {
    secret?: string;
    /** Absolute time (ms since the epoch) by which the connection must be up and authenticated. */
    deadline?: Deadline;
    /** Per request; a request with no reply by then rejects with StoreUnavailableError. */
    requestTimeoutMs?: number;
}
export declare function connectStore(address: string, opts?: ConnectStoreOptions): Promise<Store>;

import type { ProxyKind } from '../proxy/proxy.js';
export interface StateBenchOptions {
    ranks: number;
    bytes: number;
    steps: number;
    rounds: number;
    json: boolean;
    persistEvery: number;
    replicateEvery: number;
    proxy: ProxyKind;
}
/**
 * Step time of the same loop on the bare library, on the bare library plus a plain copy of the
 * state per step, and under Rollcall (proxy, heartbeats, a commit per step: copying, and taking
 * a draft), in turn `rounds` times so that machine noise hits all four alike.
 */
export declare function benchState(o: StateBenchOptions, out: (line: string) => void): Promise<void>;

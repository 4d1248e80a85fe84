import { createCommunicator } from '../../src/comm/rendezvous.js';
import { MemoryNetwork, MemoryTransport } from '../../src/comm/memory-transport.js';
import { MemoryStore } from '../../src/store/memory-store.js';
export const SMALL_TUNING = { smallBytes: 256, doublingMaxBytes: 256, halvingMaxBytes: 2048, chunkBytes: 64 };
let jobCounter = 0;
/** Builds `world` communicators in one process, over the in-memory transport by default. */
export async function makeGroup(world, opts = {}) {
    const network = new MemoryNetwork();
    // One transport per rank, so a test can kill or silence one simulated process.
    const transports = Array.from({ length: world }, () => new MemoryTransport(opts.memory, network));
    const store = opts.store ?? new MemoryStore();
    const job = `test-${process.pid}-${jobCounter++}`;
    const comms = await Promise.all(Array.from({ length: world }, (_, rank) => createCommunicator({
        job,
        generation: 0,
        rank,
        world,
        secret: opts.secret?.(rank) ?? 's3cret',
        store,
        transport: opts.transport ?? transports[rank],
        tuning: opts.tuning ?? {},
        rendezvousTimeoutMs: 5000,
        ...opts.extra,
    })));
    return { comms, transports, store };
}
export function closeAll(comms) {
    for (const c of comms)
        c.close();
}
/** Deterministic pseudo-random numbers, so a failing case can be replayed. */
export function rng(seed) {
    let s = seed >>> 0 || 1;
    return () => {
        s ^= s << 13;
        s >>>= 0;
        s ^= s >>> 17;
        s ^= s << 5;
        s >>>= 0;
        return s / 0x100000000;
    };
}
//# sourceMappingURL=group.js.map
// The public entry point. Everything not exported here is internal and may change.
export * from './errors.js';
export { createCommunicator } from './comm/rendezvous.js';
export { Communicator, CommState, DEFAULT_TUNING } from './comm/communicator.js';
export { TcpTransport } from './comm/tcp-transport.js';
export { MemoryTransport } from './comm/memory-transport.js';
export { connectStore } from './store/tcp-store-client.js';
export { startStoreServer } from './store/tcp-store-server.js';
export { MemoryStore } from './store/memory-store.js';
export { connect, Job, JobState } from './sdk/job.js';
export { averageGradients, trackModel } from './adapters/tfjs.js';
//# sourceMappingURL=index.js.map
// The public entry point. Everything not exported here is internal and may change.
export * from './errors.js';
export { createCommunicator, openCommunicator, type CommunicatorConfig, type OpenCommunicatorConfig } from './comm/rendezvous.js';
export { Endpoint, type EndpointOptions } from './comm/endpoint.js';
export { Communicator, CommState, DEFAULT_TUNING, type CommTuning, type OpOptions } from './comm/communicator.js';
export type { DType, ReduceOp, NumericArray } from './comm/dtype.js';
export type { Transport, Conn, Listener } from './comm/transport.js';
export { TcpTransport } from './comm/tcp-transport.js';
export { MemoryTransport } from './comm/memory-transport.js';
export type { Store, KeyValue, Lease, Watcher, WatchEvent } from './store/store.js';
export { connectStore, type ConnectStoreOptions } from './store/tcp-store-client.js';
export { startStoreServer } from './store/tcp-store-server.js';
export { openStore, type OpenStoreOptions } from './store/open-store.js';
export type { StoreAccess } from './protocol/store-access.js';
export { MemoryStore } from './store/memory-store.js';
export { connect, Job, JobState, type ConnectOptions } from './sdk/job.js';
export type { State, StateEntry, JsonValue } from './sdk/state.js';
export { averageGradients, trackModel } from './adapters/tfjs.js';

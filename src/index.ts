// The public entry point. Everything not exported here (or from rollcall/testing and
// rollcall/tfjs) is internal and may change. Classes whose constructors take internals are
// exported as types only: they are made by their factories (connect(), createCommunicator(),
// openCommunicator(), Endpoint.open()).
export * from './errors.js';
export { createCommunicator, openCommunicator, type CommunicatorConfig, type OpenCommunicatorConfig } from './comm/rendezvous.js';
export { Endpoint, type EndpointOptions } from './comm/endpoint.js';
export { CommState, DEFAULT_TUNING, type Communicator, type Collectives, type CommEvents, type CommTuning, type OpOptions } from './comm/communicator.js';
export type { DType, ReduceOp, NumericArray } from './comm/dtype.js';
export type { Transport, Conn, Listener } from './comm/transport.js';
export { TcpTransport } from './comm/tcp-transport.js';
export type { Store, KeyValue, Lease, Watcher, WatchEvent, PutOptions, WatchOptions } from './store/store.js';
export { connectStore, type ConnectStoreOptions } from './store/tcp-store-client.js';
export { startStoreServer, type StoreServer, type StoreServerOptions } from './store/tcp-store-server.js';
export { openStore, type OpenStoreOptions } from './store/open-store.js';
export type { StoreAccess } from './protocol/store-access.js';
export { connect, JobState, type ConnectOptions, type Job } from './sdk/job.js';
export type { State, StateEntry, StateOptions, JsonValue } from './sdk/state.js';

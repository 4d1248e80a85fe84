// `rollcall/testing`: in-process doubles for tests of code written against the library, apart
// from the root entry point so that production code does not reach for them by accident.
export { MemoryNetwork, MemoryTransport, type MemoryTransportOptions } from './comm/memory-transport.js';
export { MemoryStore, ManualClock, type Clock, type MemoryStoreOptions } from './store/memory-store.js';

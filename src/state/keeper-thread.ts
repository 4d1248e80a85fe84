import { parentPort } from 'node:worker_threads';
import { createKeeperCore } from './keeper-core.js';
import type { FromKeeper, ToKeeper } from '../protocol/keeper-messages.js';

/** The keeper's thread: forwards the program's messages to the core (keeper-core.ts). */
const port = parentPort;
if (!port) throw new Error('keeper-thread must run as a worker thread');
const core = createKeeperCore((m: FromKeeper) => port.postMessage(m));
port.on('message', (m: ToKeeper) => core.handle(m));

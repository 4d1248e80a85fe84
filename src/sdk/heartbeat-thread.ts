import { createSocket } from 'node:dgram';
import { workerData } from 'node:worker_threads';
import type { HeartbeatThreadConfig } from '../protocol/datagram.js';
import { splitHostPort } from '../util/host.js';

/**
 * Runs in its own thread inside the program process and tells the node's FMS that the process
 * is alive. A thread, not the program's main loop: a training step that computes for a second
 * without yielding is busy, not hung, and must not be mistaken for a fault. A stopped or dead
 * process stops every thread, so SIGSTOP and crashes are still seen.
 */
const cfg = workerData as HeartbeatThreadConfig;
const to = splitHostPort(cfg.fms);
if (!to) throw new Error(`heartbeat thread: bad FMS address ${JSON.stringify(cfg.fms)}`);
const { host, port } = to;
const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
const packet = cfg.packet;
// Connected: a send is one syscall, without an address lookup per beat. Errors (the FMS gone,
// ICMP unreachable on a connected socket) are the FMS's business, not this thread's.
const beat = (): void => sock.send(packet, () => undefined);
sock.on('error', () => undefined);
sock.connect(port, host, () => {
  beat();
  setInterval(beat, cfg.intervalMs);
});

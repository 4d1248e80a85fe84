import { createSocket } from 'node:dgram';
import { workerData } from 'node:worker_threads';
import { encodeDatagram } from '../fms/datagram.js';
const cfg = workerData;
const sock = createSocket('udp4');
const i = cfg.fms.lastIndexOf(':');
const host = cfg.fms.slice(0, i);
const port = Number(cfg.fms.slice(i + 1));
const packet = encodeDatagram(cfg.job, cfg.secret, { type: 'program_heartbeat', node: cfg.node, pid: cfg.pid });
const beat = () => sock.send(packet, port, host, () => undefined);
sock.on('error', () => undefined);
beat();
setInterval(beat, cfg.intervalMs);
//# sourceMappingURL=heartbeat-thread.js.map
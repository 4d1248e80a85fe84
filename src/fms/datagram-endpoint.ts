import { createSocket, type Socket } from 'node:dgram';
import { cachingDecoder, cachingEncoder, type Datagram } from '../protocol/datagram.js';
import { LOOPBACK, advertisedHost, joinHostPort, splitHostPort } from '../util/host.js';

/** An FMS's UDP socket: datagrams in the format of protocol/datagram.ts, sent and received. */
export interface DatagramEndpoint {
  readonly address: string;
  send(to: string, d: Datagram): void;
  close(): void;
}

/**
 * Binds a loopback (or given host) UDP socket. Bad datagrams are counted and handed to onBad,
 * never thrown: a stray packet must not take an FMS down.
 */
export async function openDatagramEndpoint(opts: {
  job: string;
  secret: string;
  host?: string;
  onDatagram(d: Datagram): void;
  onBad?(err: Error): void;
}): Promise<DatagramEndpoint> {
  const bind = opts.host ?? LOOPBACK;
  const sock: Socket = createSocket(bind.includes(':') ? 'udp6' : 'udp4');
  const decode = cachingDecoder(opts.job, opts.secret);
  const encode = cachingEncoder(opts.job, opts.secret);
  sock.on('message', (buf) => {
    let d: Datagram;
    try {
      d = decode(buf);
    } catch (e) {
      opts.onBad?.(e as Error);
      return;
    }
    opts.onDatagram(d);
  });
  // ICMP "port unreachable" from a dead peer surfaces as an error event on some platforms;
  // a dead peer is the heartbeat monitor's business, not a reason to crash.
  sock.on('error', (e) => opts.onBad?.(e));
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, bind, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  sock.unref();
  const a = sock.address();
  let closed = false;
  return {
    address: joinHostPort(advertisedHost(bind), a.port),
    send(to, d) {
      if (closed) return;
      const hp = splitHostPort(to);
      if (!hp) return;
      sock.send(encode(d), hp.port, hp.host, () => {
        // Errors (peer gone) are ignored on purpose: see above.
      });
    },
    close() {
      if (closed) return;
      closed = true;
      sock.close();
    },
  };
}

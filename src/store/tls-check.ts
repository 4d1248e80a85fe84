import { isIP } from 'node:net';
import { connect } from 'node:tls';
import type { StoreAccess } from '../protocol/store-access.js';

/**
 * A TLS handshake with each etcd member, with the material the etcd client uses, to name why a
 * secured store cannot be reached: gRPC reports only "No connection established". The handshake
 * is followed by HTTP/2's client preface, and the member's first bytes back are the proof it
 * accepted us: under TLS 1.3 a server refuses a client certificate only after the handshake
 * has completed on our side.
 */
export interface TlsDiagnosis {
  /** Every member failed its handshake: nothing else need be waited for. */
  allFailed: boolean;
  /** `endpoint: cause`, for each member whose handshake failed. */
  failures: string[];
}

type Outcome = { kind: 'ok' | 'unreachable' | 'unknown' } | { kind: 'tls'; cause: string };

/** HTTP/2's client connection preface and an empty SETTINGS frame (RFC 9113, section 3.4). */
const H2_PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

/** Never rejects; resolves by `deadline`, or at once when `signal` aborts. */
export async function checkTls(endpoints: readonly string[], access: StoreAccess, deadline: number, signal: AbortSignal): Promise<TlsDiagnosis> {
  const outcomes = await Promise.all(endpoints.map((ep) => handshake(ep, access, deadline, signal)));
  const failures = outcomes.flatMap((o, i) => (o.kind === 'tls' ? [`${endpoints[i]}: ${o.cause}`] : []));
  return { allFailed: failures.length === endpoints.length, failures };
}

function handshake(endpoint: string, access: StoreAccess, deadline: number, signal: AbortSignal): Promise<Outcome> {
  const url = new URL(endpoint);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return new Promise((resolve) => {
    if (signal.aborted) return resolve({ kind: 'unknown' });
    let tcpUp = false;
    const sock = connect({
      host,
      port: Number(url.port),
      ca: access.ca,
      cert: access.cert,
      key: access.key,
      // SNI takes a name only (RFC 6066); an address is checked against the certificate's IP entries.
      servername: isIP(host) ? undefined : host,
      ALPNProtocols: ['h2'],
    });
    const done = (o: Outcome): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      sock.destroy();
      resolve(o);
    };
    const onAbort = (): void => done({ kind: 'unknown' });
    signal.addEventListener('abort', onAbort);
    const timer = setTimeout(() => done({ kind: tcpUp ? 'unknown' : 'unreachable' }), Math.max(0, deadline - Date.now()));
    sock.once('connect', () => (tcpUp = true));
    sock.once('secureConnect', () => sock.write(H2_PREFACE));
    sock.once('data', () => done({ kind: 'ok' }));
    sock.once('error', (e: NodeJS.ErrnoException) => done(tcpUp ? { kind: 'tls', cause: describe(e, access) } : { kind: 'unreachable' }));
    sock.once('close', () => done(tcpUp ? { kind: 'tls', cause: 'the member closed the connection during the TLS handshake' } : { kind: 'unreachable' }));
  });
}

function describe(e: NodeJS.ErrnoException, access: StoreAccess): string {
  const code = e.code ?? 'no code';
  if (/ALERT/.test(code) || code === 'ECONNRESET') {
    const ours = access.cert === undefined ? 'none was given' : 'the one given';
    // OpenSSL's message is a library trace; the alert's name is the part that says why.
    const alert = /alert ([a-z ]+)/i.exec(e.message)?.[1] ?? e.message;
    return `the member refused our client certificate (${ours}): ${code}: ${alert}`;
  }
  const against = access.ca === undefined ? "the system's CAs" : 'the CA given';
  return `the member's certificate does not verify against ${against}: ${code}: ${e.message}`;
}

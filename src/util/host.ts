import { networkInterfaces, hostname } from 'node:os';

/** Where a process listens when not told: one machine, so loopback (the launcher's default). */
export const LOOPBACK = '127.0.0.1';

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/**
 * The address peers on other hosts can reach a socket bound to `bind` at. A socket bound to one
 * address is reached there. One bound to every interface is advertised as this host's first
 * non-internal IPv4 address; a host with none (a machine without networking) falls back to its
 * name, which at least resolves for itself.
 */
export function advertisedHost(bind: string): string {
  if (!WILDCARDS.has(bind)) return bind;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return hostname();
}

/** `host:port`, with an IPv6 host in brackets. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Inverse of joinHostPort; undefined if `address` is not host:port. */
export function splitHostPort(address: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}

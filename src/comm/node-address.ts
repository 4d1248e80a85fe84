import { z } from 'zod';
import { CorruptRecordError } from '../errors.js';
import { UNIX_PREFIX } from './tcp-transport.js';
import { splitHostPort } from '../util/host.js';
import { NO_JIT } from '../protocol/no-jit.js';

/**
 * What a node publishes once, when it starts (roster.ts, nodeAddressKey): its TCP address, and,
 * when it also listens on a Unix domain socket, that socket's path and the identity of the host
 * it is on (util/host-identity.ts). A node with no socket publishes its TCP address alone, as
 * every node did before; readers take both forms.
 */
export interface NodeAddress {
  tcp: string;
  unix?: { path: string; host: string };
}

/** Longest socket path Linux takes (sun_path is 108 bytes, with its terminating NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

const hasControl = (s: string): boolean => [...s].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);

/**
 * One address as a transport dials it: host:port (TCP), unix:<absolute path> (a node listening on
 * a socket only) or mem://<n> (the in-memory transport of tests).
 */
const Plain = z
  .string()
  .max(1024)
  .refine((a) => !hasControl(a) && !/\s/.test(a), 'an address has no whitespace or control characters')
  .refine((a) => splitHostPort(a) !== undefined || /^unix:\/./.test(a) || /^mem:\/\/\d+$/.test(a), 'expected host:port, unix:<absolute path> or mem://<n>');

const RecordSchema = z
  .object({
    tcp: Plain,
    unix: z
      .string()
      .startsWith('/', 'a socket path is absolute')
      .refine((p) => Buffer.byteLength(p) <= MAX_SOCKET_PATH_BYTES && !hasControl(p), `a socket path is at most ${MAX_SOCKET_PATH_BYTES} bytes, without control characters`),
    host: z.string().min(1).max(256),
  })
  .strict();

/** The value stored for `a`: its TCP address alone when it has no socket (the old form). */
export function formatNodeAddress(a: NodeAddress): string {
  if (!a.unix) return a.tcp;
  return JSON.stringify({ tcp: a.tcp, unix: a.unix.path, host: a.unix.host });
}

/** Reads a stored value of either form; anything else is a CorruptRecordError naming the key and node. */
export function parseNodeAddress(value: string, key: string, node: number): NodeAddress {
  const bad = (why: string): CorruptRecordError => new CorruptRecordError(key, `node ${node}'s published address does not parse: ${why}`, { node });
  if (value.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(value);
    } catch (e) {
      throw bad((e as Error).message);
    }
    const r = RecordSchema.safeParse(json, NO_JIT);
    if (!r.success) throw bad(r.error.issues.map((i) => `${i.path.join('.') || 'record'}: ${i.message}`).join('; '));
    return { tcp: r.data.tcp, unix: { path: r.data.unix, host: r.data.host } };
  }
  const p = Plain.safeParse(value, NO_JIT);
  if (!p.success) throw bad(p.error.issues.map((i) => i.message).join('; '));
  return { tcp: p.data };
}

/**
 * Where to dial a node from a process on host `local`: its socket if it is on this same host
 * (and the socket has not failed us before), else its TCP address.
 */
export function dialAddress(a: NodeAddress, local: string | undefined, failedSockets?: ReadonlySet<string>): string {
  if (a.unix && local !== undefined && a.unix.host === local && !failedSockets?.has(a.unix.path)) return UNIX_PREFIX + a.unix.path;
  return a.tcp;
}

/** Every address `a` can be dialed at (for "has this node moved?"). */
export function addressesOf(a: NodeAddress): string[] {
  return a.unix ? [a.tcp, UNIX_PREFIX + a.unix.path] : [a.tcp];
}

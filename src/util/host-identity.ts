import { readFileSync, readlinkSync } from 'node:fs';

/**
 * What "the same host" means for choosing a Unix domain socket over TCP: the same running kernel
 * and the same network namespace. A hostname or an IP address would not do: the repository's own
 * multi-host tests run every "host" as a network namespace of one machine, and they share the
 * filesystem, so a socket path published by one is reachable from all the others, and a
 * connection over it would bypass the partitions and delays the test puts on the network. The
 * boot id (/proc/sys/kernel/random/boot_id, random per boot) tells machines apart, including
 * two machines whose namespaces happen to have the same inode number (the initial namespace's
 * usually is the same everywhere); the network namespace (the inode of /proc/self/ns/net) tells
 * apart the namespaces and containers of one machine. Where either cannot be read (not Linux,
 * a restricted /proc), there is no identity, and every peer is reached over TCP.
 */
export function hostIdentityFrom(bootId: string | undefined, netns: string | undefined): string | undefined {
  const boot = bootId?.trim().toLowerCase();
  const ns = netns === undefined ? undefined : /^net:\[(\d+)\]$/.exec(netns.trim())?.[1];
  if (!boot || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(boot) || ns === undefined) return undefined;
  return `${boot}/net:${ns}`;
}

function readOrUndefined(read: () => string): string | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

let cached: { id: string | undefined } | undefined;

/** This process's host identity (hostIdentityFrom()), read once; undefined off Linux or when /proc says nothing. */
export function hostIdentity(): string | undefined {
  if (cached) return cached.id;
  const id =
    process.platform === 'linux'
      ? hostIdentityFrom(
          readOrUndefined(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')),
          readOrUndefined(() => readlinkSync('/proc/self/ns/net')),
        )
      : undefined;
  cached = { id };
  return id;
}

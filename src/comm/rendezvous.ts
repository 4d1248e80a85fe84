import { z } from 'zod';
import { AuthError, InvalidArgumentError, PeerFailedError, RendezvousTimeoutError, RollcallError } from '../errors.js';
import { waitForPrefix, type Store } from '../store/store.js';
import { realClock, type Clock } from '../util/clock.js';
import { backoffMs, deadlineIn, remaining, sleep, type Deadline } from '../util/deadline.js';
import { availableParallelism } from 'node:os';
import { AUTO_SPIN_US, Communicator, DEDICATED_SPIN_MAX_BYTES, DEFAULT_TUNING, SHARED_SPIN_MAX_BYTES, type CommTuning } from './communicator.js';
import { loadCpuYield } from './cpu-yield.js';
import { Endpoint } from './endpoint.js';
import { Link, type GroupIdentity } from './link.js';
import type { LinkPark } from './link-park.js';
import { PeerSet, type DialFn } from './peer-set.js';
import { TcpTransport, UNIX_PREFIX, parseHostPort } from './tcp-transport.js';
import { LOOPBACK } from '../util/host.js';
import type { Transport } from './transport.js';
import { NO_JIT } from '../protocol/no-jit.js';

const ConfigSchema = z
  .object({
    job: z.string().min(1).max(256).regex(/^[\w.-]+$/, 'job id may hold letters, digits, ".", "_" and "-"'),
    generation: z.number().int().nonnegative(),
    rank: z.number().int().nonnegative(),
    world: z.number().int().positive().max(4096),
    secret: z.string().min(1, 'a job secret is required'),
    host: z.string().optional(),
    rendezvousTimeoutMs: z.number().int().positive().optional(),
  })
  .refine((c) => c.rank < c.world, { message: 'rank must be below world size', path: ['rank'] });

export interface CommunicatorConfig extends z.input<typeof ConfigSchema> {
  store: Store;
  transport?: Transport;
  tuning?: Partial<CommTuning>;
  signal?: AbortSignal;
  /** What liveness runs on (the links' timestamps and the checks); a FakeClock in tests. */
  clock?: Clock;
}

export function addressKey(job: string, generation: number, rank?: number): string {
  return `rollcall/${job}/comm/${generation}/addr/${rank ?? ''}`;
}

/**
 * The library's entry with a store: each call listens on an address of its own, publishes it
 * under `rollcall/<job>/comm/<generation>/addr/<rank>`, waits until every rank's is there, and
 * builds the communicator on it (openCommunicator()); connections are then made on first use.
 * The runtime does not come this way: its nodes each listen on one address for their whole
 * life, published once, and a generation's roster comes from the membership (node-comm.ts).
 */
export async function createCommunicator(config: CommunicatorConfig): Promise<Communicator> {
  const c = parseConfig(config);
  const deadline: Deadline = deadlineIn(c.rendezvousTimeoutMs ?? 30_000);
  const transport = config.transport ?? new TcpTransport();
  const tuning: CommTuning = { ...DEFAULT_TUNING, ...config.tuning };
  const endpoint = await Endpoint.open({ transport, host: c.host, clock: config.clock, maxFrameBytes: tuning.maxFrameBytes, job: c.job });
  try {
    // Our address goes out while we start watching for the others': one store round trip
    // fewer (a few ms each on a replicated store under load).
    const published = config.store.put(addressKey(c.job, c.generation, c.rank), endpoint.address);
    const stopWaiting = new AbortController();
    const onAbort = (): void => stopWaiting.abort(config.signal?.reason);
    if (config.signal?.aborted) onAbort();
    config.signal?.addEventListener('abort', onAbort, { once: true });
    published.catch(() => stopWaiting.abort('could not publish our address'));
    const prefix = addressKey(c.job, c.generation);
    const found = waitForPrefix(
      config.store,
      prefix,
      (kvs) => {
        const out: string[] = [];
        for (let r = 0; r < c.world; r++) {
          const kv = kvs.get(prefix + r);
          if (!kv) return undefined;
          out.push(kv.value);
        }
        return out;
      },
      deadline,
      (kvs) => {
        const missing = Array.from({ length: c.world }, (_, r) => r).filter((r) => !kvs.has(prefix + r));
        return new RendezvousTimeoutError(missing, `rank ${c.rank}: rank(s) ${missing.join(',')} of generation ${c.generation} never published an address`, { rank: c.rank });
      },
      stopWaiting.signal,
    );
    // Both settle: a failed put must not leave the wait's rejection unhandled, or the reverse.
    const [put, wait] = await Promise.allSettled([published, found]);
    config.signal?.removeEventListener('abort', onAbort);
    if (put.status === 'rejected') throw put.reason;
    if (wait.status === 'rejected') throw wait.reason;
    return await openCommunicator({ ...config, endpoint, roster: wait.value, connectTimeoutMs: remaining(deadline), ownsEndpoint: true });
  } catch (e) {
    endpoint.close();
    throw e;
  }
}

export interface OpenCommunicatorConfig extends z.input<typeof ConfigSchema> {
  /** Where this rank listens; it may serve many generations (one per join). */
  endpoint: Endpoint;
  /** Every rank's endpoint address, in rank order. */
  roster: readonly string[];
  tuning?: Partial<CommTuning>;
  signal?: AbortSignal;
  clock?: Clock;
  /**
   * How long a first connection to a rank may take (its dial retried with backoff), default
   * rendezvousTimeoutMs: a rank that cannot be reached by then fails with PeerFailedError. While
   * we wait on a rank, its silence (tuning.timeoutMs) counts from the moment its peer was made.
   */
  connectTimeoutMs?: number;
  /** Close the endpoint with the communicator (createCommunicator's own). */
  ownsEndpoint?: boolean;
  /**
   * Asked when a rank's address refuses connections: its current address, if it has moved (a
   * restarted process listens elsewhere). Without it, a refused address fails the rank.
   */
  readdress?: (rank: number, stale: string, deadline: Deadline) => Promise<string>;
  /**
   * The ranks' listeners are bound again for every generation, at the same address (thread
   * proxies: proxy/thread-port.ts). A refused connection then most likely means a rank's new
   * listener is not up yet: it is retried, with backoff, for up to `REBIND_GRACE_MS` before it
   * counts as a refusal (readdress, or the rank failed).
   */
  peersRebind?: boolean;
  /**
   * Keep links across generations (link-park.ts): when this communicator ends, its live links
   * are parked at the endpoint rather than closed, and its dials first take a link parked by the
   * generation before. For an endpoint that serves the generations one after another, as a
   * node's listener does.
   */
  reuseLinks?: boolean;
}

/** How long a refusal from a rank whose listener is being bound again is taken for "not yet". */
export const REBIND_GRACE_MS = 2000;

/**
 * Builds the communicator of one generation on an endpoint and a roster, without the store:
 * nothing is connected yet. A rank connects to a partner on first use (a send to it, a wait on
 * it, or its dial to us), authenticated for this generation with the nonce handshake, so it
 * holds only the connections its algorithms use (peer-set.ts).
 */
export async function openCommunicator(config: OpenCommunicatorConfig): Promise<Communicator> {
  const c = parseConfig(config);
  if (config.roster.length !== c.world) throw new InvalidArgumentError(`roster has ${config.roster.length} addresses for a world of ${c.world}`);
  const tuning: CommTuning = { ...DEFAULT_TUNING, ...config.tuning };
  const clock = config.clock ?? realClock;
  const endpoint = config.endpoint;
  const me: GroupIdentity = { job: c.job, generation: c.generation, rank: c.rank, world: c.world, secret: c.secret, maxFrameBytes: tuning.maxFrameBytes };
  const port = c.world > 1 ? endpoint.join(me) : undefined;
  const connectMs = config.connectTimeoutMs ?? c.rendezvousTimeoutMs ?? 30_000;
  const roster = [...config.roster];
  const reuse = config.reuseLinks === true;
  const dial: DialFn = (to) =>
    dialWithRetry(endpoint.transport, roster[to]!, me, to, deadlineIn(connectMs), clock, config.signal, config.readdress, config.peersRebind === true, reuse ? endpoint.park : undefined);
  const peers = new PeerSet(
    c.rank,
    dial,
    clock,
    () => {
      port?.leave();
      if (config.ownsEndpoint) endpoint.close();
    },
    reuse ? (link) => endpoint.park.put(link) : undefined,
  );
  try {
    if (config.tuning?.spinUs === undefined) Object.assign(tuning, await autoSpin(roster, c.rank, availableParallelism(), config.tuning ?? {}));
    else if (tuning.spinYield || tuning.spinLateYield) await loadCpuYield();
  } catch (e) {
    port?.leave();
    throw e;
  }
  const comm = new Communicator(c.job, c.generation, c.rank, c.world, peers, tuning, clock);
  if (port) {
    port.isWanted = (r) => peers.wants(r);
    port.onLink((link) => peers.accepted(link));
  }
  return comm;
}

function parseConfig(config: z.input<typeof ConfigSchema>): z.output<typeof ConfigSchema> {
  const parsed = ConfigSchema.safeParse(config, NO_JIT);
  if (!parsed.success) {
    throw new InvalidArgumentError(`bad communicator config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/**
 * How the ranks on this host poll (TCP addresses only). With a core for each, they poll; with
 * more ranks than cores, they poll only small collectives and yield the core between polls; if
 * yielding is not available, they do not poll. Choices the caller made are kept.
 */
export async function autoSpin(addrs: readonly string[], rank: number, cores: number, chosen: Partial<CommTuning>): Promise<Partial<CommTuning>> {
  let hosts: string[];
  try {
    // Unix domain sockets are on this host by definition.
    hosts = addrs.map((a) => (a.startsWith(UNIX_PREFIX) ? LOOPBACK : parseHostPort(a).host));
  } catch {
    return { spinUs: 0 };
  }
  const local = hosts.filter((h) => h === hosts[rank]).length;
  if (local <= cores) {
    // Large collectives poll only if their long polls can yield (spinner.ts).
    if (chosen.spinLateYield === false || !(await loadCpuYield())) return { spinUs: AUTO_SPIN_US };
    return { spinUs: AUTO_SPIN_US, spinLateYield: true, spinMaxBytes: chosen.spinMaxBytes ?? DEDICATED_SPIN_MAX_BYTES };
  }
  if (chosen.spinYield === false || !(await loadCpuYield())) return { spinUs: 0 };
  return { spinUs: AUTO_SPIN_US, spinYield: true, spinMaxBytes: chosen.spinMaxBytes ?? SHARED_SPIN_MAX_BYTES };
}

/**
 * Nothing listens at `address`: a refused TCP port, or a Unix domain socket that refuses, is gone
 * (ENOENT: a node removes its socket when it closes) or is no socket we may use. Retrying the
 * same address cannot help; the address book may know another (roster.ts, moved()).
 */
const UNIX_REFUSALS = new Set(['ECONNREFUSED', 'ENOENT', 'ENOTDIR', 'ENOTSOCK', 'EACCES', 'EPERM']);
function isRefusal(address: string, e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ECONNREFUSED' || (address.startsWith(UNIX_PREFIX) && code !== undefined && UNIX_REFUSALS.has(code));
}

/**
 * Dials a rank until it answers or the deadline passes. A refused secret, a protocol error, a
 * rank that has left the generation or a refused connect will not get better by retrying;
 * other errors (a reset in the handshake, a timeout) might. At the deadline the rank is failed:
 * PeerFailedError, reason timeout.
 */
async function dialWithRetry(
  transport: Transport,
  address: string,
  me: GroupIdentity,
  to: number,
  deadline: Deadline,
  clock: Clock,
  signal?: AbortSignal,
  readdress?: OpenCommunicatorConfig['readdress'],
  rebinds = false,
  park?: LinkPark,
): Promise<Link> {
  const kept = park?.take(address);
  if (kept) {
    try {
      return await kept.redial(me, to, deadline);
    } catch (e) {
      // The rank refused us (a wrong secret, or it left this generation): so it would on a new
      // connection. Anything else (the link closed while parked, say) is worth a fresh dial.
      if (e instanceof AuthError || e instanceof PeerFailedError) throw e;
    }
  }
  const refusalsUntil = clock.now() + (rebinds ? REBIND_GRACE_MS : 0);
  for (let attempt = 0; ; attempt++) {
    try {
      const conn = await transport.dial(address, deadline);
      const link = await Link.dial(conn, me, to, deadline, clock);
      link.dialedAddress = address;
      return link;
    } catch (e) {
      if (e instanceof AuthError || e instanceof PeerFailedError || (e instanceof RollcallError && e.code === 'ERR_PROTOCOL')) throw e;
      // Addresses are published only once listening, and a node's stays for its life: nothing
      // listening there means the rank's process (or its communicator) is gone.
      if (isRefusal(address, e) && clock.now() >= refusalsUntil) {
        if (readdress) {
          const stale = address;
          address = await readdress(to, stale, deadline).catch((why: Error) => {
            throw new PeerFailedError([to], 'closed', me.rank, `nothing listens at its address ${stale}, and no new one: ${why.message}`, { cause: e });
          });
          continue;
        }
        throw new PeerFailedError([to], 'closed', me.rank, `nothing listens at its address ${address}`, { cause: e });
      }
      const wait = backoffMs(attempt, 10, 500);
      if (remaining(deadline) <= wait || signal?.aborted) {
        throw new PeerFailedError([to], 'timeout', me.rank, `could not connect to rank ${to} at ${address}: ${(e as Error).message}`, { cause: e });
      }
      await sleep(wait, signal).catch(() => undefined);
    }
  }
}

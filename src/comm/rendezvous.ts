import { z } from 'zod';
import { AuthError, InvalidArgumentError, RendezvousTimeoutError, RollcallError } from '../errors.js';
import { waitForPrefix, type Store } from '../store/store.js';
import { realClock, type Clock } from '../util/clock.js';
import { backoffMs, deadlineIn, remaining, sleep, type Deadline } from '../util/deadline.js';
import { availableParallelism } from 'node:os';
import { AUTO_SPIN_US, Communicator, DEFAULT_TUNING, SHARED_SPIN_MAX_BYTES, type CommTuning } from './communicator.js';
import { loadCpuYield } from './cpu-yield.js';
import { Link, type GroupIdentity } from './link.js';
import { Peer } from './peer.js';
import { TcpTransport, parseHostPort } from './tcp-transport.js';
import type { Transport } from './transport.js';

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
 * Builds the communicator of one generation: publish our address in the store, wait for
 * everyone's, then connect each pair once (the higher rank dials the lower) and authenticate.
 * Everything happens before one deadline; a rank that never shows up is named in the error.
 */
export async function createCommunicator(config: CommunicatorConfig): Promise<Communicator> {
  const parsed = ConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new InvalidArgumentError(`bad communicator config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const c = parsed.data;
  const tuning: CommTuning = { ...DEFAULT_TUNING, ...config.tuning };
  const deadline: Deadline = deadlineIn(c.rendezvousTimeoutMs ?? 30_000);
  const transport = config.transport ?? new TcpTransport();
  const clock = config.clock ?? realClock;
  const me: GroupIdentity = { job: c.job, generation: c.generation, rank: c.rank, world: c.world, secret: c.secret, maxFrameBytes: tuning.maxFrameBytes };
  if (c.world === 1) return new Communicator(c.job, c.generation, c.rank, c.world, new Map(), tuning, clock);

  // Every rank dials every other (the link it reads from) and accepts every other's dial
  // (the link it writes to): see tcp-transport.ts.
  const others = Array.from({ length: c.world }, (_, r) => r).filter((r) => r !== c.rank);
  const rx = new Map<number, Link>();
  const tx = new Map<number, Link>();
  let lastAcceptError: Error | undefined;
  // Links that finish their handshake after we gave up must not linger and hold the process.
  let settled = false;
  const keep = (m: Map<number, Link>, l: Link): void => {
    if (settled) l.destroy(new Error('rendezvous already over'));
    else m.set(l.rank, l);
  };
  let acceptedAll!: () => void;
  const allAccepted = new Promise<void>((res) => (acceptedAll = res));
  const listener = await transport.listen((conn) => {
    Link.accept(conn, me, deadline, (r) => r !== c.rank && !tx.has(r), clock).then(
      (l) => {
        keep(tx, l);
        if (tx.size === others.length) acceptedAll();
      },
      (e: Error) => {
        // A stray or unauthenticated dialer must not bring us down; remember it for the report.
        lastAcceptError = e;
      },
    );
  }, c.host);

  try {
    // Our address goes out while we start watching for the others': one store round trip
    // fewer on the recovery path (a few ms each on a replicated store under load).
    const published = config.store.put(addressKey(c.job, c.generation, c.rank), listener.address);
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
    const addrs = wait.value;
    await Promise.all(others.map((j) => dialWithRetry(transport, addrs[j]!, me, j, deadline, clock, config.signal).then((l) => keep(rx, l))));
    await raceDeadline(allAccepted, deadline, () => {
      const missing = others.filter((r) => !tx.has(r));
      const why = lastAcceptError ? ` (last refused connection: ${lastAcceptError.message})` : '';
      return new RendezvousTimeoutError(missing, `rank ${c.rank}: rank(s) ${missing.join(',')} never connected${why}`, { rank: c.rank });
    });
    if (config.tuning?.spinUs === undefined) Object.assign(tuning, await autoSpin(addrs, c.rank, availableParallelism(), config.tuning ?? {}));
    else if (tuning.spinYield) await loadCpuYield();
    const peers = new Map(others.map((r) => [r, new Peer(r, rx.get(r)!, tx.get(r)!)]));
    return new Communicator(c.job, c.generation, c.rank, c.world, peers, tuning, clock);
  } catch (e) {
    for (const l of [...rx.values(), ...tx.values()]) l.destroy(new Error('rendezvous failed'));
    throw e;
  } finally {
    settled = true;
    listener.close();
  }
}

/**
 * How the ranks on this host poll (TCP addresses only). With a core for each, they poll; with
 * more ranks than cores, they poll only small collectives and yield the core between polls; if
 * yielding is not available, they do not poll. Choices the caller made are kept.
 */
export async function autoSpin(addrs: readonly string[], rank: number, cores: number, chosen: Partial<CommTuning>): Promise<Partial<CommTuning>> {
  let hosts: string[];
  try {
    hosts = addrs.map((a) => parseHostPort(a).host);
  } catch {
    return { spinUs: 0 };
  }
  const local = hosts.filter((h) => h === hosts[rank]).length;
  if (local <= cores) return { spinUs: AUTO_SPIN_US };
  if (chosen.spinYield === false || !(await loadCpuYield())) return { spinUs: 0 };
  return { spinUs: AUTO_SPIN_US, spinYield: true, spinMaxBytes: chosen.spinMaxBytes ?? SHARED_SPIN_MAX_BYTES };
}

async function dialWithRetry(transport: Transport, address: string, me: GroupIdentity, to: number, deadline: Deadline, clock: Clock, signal?: AbortSignal): Promise<Link> {
  for (let attempt = 0; ; attempt++) {
    try {
      const conn = await transport.dial(address, deadline);
      return await Link.dial(conn, me, to, deadline, clock);
    } catch (e) {
      // A refused secret will not get better by retrying; a refused connect might.
      if (e instanceof AuthError || (e instanceof RollcallError && e.code === 'ERR_PROTOCOL')) throw e;
      const wait = backoffMs(attempt, 10, 500);
      if (remaining(deadline) <= wait) {
        throw new RendezvousTimeoutError([to], `rank ${me.rank}: could not connect to rank ${to} at ${address}: ${(e as Error).message}`, { rank: me.rank, cause: e });
      }
      await sleep(wait, signal);
    }
  }
}

function raceDeadline(p: Promise<void>, deadline: Deadline, onTimeout: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(onTimeout()), remaining(deadline));
    t.unref();
    p.then(
      () => {
        clearTimeout(t);
        resolve();
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

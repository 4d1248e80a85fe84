import {
  AlreadyExistsError,
  CorruptRecordError,
  InvalidArgumentError,
  JobFailedError,
  RollcallError,
  StoreUnavailableError,
  TimeoutError,
} from '../errors.js';
import { listAndWatch, type KeyValue, type Store, type Watcher } from '../store/store.js';
import { backoffMs, remaining, sleep, withDeadline, type Deadline } from '../util/deadline.js';
import {
  failedMembership,
  isOut,
  nextMembership,
  parseMembership,
  restartMembership,
  type MembershipTransition,
  type MembershipChange,
  type MembershipPolicy,
  type MembershipRecord,
} from './membership-record.js';

export * from './membership-record.js';

/**
 * The job's membership in the store: one record at `rollcall/<job>/membership`, changed only
 * by compare-and-set on its modRevision. Normally one FMS writes each change (the coordinator of
 * fms/fault-proposer.ts, which batches the faults reported to it); the CAS keeps the record right
 * when more than one does (a reporter taking over from a coordinator that died, two nodes that
 * declare themselves slow): each losing proposer re-reads and recomputes, and the pure rule in
 * membership-record.ts makes a fault that is already applied a no-op.
 */

export function membershipKey(job: string): string {
  if (job.length === 0 || job.includes('/')) throw new InvalidArgumentError(`job id must be non-empty and contain no '/', got ${JSON.stringify(job)}`);
  return `rollcall/${job}/membership`;
}

export interface InitMembershipOptions {
  /** Initial members, in rank order. */
  nodes: readonly number[];
  spares?: readonly number[];
  /** Fewest members the job can run with; defaults to all initial nodes. */
  minNodes?: number;
  policy: MembershipPolicy;
}

/**
 * Writes generation 0. Only one launcher can win (CAS against "key absent"); the other gets
 * AlreadyExistsError rather than silently adopting a membership it did not choose.
 */
export async function initMembership(store: Store, job: string, opts: InitMembershipOptions): Promise<MembershipRecord> {
  const key = membershipKey(job);
  const nodes = [...opts.nodes];
  const spares = [...(opts.spares ?? [])];
  const minNodes = opts.minNodes ?? nodes.length;
  if (nodes.length === 0) throw new InvalidArgumentError('a job needs at least one node');
  if (!Number.isInteger(minNodes) || minNodes < 1 || minNodes > nodes.length) {
    throw new InvalidArgumentError(`minNodes must be an integer in 1..${nodes.length}, got ${minNodes}`);
  }
  const all = [...nodes, ...spares];
  for (const n of all) if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`node ids must be non-negative integers, got ${n}`);
  if (new Set(all).size !== all.length) throw new InvalidArgumentError('node ids must be distinct across nodes and spares');

  const record: MembershipRecord = { generation: 0, members: nodes, spares, failed: [], minNodes, policy: opts.policy, state: 'running' };
  const res = await store.compareAndSet(key, 0, JSON.stringify(record));
  if (!res.ok) {
    throw new AlreadyExistsError(key, `membership of job ${job} already exists (modRevision ${res.current?.modRevision}); another launcher initialised it`);
  }
  return record;
}

/** The current record, or undefined if the job has none. Throws CorruptRecordError on a bad value. */
export async function readMembership(store: Store, job: string): Promise<MembershipRecord | undefined> {
  const key = membershipKey(job);
  const kv = await store.get(key);
  return kv === undefined ? undefined : parseMembership(key, kv.value);
}

export type MembershipWatchEvent =
  | { kind: 'record'; record: MembershipRecord; modRevision: number }
  /**
   * `ended` is false for a corrupt or deleted record (the watch goes on, a later valid write is
   * still delivered) and true when the store broke the watch.
   */
  | { kind: 'error'; error: Error; ended: boolean };

/**
 * Delivers the current record (if any), then every later write, in revision order. Errors come
 * through the same callback so a consumer cannot forget them, and a bad record never throws
 * into the store's delivery path.
 */
export async function watchMembership(store: Store, job: string, onChange: (ev: MembershipWatchEvent) => void): Promise<Watcher> {
  const key = membershipKey(job);
  let closed = false;
  const handle = (kv: KeyValue): void => {
    let ev: MembershipWatchEvent;
    try {
      ev = { kind: 'record', record: parseMembership(key, kv.value), modRevision: kv.modRevision };
    } catch (e) {
      ev = { kind: 'error', error: e as Error, ended: false };
    }
    emit(ev);
  };
  const emit = (ev: MembershipWatchEvent): void => {
    if (closed) return;
    try {
      onChange(ev);
    } catch {
      // The consumer's bug; letting it escape would break the store watch for this key.
    }
  };
  // Watch, then list (listAndWatch): no write is missed between the two, and a watch from now
  // is served as writes happen (etcd serves one from the past on a 100 ms catch-up loop).
  const inner = await listAndWatch(
    store,
    key,
    (kvs) => {
      const current = kvs.find((kv) => kv.key === key);
      if (current) handle(current);
    },
    (ev) => {
      // The prefix also matches longer keys ("membership-x"); only the exact key is ours.
      if (ev.type === 'put') {
        if (ev.kv.key === key) handle(ev.kv);
      } else if (ev.key === key) {
        emit({ kind: 'error', error: new CorruptRecordError(key, `membership record ${key} was deleted`), ended: false });
      }
    },
    (e) => emit({ kind: 'error', error: e instanceof RollcallError ? e : new StoreUnavailableError(`membership watch broke: ${e.message}`, { cause: e }), ended: true }),
  );
  return {
    close: () => {
      closed = true;
      inner.close();
    },
  };
}

export interface ApplyFaultOptions {
  deadline: Deadline;
  signal?: AbortSignal;
  /**
   * The node proposing the change. A proposer the record already counts as failed writes
   * nothing: a node that was cut off may hold a proposal from before the cut (every peer
   * silent) and send it when the link comes back, and it must not evict the nodes that
   * replaced it.
   */
  proposer?: number;
  /**
   * The record as the caller last saw it, with its revision: the first compare-and-set is tried
   * against it without reading the store first (one round trip fewer for the FMS that detected
   * the fault); a stale one just fails the compare and the record is read.
   */
  known?: { record: MembershipRecord; modRevision: number };
}

export interface ApplyFaultResult {
  record: MembershipRecord;
  changed: MembershipChange;
  /** True only for the proposer whose write raised the generation. */
  bumped: boolean;
}

/**
 * Records that `failedNodes` are lost and returns the resulting membership. Safe to call from
 * every FMS at once: exactly one write happens per distinct change, the others find it already
 * applied and return the current record with `bumped: false`.
 *
 * Throws JobFailedError if this fault (or an earlier one) left fewer than minNodes members;
 * the terminal record is written first so every other FMS hits the same error.
 */
export async function applyFault(store: Store, job: string, failedNodes: readonly number[], opts: ApplyFaultOptions): Promise<ApplyFaultResult> {
  return transition(store, job, `applyFault(${job})`, (r) => nextMembership(r, failedNodes), opts);
}

/** Proposes a `restart` of every program after a program fault seen in `observedGeneration`. */
export async function applyRestart(store: Store, job: string, observedGeneration: number, opts: ApplyFaultOptions): Promise<ApplyFaultResult> {
  return transition(store, job, `applyRestart(${job})`, (r) => restartMembership(r, observedGeneration), opts);
}

/**
 * The same members in a new generation, every communicator formed again: after a communicator
 * broke in `observedGeneration` while every node it blamed still answers (a rendezvous that ran
 * out of time on a loaded machine). Keyed on the generation, like a restart, so every FMS
 * asking for it makes one bump.
 */
export async function applyRejoin(store: Store, job: string, observedGeneration: number, opts: ApplyFaultOptions): Promise<ApplyFaultResult> {
  return transition(store, job, `applyRejoin(${job})`, (r) => restartMembership(r, observedGeneration), opts);
}

/**
 * Ends the job: writes the terminal record (unless it is already there) so every FMS and the
 * launcher stop on the same reason. Returns the terminal record.
 */
export async function failJob(store: Store, job: string, reason: string, opts: ApplyFaultOptions): Promise<MembershipRecord> {
  try {
    return (await transition(store, job, `failJob(${job})`, (r) => failedMembership(r, reason), opts)).record;
  } catch (e) {
    if (e instanceof JobFailedError) return (await readMembership(store, job)) as MembershipRecord;
    throw e;
  }
}

/** Read, compute with a pure rule, compare-and-set; retried with backoff while others win. */
async function transition(
  store: Store,
  job: string,
  what: string,
  rule: (r: MembershipRecord) => MembershipTransition,
  opts: ApplyFaultOptions,
): Promise<ApplyFaultResult> {
  const key = membershipKey(job);
  const call = <T>(p: Promise<T>, step: string): Promise<T> => withDeadline(p, opts.deadline, `${what}: ${step}`, { signal: opts.signal });

  for (let attempt = 0; ; attempt++) {
    let current: MembershipRecord;
    let modRevision: number;
    if (attempt === 0 && opts.known) {
      ({ record: current, modRevision } = opts.known);
    } else {
      const kv = await call(store.get(key), 'read membership');
      if (kv === undefined) throw new InvalidArgumentError(`job ${job} has no membership record at ${key}`);
      current = parseMembership(key, kv.value);
      modRevision = kv.modRevision;
    }
    if (current.state === 'failed') throw new JobFailedError(job, current.reason ?? 'unknown', current.generation);
    if (opts.proposer !== undefined && isOut(current, opts.proposer)) return { record: current, changed: { removed: [], added: [] }, bumped: false };
    const t = rule(current);
    if (!t.write) return { record: current, changed: t.changed, bumped: false };

    const res = await call(store.compareAndSet(key, modRevision, JSON.stringify(t.record)), 'write membership');
    if (res.ok) {
      if (t.record.state === 'failed') throw new JobFailedError(job, t.record.reason ?? 'unknown', t.record.generation);
      return { record: t.record, changed: t.changed, bumped: t.bumped };
    }
    // Another FMS wrote first. Backing off with jitter spreads out the re-reads so a burst of
    // proposers does not collide again in lockstep; the re-read decides whether we still have
    // anything to add.
    // A failed first try against the caller's copy only says the copy was old: read at once.
    if (attempt === 0 && opts.known) continue;
    const wait = Math.min(backoffMs(attempt, 2, 100), remaining(opts.deadline));
    if (wait <= 0) throw new TimeoutError(`${what}: deadline passed after ${attempt + 1} conflicting write(s)`);
    await sleep(wait, opts.signal);
  }
}

/** The event-log line for a change, so its field names live next to the record they describe. */
export function membershipUpdatedEvent(result: ApplyFaultResult): {
  event: 'membership_updated';
  generation: number;
  members: number[];
  removed: number[];
  added: number[];
} {
  return { event: 'membership_updated', generation: result.record.generation, members: result.record.members, ...result.changed };
}

import { fork, type ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { AlreadyExistsError, AuthError, InvalidArgumentError, LeaseExpiredError, TimeoutError } from '../errors.js';
import { initMembership, readMembership, watchMembership, type MembershipRecord } from '../fms/membership.js';
import { isOut, nodesEver } from '../fms/membership-record.js';
import type { EventLine, LogEvent } from '../protocol/events.js';
import { openStore } from '../store/open-store.js';
import type { StoreAccess } from '../protocol/store-access.js';
import { listAndWatch, waitForPrefix, type Lease, type Store, type Watcher } from '../store/store.js';
import { JobMetrics } from '../dashboard/metrics.js';
import { startDashboard } from '../dashboard/server.js';
import { JobView } from '../dashboard/job-view.js';
import { EventLog } from './event-log.js';
import { killNodeGroups, stoppedExitCode } from './launcher.js';
import { fmsConfig } from './fms-config.js';
import { FmsState, sendToFms, type FromFms } from '../protocol/fms-messages.js';
import { EventPublisher, RecoveryFromEvents } from './job-events.js';
import { feedDashboard, type DashboardSink } from '../dashboard/summary-feed.js';
import type { LaunchOptions } from './launch-options.js';

const FMS_MAIN = fileURLToPath(new URL('../fms/fms-main.js', import.meta.url));

export interface NodeRunOptions {
  /** The job's options, the same on every host (validated as for `rollcall launch`). */
  job: LaunchOptions & { job: string };
  node: number;
  store: string;
  /** For `etcds://`: TLS material and a user. */
  storeAccess?: StoreAccess;
  /** Address every socket of this node binds to (a wildcard advertises this host's address). */
  host: string;
  secret: string;
  stateDir: string;
}

export type NodeOutcome = 'completed' | 'failed' | 'fenced' | 'stopped';

export interface NodeResult {
  outcome: NodeOutcome;
  exitCode: number;
  reason?: string;
  /** Rank 0's result, once the job completed. */
  result?: unknown;
}

export interface NodeHooks {
  log?(line: string): void;
  onDashboard?(url: string): void;
  onEvent?(e: LogEvent): void;
  stopSignal?: AbortSignal;
}

const secretKey = (job: string): string => `rollcall/${job}/secret-check`;
const claimKey = (job: string, node: number): string => `rollcall/${job}/claim/${node}`;
const resultKey = (job: string, node: number): string => `rollcall/${job}/result/${node}`;
const doneKey = (job: string, node: number): string => `rollcall/${job}/done/${node}`;
/** Each node's latest step, overwritten about once a second: for the dashboards, not the event history. */
const progressKey = (job: string, node: number): string => `rollcall/${job}/progress/${node}`;
const PROGRESS_PUBLISH_MS = 1000;
/**
 * Long enough that a healthy node starved of CPU at start-up keeps its claim: at 5 s, 16 hosts
 * starting on 2 busy cores lost claims before their FMSes had even registered (seen), and a node
 * that lost its claim fences itself. A cut-off node still fences within one TTL (keepClaim).
 */
const CLAIM_TTL_MS = 15_000;

/** A dashboard's view of the job, with the recoveries worked out from the events as they come. */
function dashboardSink(view: JobView, metrics: JobMetrics): DashboardSink {
  const recoveries = new RecoveryFromEvents();
  return {
    event: (e: EventLine): void => {
      view.event(e);
      metrics.event(e);
      const rec = recoveries.observe(e);
      if (rec) {
        view.event(rec);
        metrics.event(rec);
      }
    },
    progress: (node, step, ts) => view.progress(node, step, ts),
  };
}

/** A proof of the secret that can sit in the store: it shows whether two nodes hold the same one and reveals neither. */
function secretProof(secret: string, job: string): string {
  return createHmac('sha256', secret).update(`rollcall job ${job}`).digest('hex');
}

/**
 * Runs one node of a job that spans hosts: this host's FMS (and, inside it, the program), as
 * `rollcall launch` does for every node of a one-machine job. The hosts meet only in the store:
 * the first to arrive writes generation 0 by compare-and-set and the others check it matches;
 * each claims its node id with a lease, and a node that cannot renew that lease (cut off from
 * the store's majority) fences itself, because by then the majority has replaced it.
 */
export async function runNode(o: NodeRunOptions, hooks: NodeHooks = {}): Promise<NodeResult> {
  const { job: opts, node } = o;
  const job = opts.job;
  const all = opts.nodes + opts.spares;
  if (!Number.isInteger(node) || node < 0 || node >= all) throw new InvalidArgumentError(`--node ${node}: the job has nodes 0..${all - 1} (${opts.nodes} member(s), ${opts.spares} spare(s))`);
  const say = (l: string): void => {
    if (!opts.quiet) hooks.log?.(l);
  };
  // Started first: a port in use must stop the node before it joins anything.
  const view = new JobView();
  const metrics = new JobMetrics();
  const dashboard = opts.dashboard === undefined ? undefined : await startDashboard(opts.dashboard, view, metrics);
  const store = await openStore(o.store, { secret: o.secret, access: o.storeAccess, requestTimeoutMs: 5000 }).catch(async (e: unknown) => {
    await dashboard?.close();
    throw e;
  });
  let feed: Watcher | undefined;
  let lease: Lease | undefined;
  let fms: ChildProcess | undefined;
  let programPid: number | undefined;
  const log = new EventLog(opts.events, hooks.onEvent);
  const publisher = new EventPublisher(store, job, node, (e) => say(`events: ${e.message}`));
  try {
    await checkSecret(store, job, node, o.secret);
    const record = await joinMembership(store, opts, node);
    // Longer than an etcd election (docs/benchmarks.md, "Tuning choices and the figures behind
    // them"), so losing the etcd leader is no reason to fence; a cut-off node can do no harm
    // meanwhile (no quorum, no peers).
    lease = await claimNode(store, job, node, Math.max(CLAIM_TTL_MS, 4 * opts.faultTimeoutMs));

    const emit = (e: LogEvent): void => {
      log.write(e);
      publisher.publish(e);
    };
    if (dashboard) {
      // The whole job's view: from one dashboard's summary, or, on that one, every node's events and progress.
      feed = await feedDashboard(store, job, node, lease, dashboardSink(view, metrics));
      say(`dashboard: ${dashboard.url}`);
      hooks.onDashboard?.(dashboard.url);
    }
    let progressAt = 0;
    emit({ ts: Date.now(), event: 'node_started', node, job, host: hostname(), bind: o.host, pid: process.pid, generation: record.generation, role: record.members.includes(node) ? 'member' : 'spare' });
    say(`job ${job}: node ${node} of ${all} (${record.members.includes(node) ? 'member' : 'spare'}), store ${o.store}`);

    const config = fmsConfig(opts, { job, node, secret: o.secret, store: o.store, storeAccess: o.storeAccess, host: o.host, stateDir: o.stateDir });
    const child = fork(FMS_MAIN, [], { detached: true, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    fms = child;
    // The program leads a process group of its own (fms/program-process.ts), killed with the FMS's.
    let resolveEnd!: (r: NodeResult) => void;
    const ended = new Promise<NodeResult>((r) => (resolveEnd = r));
    let finished = false;
    const end = (r: NodeResult): void => {
      if (finished) return;
      finished = true;
      resolveEnd(r);
    };

    child.on('message', (m: FromFms) => {
      if (m.type === 'event') emit(m.event);
      else if (m.type === 'program') programPid = m.pid;
      else if (m.type === 'progress') {
        const now = Date.now();
        metrics.progress(m.node, m.step, now, m.stats);
        if (now - progressAt >= PROGRESS_PUBLISH_MS) {
          progressAt = now;
          void store.put(progressKey(job, node), JSON.stringify({ step: m.step, ts: now })).catch(() => undefined);
        }
      } else if (m.type === 'health') view.health(m.node, m.phi);
      else if (m.type === 'finished') {
        if (m.state === FmsState.Done) void store.put(resultKey(job, node), JSON.stringify(m.result ?? null)).catch((e: unknown) => say(`could not publish the result: ${(e as Error).message}`));
        else if (m.state === FmsState.Fenced) end({ outcome: 'fenced', exitCode: 3, reason: `node ${node} was declared failed and has left the job; its state is stale, so it does not rejoin` });
      }
    });
    child.on('exit', (code, signal) => {
      if (!finished) end({ outcome: 'failed', exitCode: 1, reason: `this node's FMS exited (code ${code}, signal ${signal})` });
    });
    sendToFms(child, { type: 'start', config });

    const stopWatch = await watchJobEnd(store, job, (r) => end(r));
    const keeper = keepClaim(lease, (why) => end({ outcome: 'fenced', exitCode: 3, reason: why }));
    const onStop = (): void => end({ outcome: 'stopped', exitCode: stoppedExitCode(hooks.stopSignal?.reason), reason: String(hooks.stopSignal?.reason ?? 'stopped') });
    if (hooks.stopSignal?.aborted) onStop();
    hooks.stopSignal?.addEventListener('abort', onStop, { once: true });

    const r = await ended;
    hooks.stopSignal?.removeEventListener('abort', onStop);
    keeper.stop();
    stopWatch.close();
    emit({ ts: Date.now(), event: r.outcome === 'completed' ? 'node_completed' : 'node_stopped', node, outcome: r.outcome, reason: r.reason ?? null });
    if (r.outcome === 'fenced') say(`fenced: ${r.reason}`);
    else if (r.outcome !== 'completed') say(`node ${r.outcome}: ${r.reason}`);
    return r;
  } finally {
    feed?.close();
    await dashboard?.close();
    if (fms) await stopFms(fms, () => programPid);
    await publisher.flush(2000);
    // Released at once on the way out, so a replacement host can claim the id without waiting for the TTL.
    await lease?.revoke().catch(() => undefined);
    await store.close().catch(() => undefined);
    log.close();
  }
}

async function checkSecret(store: Store, job: string, node: number, secret: string): Promise<void> {
  const proof = secretProof(secret, job);
  const r = await store.compareAndSet(secretKey(job), 0, proof);
  if (r.ok) return;
  const theirs = Buffer.from(r.current?.value ?? '', 'hex');
  const mine = Buffer.from(proof, 'hex');
  if (theirs.length !== mine.length || !timingSafeEqual(theirs, mine)) {
    throw new AuthError(`node ${node}: job ${job} was started with a different secret; give every node the same --secret-file or ROLLCALL_SECRET`, { node });
  }
}

/** The first node writes generation 0; every later one checks that it describes the same job. */
/**
 * Generation 0 written by the first host to arrive (compare-and-set), checked by the others.
 * The record names at most FAILED_KEPT failed nodes and counts older ones: the job's size is
 * `nodesEver`, and a node that is neither member nor spare is out for good, named or not.
 */
export async function joinMembership(store: Store, opts: LaunchOptions & { job: string }, node: number): Promise<MembershipRecord> {
  const nodes = Array.from({ length: opts.nodes }, (_, i) => i);
  const spares = Array.from({ length: opts.spares }, (_, i) => opts.nodes + i);
  try {
    return await initMembership(store, opts.job, { nodes, spares, minNodes: opts.minNodes, policy: opts.policy });
  } catch (e) {
    if (!(e instanceof AlreadyExistsError)) throw e;
  }
  const r = await readMembership(store, opts.job);
  if (!r) throw new InvalidArgumentError(`job ${opts.job}: membership record vanished while joining`);
  const ever = nodesEver(r);
  if (ever !== opts.nodes + opts.spares || r.policy !== opts.policy || (r.generation === 0 && r.members.length !== opts.nodes)) {
    throw new InvalidArgumentError(
      `node ${node}: job ${opts.job} runs ${r.generation === 0 ? r.members.length : ever - r.spares.length} node(s) and ${r.spares.length} spare(s) on fault policy ${r.policy}; this node was started with --nodes ${opts.nodes} --spares ${opts.spares} --on-fault ${opts.policy}`,
    );
  }
  if (r.state === 'failed') throw new InvalidArgumentError(`job ${opts.job} has already failed: ${r.reason ?? 'unknown'}`);
  // Not `failed.includes`: past FAILED_KEPT failures the oldest are no longer named, and such a node must not rejoin either.
  if (isOut(r, node)) {
    throw new InvalidArgumentError(`node ${node} was declared failed in job ${opts.job} (by generation ${r.generation}); its state is stale and it cannot rejoin. Run a new job, or give this host a node id that is still free.`);
  }
  // One list of the finished nodes, not a get per member: O(1) requests per node, so a job's
  // start costs the store O(N) requests, not O(N^2).
  const { kvs } = await store.list(doneKey(opts.job, 0).replace(/0$/, ''));
  const done = new Set(kvs.map((kv) => kv.key));
  if (r.members.every((n) => done.has(doneKey(opts.job, n)))) throw new InvalidArgumentError(`job ${opts.job} has already completed; use a new --job id`);
  return r;
}

async function claimNode(store: Store, job: string, node: number, ttlMs: number): Promise<Lease> {
  const lease = await store.grantLease(ttlMs);
  const me = JSON.stringify({ host: hostname(), pid: process.pid, since: Date.now() });
  const r = await store.compareAndSet(claimKey(job, node), 0, me, { lease: lease.id });
  if (r.ok) return lease;
  await lease.revoke().catch(() => undefined);
  let who = r.current?.value ?? '?';
  try {
    const c = JSON.parse(who) as { host?: string; pid?: number };
    who = `pid ${c.pid} on host ${c.host}`;
  } catch {
    // Shown as it is.
  }
  throw new AlreadyExistsError(claimKey(job, node), `node ${node} of job ${job} is already run by ${who}; each host needs its own --node id`);
}

/**
 * Renews the claim every third of its TTL, one renewal at a time. The node fences itself when
 * the store says the claim is gone (the lease expired: no renewal got through for a whole TTL),
 * or when it has reached no majority for UNREACHABLE_TTLS whole TTLs. Fencing late costs nothing
 * (cut off, the node can write no membership and finish no collective); fencing early is a false
 * fault, and an etcd election on a loaded machine was seen to block renewals for several seconds
 * (docs/architecture.md, "Many hosts: the store is the only meeting place").
 */
const UNREACHABLE_TTLS = 1;

function keepClaim(lease: Lease, fence: (why: string) => void): { stop(): void } {
  let lastOk = Date.now();
  let stopped = false;
  let renewing = false;
  const timer = setInterval(() => {
    const silentMs = Date.now() - lastOk;
    if (silentMs > UNREACHABLE_TTLS * lease.ttlMs) {
      fence(`this node could not reach the store's majority for ${silentMs} ms (${UNREACHABLE_TTLS} x its claim TTL of ${lease.ttlMs} ms): fenced itself`);
      return;
    }
    if (renewing) return;
    renewing = true;
    lease.keepAlive().then(
      () => (lastOk = Date.now()),
      (e: unknown) => {
        if (!stopped && e instanceof LeaseExpiredError) fence(`this node's claim on the store expired (${e.message}): the others have replaced it`);
      },
    ).finally(() => (renewing = false));
  }, Math.max(100, Math.floor(lease.ttlMs / 3)));
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** Resolves the node's run when the job completes (every member done) or fails. */
async function watchJobEnd(store: Store, job: string, end: (r: NodeResult) => void): Promise<Watcher> {
  let record: MembershipRecord | undefined;
  const done = new Set<number>();
  let checking = false;
  const check = (): void => {
    if (!record || checking) return;
    if (record.state === 'failed') return end({ outcome: 'failed', exitCode: 1, reason: record.reason ?? 'unknown' });
    const r = record;
    if (!r.members.every((n) => done.has(n))) return;
    checking = true;
    // Rank 0's result, published by its host when its program finished.
    waitForKey(store, resultKey(job, r.members[0]!), Date.now() + 10_000).then(
      (v) => end({ outcome: 'completed', exitCode: 0, result: JSON.parse(v) as unknown }),
      (e: unknown) => end({ outcome: 'completed', exitCode: 0, reason: `rank 0's result was not published: ${(e as Error).message}` }),
    );
  };
  const mw = await watchMembership(store, job, (ev) => {
    if (ev.kind === 'record' && (!record || ev.record.generation >= record.generation)) record = ev.record;
    check();
  });
  const add = (key: string): void => void done.add(Number(key.slice(key.lastIndexOf('/') + 1)));
  const dw = await listAndWatch(
    store,
    `rollcall/${job}/done/`,
    (kvs) => kvs.forEach((kv) => add(kv.key)),
    (ev) => {
      if (ev.type === 'put') {
        add(ev.kv.key);
        check();
      }
    },
    () => undefined,
  );
  check();
  return {
    close: () => {
      mw.close();
      dw.close();
    },
  };
}

function waitForKey(store: Store, key: string, deadline: number): Promise<string> {
  return waitForPrefix(store, key, (kvs) => kvs.get(key)?.value, deadline, () => new TimeoutError(`${key} did not appear by the deadline`));
}

async function stopFms(child: ChildProcess, programPid: () => number | undefined): Promise<void> {
  const killAll = (): void => killNodeGroups(child.pid, programPid(), 'SIGKILL');
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    sendToFms(child, { type: 'stop' });
    const t = setTimeout(killAll, 3000);
    await exited;
    clearTimeout(t);
  }
  // The FMS is gone; a program that ignored SIGTERM (or a child of it) may still be there.
  killAll();
}

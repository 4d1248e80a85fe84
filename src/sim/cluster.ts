import { InvalidArgumentError, TimeoutError } from '../errors.js';
import { FmsState, type FmsConfig, type FmsEvent } from '../fms/fms.js';
import { initMembership, membershipKey } from '../fms/membership.js';
import { fmsConfig } from '../launch/fms-config.js';
import { resolveLaunchOptions, type LaunchInput } from '../launch/launch-options.js';
import { MemoryStore } from '../store/memory-store.js';
import type { WatchEvent } from '../store/store.js';
import { FakeClock } from '../util/clock.js';
import { accused, type InjectedFault } from './fault-log.js';
import { MembershipView } from './membership-view.js';
import { pick, seededRng, type Rng } from './rng.js';
import { SimNetwork } from './sim-network.js';
import { SimNode } from './sim-node.js';
import { zeroStoreCounts, type StoreCounts } from './sim-store.js';

export interface ClusterOptions {
  nodes: number;
  spares: number;
  /** FMS-to-FMS datagram loss probability, [0, 1). */
  loss: number;
  latencyMs: number;
  jitterMs: number;
  heartbeatMs: number;
  faultTimeoutMs?: number | undefined;
  /** Watchers per node (--watchers), passed to the FMS's configuration; undefined: its default. */
  watchers?: number | undefined;
  seed: number;
  /** Round-trip datagrams through the real codec (see SimNetwork). */
  wire?: boolean;
  /** Program start-up and rendezvous times (simulated). */
  helloMs?: number;
  proxyMs?: number;
  /**
   * Real milliseconds the simulation may take in all (start-up included); past it, run() throws
   * a TimeoutError instead of grinding on (the all-to-all FMS at 1,000 nodes would take an hour).
   */
  realBudgetMs?: number | undefined;
}

const JOB = 'sim';
/** The finest step of simulated time: a store request issued in a timer completes within it. */
const QUANTUM_MS = 1;
/** Generation 0 must be running everywhere within this much simulated time. */
const WARMUP_LIMIT_MS = 120_000;

/** Real time passes only for promise turns (the store's), never for the simulated cluster. */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * A job of N nodes in one process: N real Fms objects (fms/fms.ts) on one FakeClock, sharing one
 * MemoryStore, talking over a SimNetwork, each supervising a SimProgram. Time moves only when
 * run() moves it: to the next timer (at least QUANTUM_MS on), then one promise turn so that every
 * store request and watch delivery that the timers started completes, then on.
 */
export class SimCluster {
  readonly clock = new FakeClock(0);
  readonly store: MemoryStore;
  readonly network: SimNetwork;
  readonly nodes: SimNode[] = [];
  readonly view: MembershipView;
  readonly faults: InjectedFault[] = [];
  readonly rng: Rng;
  readonly cfg0: FmsConfig;
  storeCounts: StoreCounts = zeroStoreCounts();
  /** Events by name since the warm-up, and the first few fms_error messages. */
  eventCounts = new Map<string, number>();
  readonly errors: string[] = [];
  /** When each node last logged anything: a crashed node must log nothing after its crash. */
  readonly lastEventAt = new Map<number, number>();
  /** Node-milliseconds of the nodes taking part since the warm-up: the denominator of per-node rates. */
  nodeMs = 0;
  measuredFrom = 0;
  private readonly partitioned = new Set<number>();
  /**
   * Nodes taking part: alive and, by their own record, in the job (a fenced node is silent;
   * counting it would flatter a cascade). The denominator of per-node rates; kept up to date on
   * each crash and delivery, as a scan per step would cost O(N) per simulated millisecond.
   */
  private taking = 0;
  private readonly realStart = performance.now();
  private nextPartition = 1;

  constructor(readonly opts: ClusterOptions) {
    if (!Number.isInteger(opts.nodes) || opts.nodes < 2) throw new InvalidArgumentError(`a simulated job needs at least 2 nodes, got ${opts.nodes}`);
    this.rng = seededRng(opts.seed);
    this.store = new MemoryStore({ clock: this.clock, autoExpire: false, historyLimit: 1000 });
    const wire = opts.wire ? { job: JOB, secret: 'sim-secret' } : undefined;
    this.network = new SimNetwork(this.clock, { latencyMs: opts.latencyMs, jitterMs: opts.jitterMs, loss: opts.loss, rng: this.rng, wire });
    // Through the launcher's own validation and config builder, so the FMS gets what `launch`
    // would give it. `watchers` is passed on when the options know it (the ring FMS).
    const input = {
      nodes: opts.nodes,
      spares: opts.spares,
      minNodes: 1,
      heartbeatMs: opts.heartbeatMs,
      faultTimeoutMs: opts.faultTimeoutMs,
      startTimeoutMs: 600_000,
      command: ['sim-program'],
      quiet: true,
      ...(opts.watchers === undefined ? {} : { watchers: opts.watchers }),
    } as LaunchInput;
    const launch = resolveLaunchOptions(input);
    const total = opts.nodes + opts.spares;
    this.view = new MembershipView(total);
    // Every node's configuration lists the job's N node ids; one frozen list is shared by all of
    // them, as N lists of N ids would hold N^2 numbers (800 MB at 10,000 nodes), all of it scanned
    // by every full garbage collection. The FMS only reads it (the ring before the first record).
    const allNodes: readonly number[] = Object.freeze(Array.from({ length: total }, (_, i) => i));
    const at = (node: number): FmsConfig => ({
      ...fmsConfig(launch, { job: JOB, node, secret: 'sim-secret', store: 'memory', host: '127.0.0.1', stateDir: '/nonexistent' }),
      nodes: allNodes as number[],
    });
    this.cfg0 = at(0);
    const world = {
      clock: this.clock,
      network: this.network,
      store: this.store,
      storeCounts: () => this.storeCounts,
      timing: { helloMs: opts.helloMs ?? 50, helloSpreadMs: opts.heartbeatMs, proxyMs: opts.proxyMs ?? 20 },
      rng: this.rng,
      onEvent: (node: number, e: FmsEvent, now: number) => this.onEvent(node, e, now),
      onDelivered: (node: number, ev: WatchEvent) => this.onDelivered(node, ev, membershipKey(JOB)),
    };
    for (let n = 0; n < total; n++) this.nodes.push(new SimNode(n, at(n), world));
  }

  get live(): SimNode[] {
    return this.nodes.filter((n) => n.alive);
  }

  /** Writes generation 0, starts every FMS and runs until each is in it (members running, spares spare). */
  async start(): Promise<void> {
    const { nodes, spares } = this.opts;
    await initMembership(this.store, JOB, {
      nodes: Array.from({ length: nodes }, (_, i) => i),
      spares: Array.from({ length: spares }, (_, i) => nodes + i),
      minNodes: 1,
      policy: this.cfg0.policy,
    });
    const kv = await this.store.get(membershipKey(JOB));
    if (kv) this.view.seed(kv.modRevision, kv.value);
    this.taking = this.nodes.filter((n) => this.takesPart(n.node)).length;
    let failed: unknown;
    const started = Promise.all(this.nodes.map((n) => n.start())).catch((e: unknown) => {
      failed = e;
    });
    const ready = (): boolean => this.nodes.every((n) => n.fms.state === (n.node < nodes ? FmsState.Running : FmsState.Spare) && (n.node >= nodes || n.program?.running === true));
    while (!ready()) {
      if (failed !== undefined) throw failed;
      if (this.clock.now() > WARMUP_LIMIT_MS) {
        const late = this.nodes.filter((n) => n.fms.state !== (n.node < nodes ? FmsState.Running : FmsState.Spare)).map((n) => n.node);
        throw new TimeoutError(`simulated job of ${nodes} nodes: ${late.length} node(s) not in generation 0 after ${WARMUP_LIMIT_MS} simulated ms (first: ${late.slice(0, 8).join(',')})`);
      }
      await this.step(this.clock.now() + 10 * this.opts.heartbeatMs);
    }
    await started;
    // A few intervals more, so that every watch has heard every peer before anything is measured.
    await this.run(5 * this.opts.heartbeatMs);
    this.resetCounts();
  }

  /** Counting starts over: what start-up cost is not measured. */
  resetCounts(): void {
    this.network.resetCounts();
    this.storeCounts = zeroStoreCounts();
    this.eventCounts = new Map();
    this.nodeMs = 0;
    this.measuredFrom = this.clock.now();
  }

  /**
   * Moves simulated time on by `ms`. `progress.report` is called after the step that passes each
   * `everyMs` of simulated time: looked at between steps, not a timer, so that asking for
   * progress changes no step of the simulation (the results stay those of the seed).
   */
  async run(ms: number, progress?: { everyMs: number; report(): void }): Promise<void> {
    const until = this.clock.now() + ms;
    let mark = progress ? this.clock.now() + progress.everyMs : Infinity;
    while (this.clock.now() < until) {
      await this.step(until);
      if (progress && this.clock.now() >= mark && this.clock.now() < until) {
        progress.report();
        while (mark <= this.clock.now()) mark += progress.everyMs;
      }
    }
  }

  private async step(until: number): Promise<void> {
    const budget = this.opts.realBudgetMs;
    if (budget !== undefined && performance.now() - this.realStart > budget) {
      throw new TimeoutError(`the simulation of ${this.opts.nodes} nodes took more than its real-time budget of ${Math.round(budget / 1000)} s, at simulated ${(this.clock.now() / 1000).toFixed(1)} s`);
    }
    const now = this.clock.now();
    const due = this.clock.nextDue;
    const target = Math.min(until, due === undefined ? until : Math.max(due, now + QUANTUM_MS));
    this.nodeMs += this.taking * (target - now);
    this.clock.advance(target - now);
    this.store.tick();
    await turn();
    if (this.view.dirty) this.checkAgreement();
  }

  /** A node's machine dies at `at` (simulated ms from now: 0, at once). */
  crashAt(node: number, inMs = 0): void {
    this.clock.setTimeout(() => {
      const n = this.nodes[node];
      if (!n || !n.alive) return;
      const was = this.takesPart(node);
      n.crash();
      if (was) this.taking--;
      this.faults.push({ kind: 'crash', nodes: [node], at: this.clock.now() });
    }, inMs);
  }

  /** `nodes` are cut off from everyone else (and everyone from them) for `forMs`. */
  partitionAt(nodes: number[], forMs: number, inMs = 0): void {
    this.clock.setTimeout(() => {
      const id = this.nextPartition++;
      this.network.partition(id, nodes);
      for (const n of nodes) this.partitioned.add(n);
      const f: InjectedFault = { kind: 'partition', nodes, at: this.clock.now() };
      this.faults.push(f);
      this.clock.setTimeout(() => {
        this.network.heal(id);
        f.healAt = this.clock.now();
      }, forMs);
    }, inMs);
  }

  /** A live member or spare no fault has touched yet, chosen by the seeded source. */
  pickVictims(k: number): number[] {
    const touched = new Set([...this.partitioned, ...this.faults.flatMap((f) => f.nodes)]);
    const candidates = this.nodes.filter((n) => n.alive && !touched.has(n.node) && this.view.of(n.node)?.inJob.has(n.node)).map((n) => n.node);
    return pick(this.rng, candidates, k);
  }

  /** Nodes removed from the job that never crashed: not partitioned (false) or partitioned. */
  evictions(): { falseEvictions: number[]; partitionedEvictions: number[] } {
    const crashed = new Set(this.faults.filter((f) => f.kind === 'crash').flatMap((f) => f.nodes));
    const falseEvictions: number[] = [];
    const partitionedEvictions: number[] = [];
    for (const n of this.view.removed.keys()) {
      if (crashed.has(n)) continue;
      if (this.partitioned.has(n)) partitionedEvictions.push(n);
      else falseEvictions.push(n);
    }
    return { falseEvictions, partitionedEvictions };
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) if (n.alive) n.crash();
    await this.store.close();
  }

  private onEvent(node: number, e: FmsEvent, now: number): void {
    this.eventCounts.set(e.event, (this.eventCounts.get(e.event) ?? 0) + 1);
    this.lastEventAt.set(node, now);
    if (e.event === 'fms_error' && this.errors.length < 5) this.errors.push(`node ${node}: ${e.message}`);
    const who = accused(e);
    if (who.length === 0) return;
    for (const f of this.faults) if (f.detectedAt === undefined && f.nodes.some((n) => who.includes(n))) f.detectedAt = now;
  }

  private onDelivered(node: number, ev: WatchEvent, key: string): void {
    if (ev.type !== 'put' || ev.kv.key !== key) return;
    const was = this.takesPart(node);
    this.view.delivered(node, ev.kv.modRevision, ev.kv.value, this.clock.now());
    this.taking += Number(this.takesPart(node)) - Number(was);
  }

  private takesPart(node: number): boolean {
    return this.nodes[node]?.alive === true && this.view.of(node)?.inJob.has(node) === true;
  }

  /** A crash is agreed once every live node still in the job by its own record holds one without the crashed node. */
  private checkAgreement(): void {
    this.view.dirty = false;
    const open = this.faults.filter((f) => f.kind === 'crash' && f.agreedAt === undefined);
    if (open.length === 0) return;
    const now = this.clock.now();
    for (const f of open) {
      const gone = f.nodes[0] as number;
      const agreed = this.nodes.every((n) => {
        if (!n.alive) return true;
        const rec = this.view.of(n.node);
        return !rec || !rec.inJob.has(n.node) || !rec.inJob.has(gone);
      });
      if (agreed) f.agreedAt = now;
    }
  }
}

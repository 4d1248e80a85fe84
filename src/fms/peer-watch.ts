import type { Store } from '../store/store.js';
import { waitForPrefix } from '../store/store.js';
import { TimeoutError } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Datagram, FaultCause } from '../protocol/datagram.js';
import type { DatagramEndpoint } from './datagram-endpoint.js';
import { HeartbeatMonitor } from './failure-detector.js';
import { FaultProposer, type FaultReport } from './fault-proposer.js';
import { doneKey, FmsState, type Emit, type FmsConfig, type FmsHooks } from './fms-shared.js';
import { IndirectProbe, PROBE_HELPERS } from './indirect-probe.js';
import { LocalHealth } from './local-health.js';
import { quantizeStall } from './stall-meter.js';
import type { MembershipRecord } from './membership.js';
import { coordinatorOf, onRing, ringOf, watchedBy, watchersOf } from './ring.js';

/** How often the FMS reports its suspicion of the others (shown by the dashboard). */
const HEALTH_EVERY_MS = 1000;

/** Nodes each FMS watches when the configuration does not say (`--watchers K`). */
export const DEFAULT_WATCHERS = 3;

/**
 * A node that answers its probes but is blamed for a broken communicator this many generations
 * running is a fault of its own (cause `connection`): its proxy cannot join, whatever its FMS
 * says, and renewing the generation again would loop for ever (seen: a node whose listener
 * could not be published re-formed the job 27 times).
 */
export const MAX_REJOINS = 3;

/**
 * Each FMS's address, under a prefix of its own (`.../fms/<node>/`), so that waiting for one
 * node's address watches that node's key alone, not every node whose id starts with the same digits.
 */
export const fmsAddressKey = (job: string, node: number): string => `rollcall/${job}/fms/${node}/address`;
const fmsPrefix = (job: string, node: number): string => `rollcall/${job}/fms/${node}/`;

/** What the peer watch needs from the rest of the FMS. */
export interface PeerWatchLinks {
  emit: Emit;
  state(): FmsState;
  stopping(): boolean;
  /** The membership record as this node last read it. */
  record(): MembershipRecord | undefined;
  /** A member failed in `generation`: this node's program waits for the next one. */
  idle(generation: number): void;
  /** Writes the membership without `failed` (compare-and-set); settles when written or given up. */
  propose(failed: number[], cause: FaultCause, programFault: boolean, generation: number): Promise<void>;
  /** Writes the same members in a new generation (the communicator of `generation` broke, everyone alive). */
  rejoin(generation: number): Promise<void>;
  /** The longest this process could not run lately (stall-meter.ts), told to our watchers in each beat. */
  stallMs(): number;
}

/** The timings of the peer watch, all derived from the heartbeat and the fault timeout. */
export function peerTimings(cfg: Pick<FmsConfig, 'heartbeatMs' | 'faultTimeoutMs'>): {
  probeMs: number;
  batchMs: number;
  peerBatchMs: number;
  takeoverMs: number;
  healthDecayMs: number;
} {
  // Reports of faults found close together are gathered this long into one generation: short
  // beside the recovery (a rendezvous), long beside a datagram's way to the coordinator.
  const batchMs = Math.max(5, Math.min(50, cfg.heartbeatMs / 8));
  const peerBatchMs = Math.max(batchMs, cfg.heartbeatMs / 2);
  return {
    probeMs: Math.max(cfg.heartbeatMs, cfg.faultTimeoutMs / 2),
    batchMs,
    peerBatchMs,
    takeoverMs: peerBatchMs + cfg.heartbeatMs,
    healthDecayMs: 2 * cfg.faultTimeoutMs,
  };
}

/**
 * This node's watch over a few other nodes and its word about them. The live nodes form a ring
 * (ring.ts); this FMS beats to its K predecessors and judges its K successors (phi accrual),
 * so its datagrams per interval do not depend on the size of the job. A silent successor is
 * only suspected: it becomes a fault once an indirect probe through other nodes confirms it
 * (indirect-probe.ts), and the confirmed fault is reported to the one FMS that writes the next
 * membership (fault-proposer.ts). Our own health (local-health.ts: late timers, refuted
 * suspicions, rounds nobody answered) stretches every timeout, so a starved or cut-off
 * observer waits instead of accusing.
 */
export class PeerWatch {
  private readonly k: number;
  private readonly addresses = new Map<number, string>();
  private readonly resolving = new Set<number>();
  private readonly monitor: HeartbeatMonitor;
  private readonly health: LocalHealth;
  private readonly probe: IndirectProbe;
  private readonly proposer: FaultProposer;
  private readonly declared = new Set<string>();
  /** Suspects being confirmed, with what made us suspect them. */
  private readonly suspects = new Map<number, FaultCause>();
  /** Suspects named by a broken communicator, with its generation and message. */
  private readonly brokenIn = new Map<number, { generation: number; message: string }>();
  /** Nodes for which the generation was renewed (they answered), the last generation renewed and how many running. */
  private readonly rejoinedFor = new Map<number, { generation: number; times: number }>();
  private ring: readonly number[] = [];
  private ringFor: MembershipRecord | undefined | null = null;
  /** The nodes we beat to, and those we judge. */
  private watchers: number[] = [];
  private readonly watching = new Set<number>();
  /** At start-up, a watched node is judged from its first beat (it may still be starting), or from the start timeout. */
  private readonly awaitingFirstBeat = new Set<number>();
  private warm = false;
  private lastSuspicionAt = -Infinity;
  /** Beating to the others: from start() until silence(). */
  private beating = false;
  private silenced = false;
  private lastBeatAt = -Infinity;
  private beatTimer: TimerHandle | undefined;
  private warmTimer: TimerHandle | undefined;
  private healthAt = -Infinity;

  constructor(
    private readonly cfg: FmsConfig,
    private readonly clock: Clock,
    private readonly store: Store,
    private readonly endpoint: DatagramEndpoint,
    private readonly hooks: Pick<FmsHooks, 'health'>,
    private readonly links: PeerWatchLinks,
  ) {
    this.k = cfg.watchers ?? DEFAULT_WATCHERS;
    const t = peerTimings(cfg);
    this.health = new LocalHealth(clock, t.healthDecayMs, () => this.monitor.refreshAll());
    this.monitor = new HeartbeatMonitor({
      clock,
      intervalMs: cfg.heartbeatMs,
      maxSilenceMs: cfg.faultTimeoutMs,
      slowdown: () => this.health.multiplier(),
      onStall: () => this.health.worse(),
      onSuspect: (n, info) => {
        const allowed = info.allowanceMs > 0 ? `, ${Math.round(info.allowanceMs)} ms more allowed for its own recent stalls` : '';
        this.suspect(n, 'heartbeat', `FMS of node ${n} silent for ${Math.round(info.silenceMs)} ms (${info.reason}${allowed})`);
      },
    });
    this.probe = new IndirectProbe(clock, t.probeMs, {
      node: cfg.node,
      address: endpoint.address,
      send: (to, d) => this.endpoint.send(to, d),
      addressOf: (n) => this.addresses.get(n),
      helpers: (target, count) => this.helpers(target, count),
      alone: (target) => this.ring.every((n) => n === target || n === cfg.node),
      health: this.health,
      confirmed: (target, detail) => {
        const cause = this.suspects.get(target) ?? 'heartbeat';
        this.suspects.delete(target);
        this.declareFault([target], cause, detail);
      },
      cleared: (target, how) => {
        const cause = this.suspects.get(target);
        this.suspects.delete(target);
        const broken = this.brokenIn.get(target);
        this.brokenIn.delete(target);
        // The communicator broke but the node it blamed answers: nobody is evicted, and the
        // same members form it again in a new generation (a rendezvous that ran out of time),
        // unless that node was blamed in the generations just before as well.
        if (cause === 'connection' && how === 'ack' && broken && this.links.record()?.generation === broken.generation) {
          const prev = this.rejoinedFor.get(target);
          const times = prev?.generation === broken.generation - 1 ? prev.times + 1 : 1;
          if (times >= MAX_REJOINS) {
            this.rejoinedFor.delete(target);
            this.declareFault([target], 'connection', `node ${target} answers its probes, but the communicator broke on it ${times} generations running: ${broken.message}`);
            return;
          }
          this.rejoinedFor.set(target, { generation: broken.generation, times });
          void this.links.rejoin(broken.generation);
        }
        this.monitor.acquit(target);
        // We suspected a live node: its beats went missing here, or we were too slow to read them.
        if (how !== 'unresolved') this.health.worse();
        this.links.emit('peer_cleared', { suspect: target, how, health: this.health.score });
      },
    });
    this.proposer = new FaultProposer(clock, t.batchMs, t.peerBatchMs, t.takeoverMs, {
      node: cfg.node,
      record: () => this.links.record(),
      coordinator: (failed) => coordinatorOf(this.ring, (n) => failed.includes(n) || this.suspects.has(n) || this.monitor.isSuspected(n)),
      addressOf: (n) => this.addressOf(n),
      send: (to, d) => this.endpoint.send(to, d),
      propose: (failed, cause, programFault, generation) => this.links.propose(failed, cause, programFault, generation),
      notified: (r, to) => this.links.emit('fault_notified', { by: this.cfg.node, failed: r.failed, to }),
    });
  }

  async register(): Promise<void> {
    await this.store.put(fmsAddressKey(this.cfg.job, this.cfg.node), this.endpoint.address);
  }

  /**
   * Looks up the addresses this FMS needs (its ring neighbours, a few helpers, the likely
   * coordinators: a handful of gets, whatever N is), waiting for those not registered yet,
   * then beats to its watchers and judges the nodes it watches.
   */
  async start(): Promise<void> {
    this.rering();
    await this.fetch(this.wanted(), Date.now() + this.cfg.startTimeoutMs);
    if (this.silenced) return;
    this.monitor.start();
    this.warmTimer = this.clock.setTimeout(() => {
      this.warmTimer = undefined;
      this.warm = true;
      for (const n of this.awaitingFirstBeat) this.monitor.watch(n);
      this.awaitingFirstBeat.clear();
    }, this.cfg.startTimeoutMs);
    this.beating = true;
    this.beat();
  }

  /** A beat from `node`, which could not run for `stallMs` lately: it is allowed that much more silence. */
  onHeartbeat(node: number, stallMs = 0): void {
    if (this.awaitingFirstBeat.delete(node)) this.monitor.watch(node);
    // A suspect is not judged by the monitor until cleared: its beat clears it.
    if (!this.monitor.heartbeat(node, stallMs)) this.probe.heard(node);
  }

  /** Probes, acks, requests to probe, nacks: this FMS answers them even before it judges anyone. */
  onProbeDatagram(d: Extract<Datagram, { type: 'probe' | 'ack' | 'probe_request' | 'nack' }>): void {
    if (this.links.state() === FmsState.Fenced) return;
    this.probe.onDatagram(d);
  }

  /** A fault report from another FMS, which takes us for the coordinator. */
  onFaultNotice(d: Extract<Datagram, { type: 'fault' }>): void {
    const record = this.links.record();
    if (!record || this.links.state() === FmsState.Fenced || this.links.stopping()) return;
    if (d.failed.some((n) => record.members.includes(n)) && !d.failed.includes(this.cfg.node)) this.links.idle(record.generation);
    this.proposer.onReport(d);
  }

  /** The record changed (the reactor read a new one): the ring and who watches whom are derived again. */
  forget(_nodes: readonly number[]): void {
    this.rering();
  }

  /** Stops judging the others and beating to them. */
  silence(): void {
    this.silenced = true;
    this.monitor.stop();
    this.probe.stop();
    this.proposer.stop();
    this.beating = false;
    if (this.beatTimer !== undefined) this.clock.clearTimeout(this.beatTimer);
    this.beatTimer = undefined;
    if (this.warmTimer !== undefined) this.clock.clearTimeout(this.warmTimer);
    this.warmTimer = undefined;
  }

  /** Our health score (Lifeguard), for tests and the dashboard. */
  get healthScore(): number {
    return this.health.score;
  }

  /** What our timeouts are multiplied by: the health score + 1. */
  healthMultiplier(): number {
    return this.health.multiplier();
  }

  /** The nodes this FMS beats to and those it judges, as derived from the record. */
  get view(): { watchers: number[]; watching: number[] } {
    return { watchers: [...this.watchers], watching: [...this.watching] };
  }

  /**
   * Our program's heartbeat came in: our beat to the others goes out in the same wake-up, if half
   * an interval has passed since the last. The program beats at our interval, so while it runs
   * the timer below never fires: an FMS wakes for its program's beats, not also for its own.
   */
  programBeat(): void {
    if (this.beating && this.clock.now() - this.lastBeatAt >= this.cfg.heartbeatMs / 2) this.beat();
  }

  /**
   * Beats to our K watchers, and arms the next: a quarter interval late, so that it does not race
   * the program's beat it stands in for, yet a peer hearing us every 1.25 intervals while our
   * program is away (starting, stopped, recovering) is far from suspecting us. The phis for the
   * dashboard go with a beat, about once a second: a timer of their own was one more wake-up.
   */
  private beat(): void {
    if (this.beatTimer !== undefined) this.clock.clearTimeout(this.beatTimer);
    this.beatTimer = this.clock.setTimeout(() => {
      this.beatTimer = undefined;
      this.beat();
    }, 1.25 * this.cfg.heartbeatMs);
    this.rering();
    const now = this.clock.now();
    this.lastBeatAt = now;
    const stall = quantizeStall(this.links.stallMs());
    const beat: Datagram = stall > 0 ? { type: 'heartbeat', node: this.cfg.node, stall } : { type: 'heartbeat', node: this.cfg.node };
    for (const n of this.watchers) {
      const addr = this.addressOf(n);
      if (addr !== undefined) this.endpoint.send(addr, beat);
    }
    if (this.hooks.health && now - this.healthAt >= HEALTH_EVERY_MS - this.cfg.heartbeatMs / 2) {
      this.healthAt = now;
      this.hooks.health(this.cfg.node, this.monitor.phis());
    }
  }

  /** Derives the ring from the record (once per record: O(N log N) per generation, nothing per beat). */
  private rering(): void {
    const record = this.links.record();
    if (record === this.ringFor) return;
    this.ringFor = record;
    this.ring = ringOf(record, this.cfg.nodes);
    const me = this.cfg.node;
    const fenced = record?.failed.includes(me) === true;
    this.watchers = fenced ? [] : watchersOf(this.ring, me, this.k);
    const next = new Set(fenced ? [] : watchedBy(this.ring, me, this.k));
    for (const n of this.watching) {
      if (next.has(n)) continue;
      this.watching.delete(n);
      this.awaitingFirstBeat.delete(n);
      this.monitor.unwatch(n);
      this.probe.cancel(n);
      this.suspects.delete(n);
    }
    for (const n of next) {
      if (this.watching.has(n)) continue;
      this.watching.add(n);
      if (this.warm) this.monitor.watch(n);
      else this.awaitingFirstBeat.add(n);
    }
    // Addresses of nodes that left the ring are dropped, so the book stays the size of what we need.
    // A search of the sorted ring per address kept (a few), not a set of the ring: O(log N), not O(N).
    for (const n of this.addresses.keys()) if (!onRing(this.ring, n)) this.addresses.delete(n);
    if (this.beating) for (const n of this.wanted()) void this.resolve(n);
  }

  /** Whose addresses this FMS keeps: watchers, watched, a few more successors as helpers, the two lowest (coordinators). */
  private wanted(): number[] {
    const me = this.cfg.node;
    const around = watchedBy(this.ring, me, this.k + PROBE_HELPERS);
    return [...new Set([...this.watchers, ...around, ...this.ring.slice(0, 2)])].filter((n) => n !== me);
  }

  private addressOf(n: number): string | undefined {
    const a = this.addresses.get(n);
    if (a === undefined) void this.resolve(n);
    return a;
  }

  /** One get for an address we do not have yet; a miss is tried again when next needed. */
  private async resolve(n: number): Promise<void> {
    if (this.addresses.has(n) || this.resolving.has(n)) return;
    this.resolving.add(n);
    try {
      const kv = await this.store.get(fmsAddressKey(this.cfg.job, n));
      if (kv) this.addresses.set(n, kv.value);
    } catch {
      // The store is away: the next beat or probe asks again.
    } finally {
      this.resolving.delete(n);
    }
  }

  /** Gets each address; for one not registered yet, waits on that node's own key until the deadline. */
  private async fetch(nodes: number[], deadline: number): Promise<void> {
    const { job, node } = this.cfg;
    const missing: number[] = [];
    await Promise.all(
      nodes.map(async (n) => {
        const kv = await this.store.get(fmsAddressKey(job, n));
        if (kv) this.addresses.set(n, kv.value);
        else missing.push(n);
      }),
    );
    const late: number[] = [];
    await Promise.all(
      missing.map(async (n) => {
        try {
          const value = await waitForPrefix(
            this.store,
            fmsPrefix(job, n),
            (kvs) => kvs.get(fmsAddressKey(job, n))?.value,
            deadline,
            () => new TimeoutError(`node ${n}`),
          );
          this.addresses.set(n, value);
        } catch (e) {
          if (!(e instanceof TimeoutError)) throw e;
          late.push(n);
        }
      }),
    );
    if (late.length > 0) {
      throw new TimeoutError(`node ${node}: FMS of node(s) ${late.sort((a, b) => a - b).join(',')} did not register within ${this.cfg.startTimeoutMs} ms`);
    }
  }

  /** Up to `count` live nodes with known addresses to ask about `target`, in random order. */
  private helpers(target: number, count: number): number[] {
    const out: number[] = [];
    for (const n of this.addresses.keys()) {
      if (n === target || n === this.cfg.node || !onRing(this.ring, n) || this.suspects.has(n) || this.monitor.isSuspected(n)) continue;
      out.push(n);
    }
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out.slice(0, count);
  }

  /** The monitor (or a broken proxy) points at `node`: confirmed by an indirect probe before anything is done. */
  private suspect(node: number, cause: FaultCause, detail: string): void {
    if (this.suspects.has(node) || this.probe.has(node)) return;
    const now = this.clock.now();
    const many = now === this.lastSuspicionAt || this.suspects.size > 0;
    this.lastSuspicionAt = now;
    this.suspects.set(node, cause);
    this.links.emit('peer_suspected', { suspect: node, cause, detail, health: this.health.score });
    this.probe.confirm(node, detail);
    // Several of our few peers silent at once says more about us than about them: the timeouts
    // that follow are stretched. Counted after this round started, so that two real crashes
    // found together are confirmed together (one generation), not one a timeout after the other.
    if (many) this.health.worse();
  }

  /**
   * A proxy saw a peer fail (reset, silence) or could not rendezvous. The failed node's own FMS
   * usually reports first (it sees its program exit within milliseconds), so we wait one
   * heartbeat interval; then a node we watch is suspected (and confirmed as any other); one we
   * do not watch is left to its own watchers, so a broken communicator is not N reports.
   */
  onProxyBroken(generation: number, error: { failedRanks?: readonly number[]; missingRanks?: readonly number[]; message: string }): void {
    const record = this.links.record();
    if (!record || generation !== record.generation) return;
    const ranks = error.failedRanks ?? error.missingRanks ?? [];
    const nodes = ranks.map((r) => record.members[r]).filter((n): n is number => n !== undefined && n !== this.cfg.node);
    this.links.emit('proxy_broken', { generation, failed: nodes, message: error.message });
    this.links.idle(generation);
    const mine = nodes.filter((n) => this.watching.has(n));
    if (mine.length === 0) return;
    this.clock.setTimeout(() => {
      if (this.links.record()?.generation !== generation) return;
      void this.stillRunning(mine).then((running) => {
        if (this.links.record()?.generation !== generation) return;
        for (const n of running) {
          if (this.monitor.isSuspected(n) || this.suspects.has(n)) continue;
          this.brokenIn.set(n, { generation, message: error.message });
          this.suspect(n, 'connection', error.message);
        }
      });
    }, this.cfg.heartbeatMs);
  }

  /** The nodes whose programs have not finished: a finished one closing its links is no fault. */
  private async stillRunning(nodes: number[]): Promise<number[]> {
    const done = await Promise.all(nodes.map((n) => this.store.get(doneKey(this.cfg.job, n)).then((kv) => kv !== undefined, () => false)));
    return nodes.filter((_, i) => !done[i]);
  }

  /**
   * A fault found here: our own program's (exit, hang), or a peer's confirmed by a probe. Logged
   * once per node and generation, our program idled, and reported to the coordinator. Our own
   * node named by ourselves is our program's fault, not the node's: in `restart` mode the node
   * stays and every program is restarted.
   */
  declareFault(failed: number[], cause: FaultCause, detail: string): void {
    const record = this.links.record();
    if (!record || this.links.stopping() || this.links.state() === FmsState.Fenced || record.failed.includes(this.cfg.node)) return;
    const fresh = failed.filter((n) => (record.members.includes(n) || record.spares.includes(n)) && !this.declared.has(`${record.generation}:${n}`));
    if (fresh.length === 0) return;
    for (const n of fresh) this.declared.add(`${record.generation}:${n}`);
    this.links.emit('fault_detected', { by: this.cfg.node, failed: fresh, cause, generation: record.generation, detail });
    if (fresh.some((n) => record.members.includes(n)) && !fresh.includes(this.cfg.node)) this.links.idle(record.generation);
    // A report by a node of itself is its own program's fault (fault-proposer.ts).
    const report: FaultReport = { by: this.cfg.node, failed: fresh, cause, generation: record.generation };
    this.proposer.report(report);
  }
}

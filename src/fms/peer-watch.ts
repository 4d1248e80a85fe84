import type { Store } from '../store/store.js';
import { waitForPrefix } from '../store/store.js';
import { TimeoutError } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Datagram, FaultCause } from '../protocol/datagram.js';
import type { DatagramEndpoint } from './datagram-endpoint.js';
import { HeartbeatMonitor } from './failure-detector.js';
import { doneKey, FmsState, type Emit, type FmsConfig, type FmsHooks } from './fms-shared.js';
import type { MembershipRecord } from './membership.js';

/** How often the FMS reports its suspicion of the others (shown by the dashboard). */
const HEALTH_EVERY_MS = 1000;

const fmsKey = (job: string, node: number): string => `rollcall/${job}/fms/${node}`;

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
}

/**
 * This node's watch over the other nodes and its word to them: heartbeats to every other FMS and
 * judged from them (phi accrual), fault notices sent and received, the delayed blame after a
 * proxy broke, and declaring a fault, whoever found it.
 */
export class PeerWatch {
  private readonly peers = new Map<number, string>();
  private readonly monitor: HeartbeatMonitor;
  private readonly declared = new Set<string>();
  /** Beating to the others: from start() until silence(). */
  private beating = false;
  private lastBeatAt = -Infinity;
  private beatTimer: TimerHandle | undefined;
  private healthAt = -Infinity;

  constructor(
    private readonly cfg: FmsConfig,
    private readonly clock: Clock,
    private readonly store: Store,
    private readonly endpoint: DatagramEndpoint,
    private readonly hooks: Pick<FmsHooks, 'health'>,
    private readonly links: PeerWatchLinks,
  ) {
    this.monitor = new HeartbeatMonitor({
      clock,
      intervalMs: cfg.heartbeatMs,
      maxSilenceMs: cfg.faultTimeoutMs,
      onSuspect: (n, info) => void this.declareFault([n], 'heartbeat', `FMS of node ${n} silent for ${Math.round(info.silenceMs)} ms (${info.reason})`),
    });
  }

  async register(): Promise<void> {
    await this.store.put(fmsKey(this.cfg.job, this.cfg.node), this.endpoint.address);
  }

  /** Waits for every other FMS's address, then beats to them and judges them. */
  async start(): Promise<void> {
    const { job, node } = this.cfg;
    const others = this.cfg.nodes.filter((n) => n !== node);
    const kvs = await waitForPrefix(
      this.store,
      `rollcall/${job}/fms/`,
      (list) => (others.every((n) => list.has(fmsKey(job, n))) ? [...list.values()] : undefined),
      Date.now() + this.cfg.startTimeoutMs,
      (list) => new TimeoutError(`node ${node}: FMS of node(s) ${others.filter((n) => !list.has(fmsKey(job, n))).join(',')} did not register within ${this.cfg.startTimeoutMs} ms`),
    );
    for (const kv of kvs) {
      const n = Number(kv.key.slice(kv.key.lastIndexOf('/') + 1));
      if (n !== node) this.peers.set(n, kv.value);
    }
    for (const n of this.peers.keys()) this.monitor.watch(n);
    this.monitor.start();
    this.beating = true;
    this.beat();
  }

  onHeartbeat(node: number): void {
    this.monitor.heartbeat(node);
  }

  /** Nodes declared failed: their FMSes no longer beat, so they are no longer judged. */
  forget(nodes: readonly number[]): void {
    for (const n of nodes) this.monitor.unwatch(n);
  }

  /** Stops judging the others and beating to them. */
  silence(): void {
    this.monitor.stop();
    this.beating = false;
    if (this.beatTimer !== undefined) this.clock.clearTimeout(this.beatTimer);
    this.beatTimer = undefined;
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
   * Beats to the others, and arms the next: a quarter interval late, so that it does not race
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
    const now = this.clock.now();
    this.lastBeatAt = now;
    const record = this.links.record();
    for (const [n, addr] of this.peers) if (!record?.failed.includes(n)) this.endpoint.send(addr, { type: 'heartbeat', node: this.cfg.node });
    if (this.hooks.health && now - this.healthAt >= HEALTH_EVERY_MS - this.cfg.heartbeatMs / 2) {
      this.healthAt = now;
      this.hooks.health(this.cfg.node, this.monitor.phis());
    }
  }

  /**
   * A proxy saw a peer fail (reset, silence) or could not rendezvous. The failed node's own FMS
   * usually reports first (it sees its program exit within milliseconds), so we wait one
   * heartbeat interval before blaming the node ourselves.
   */
  onProxyBroken(generation: number, error: { failedRanks?: readonly number[]; missingRanks?: readonly number[]; message: string }): void {
    const record = this.links.record();
    if (!record || generation !== record.generation) return;
    const ranks = error.failedRanks ?? error.missingRanks ?? [];
    const nodes = ranks.map((r) => record.members[r]).filter((n): n is number => n !== undefined && n !== this.cfg.node);
    this.links.emit('proxy_broken', { generation, failed: nodes, message: error.message });
    this.links.idle(generation);
    if (nodes.length === 0) return;
    this.clock.setTimeout(() => {
      if (this.links.record()?.generation !== generation) return;
      void this.stillRunning(nodes).then((running) => {
        if (running.length > 0 && this.links.record()?.generation === generation) void this.declareFault(running, 'connection', error.message);
      });
    }, this.cfg.heartbeatMs);
  }

  /** The nodes whose programs have not finished: a finished one closing its links is no fault. */
  private async stillRunning(nodes: number[]): Promise<number[]> {
    const done = await Promise.all(nodes.map((n) => this.store.get(doneKey(this.cfg.job, n)).then((kv) => kv !== undefined, () => false)));
    return nodes.filter((_, i) => !done[i]);
  }

  onFaultNotice(d: Extract<Datagram, { type: 'fault' }>): void {
    const record = this.links.record();
    if (!record || d.generation < record.generation || this.links.state() === FmsState.Fenced) return;
    if (d.failed.some((n) => record.members.includes(n))) this.links.idle(d.generation);
    // The detector may die before it writes the membership; so we propose the same change
    // ourselves if it has not appeared shortly. The compare-and-set makes it happen once.
    this.clock.setTimeout(() => {
      const now = this.links.record();
      if (now && now.generation <= d.generation) void this.links.propose(d.failed, d.cause, d.by === d.failed[0] && d.failed.length === 1, d.generation);
    }, this.cfg.heartbeatMs / 2);
  }

  /**
   * @param ownProgram the fault is this node's program (exit or hang), not the node itself: in
   * `restart` mode the node stays and every program is restarted.
   */
  async declareFault(failed: number[], cause: FaultCause, detail: string, ownProgram = false): Promise<void> {
    const record = this.links.record();
    if (!record || this.links.stopping() || this.links.state() === FmsState.Fenced || record.failed.includes(this.cfg.node)) return;
    const fresh = failed.filter((n) => (record.members.includes(n) || record.spares.includes(n)) && !this.declared.has(`${record.generation}:${n}`));
    if (fresh.length === 0) return;
    for (const n of fresh) this.declared.add(`${record.generation}:${n}`);
    this.links.emit('fault_detected', { by: this.cfg.node, failed: fresh, cause, generation: record.generation, detail });
    const to: number[] = [];
    for (const [n, addr] of this.peers) {
      if (fresh.includes(n) || record.failed.includes(n)) continue;
      this.endpoint.send(addr, { type: 'fault', by: this.cfg.node, failed: fresh, cause, generation: record.generation });
      to.push(n);
    }
    this.links.emit('fault_notified', { by: this.cfg.node, failed: fresh, to });
    if (fresh.some((n) => record.members.includes(n)) && !fresh.includes(this.cfg.node)) this.links.idle(record.generation);
    await this.links.propose(fresh, cause, ownProgram, record.generation);
  }
}

import type { Clock, TimerHandle } from '../util/clock.js';
import type { Datagram } from '../protocol/datagram.js';
import type { LocalHealth } from './local-health.js';

type Of<T extends Datagram['type']> = Extract<Datagram, { type: T }>;

/** Helpers asked per round (SWIM's k; memberlist's IndirectChecks is 3). */
export const PROBE_HELPERS = 3;
/** Rounds without any answer before a suspicion is dropped (unresolved: judged afresh later). */
export const MAX_SILENT_ROUNDS = 3;

export interface ProbeLinks {
  readonly node: number;
  /** Our own datagram address, for replies. */
  readonly address: string;
  send(to: string, d: Datagram): void;
  /** A known address, or undefined (then the node is not probed directly, or not asked). */
  addressOf(node: number): string | undefined;
  /** Up to `count` live nodes other than us and `target` whose addresses we know, to ask. */
  helpers(target: number, count: number): number[];
  /** Whether the job has no live node but us and `target` (then nobody could be asked). */
  alone(target: number): boolean;
  health: LocalHealth;
  /** The suspect did not answer while others could answer us: it is dead to them too. */
  confirmed(target: number, detail: string): void;
  /** The suspect answered (`how`), or nobody could tell: it is judged afresh. */
  cleared(target: number, how: 'ack' | 'heartbeat' | 'unresolved'): void;
}

interface Round {
  target: number;
  detail: string;
  seq: number;
  /** Helpers asked in this round, and those that said they could not reach the target. */
  asked: number;
  nacks: number;
  silentRounds: number;
  due: number;
  timer: TimerHandle | undefined;
}

interface Relay {
  origin: number;
  originSeq: number;
  reply: string;
  target: number;
  nackTimer: TimerHandle;
}

/**
 * Confirmation of a suspicion before anything is done about it: SWIM's indirect probe with
 * Lifeguard's nacks. The observer probes the suspect itself and asks a few other FMSes to probe
 * it too (`probe_request`); any `ack`, direct or forwarded, or any heartbeat from the suspect,
 * clears it. A helper that could not reach the suspect in time says so (`nack`): that is what
 * tells a dead suspect from a cut-off observer. The suspicion is confirmed only when the round
 * ends with no ack and at least one nack, i.e. others can reach us but nobody reaches it. A
 * round with no answer at all means we are the one cut off (or starved): our health gets
 * worse, the round is tried again with other helpers and longer timeouts, and after a few it
 * is dropped, never confirmed. A round whose timer ran late (our event loop was stalled) is
 * not concluded: its answers may be queued behind the stall. With no other node to ask (a job
 * of two) the direct probe alone decides.
 *
 * Cost: per suspicion, 1 + 2·helpers datagrams out of the observer and 2 per helper; nothing
 * while nobody is suspected.
 */
export class IndirectProbe {
  private seq = 0;
  private readonly rounds = new Map<number, Round>();
  private readonly bySeq = new Map<number, Round>();
  private readonly relays = new Map<number, Relay>();

  constructor(
    private readonly clock: Clock,
    /** The round's timeout at full health; multiplied by the health score + 1. */
    private readonly timeoutMs: number,
    private readonly links: ProbeLinks,
    /** Slack past a timer's due time before it counts as late (our loop stalled). */
    private readonly stallToleranceMs = timeoutMs / 2,
  ) {}

  /** Whether `target` is being confirmed now. */
  has(target: number): boolean {
    return this.rounds.has(target);
  }

  confirm(target: number, detail: string): void {
    if (this.rounds.has(target)) return;
    const r: Round = { target, detail, seq: 0, asked: 0, nacks: 0, silentRounds: 0, due: 0, timer: undefined };
    this.rounds.set(target, r);
    this.startRound(r);
  }

  /** Stops confirming `target` (it left the ring); nothing is reported. */
  cancel(target: number): void {
    const r = this.rounds.get(target);
    if (!r) return;
    this.end(r);
  }

  /** A heartbeat from `node`: alive, whatever a round in progress says. */
  heard(node: number): void {
    const r = this.rounds.get(node);
    if (!r) return;
    this.end(r);
    this.links.cleared(node, 'heartbeat');
  }

  onDatagram(d: Of<'probe'> | Of<'ack'> | Of<'probe_request'> | Of<'nack'>): void {
    switch (d.type) {
      case 'probe':
        this.links.send(d.reply, { type: 'ack', node: this.links.node, from: d.from, seq: d.seq });
        return;
      case 'probe_request':
        this.relay(d);
        return;
      case 'ack':
        if (d.from === this.links.node) this.onAck(d);
        return;
      case 'nack': {
        const r = this.bySeq.get(d.seq);
        if (r && r.target === d.target) r.nacks++;
        return;
      }
    }
  }

  stop(): void {
    for (const r of [...this.rounds.values()]) this.end(r);
    for (const rel of this.relays.values()) this.clock.clearTimeout(rel.nackTimer);
    this.relays.clear();
  }

  private startRound(r: Round): void {
    if (r.seq) this.bySeq.delete(r.seq);
    r.seq = ++this.seq;
    r.nacks = 0;
    this.bySeq.set(r.seq, r);
    const { node, address } = this.links;
    const addr = this.links.addressOf(r.target);
    if (addr !== undefined) {
      this.links.send(addr, { type: 'probe', from: node, seq: r.seq, reply: address });
      const helpers = this.links.helpers(r.target, PROBE_HELPERS);
      r.asked = 0;
      for (const h of helpers) {
        const to = this.links.addressOf(h);
        if (to === undefined) continue;
        this.links.send(to, { type: 'probe_request', from: node, seq: r.seq, target: r.target, addr, reply: address });
        r.asked++;
      }
    } else {
      r.asked = 0;
    }
    const ms = this.timeoutMs * this.links.health.multiplier();
    r.due = this.clock.now() + ms;
    r.timer = this.clock.setTimeout(() => this.roundEnded(r), ms);
  }

  private roundEnded(r: Round): void {
    r.timer = undefined;
    if (this.rounds.get(r.target) !== r) return;
    const late = this.clock.now() - r.due;
    if (late > this.stallToleranceMs) {
      // We slept through the round: its answers may be queued behind the stall. Judge nothing.
      this.links.health.worse();
      const ms = this.timeoutMs * this.links.health.multiplier();
      r.due = this.clock.now() + ms;
      r.timer = this.clock.setTimeout(() => this.roundEnded(r), ms);
      return;
    }
    // Concluded once the datagrams already waiting are read: an ack among them clears it.
    this.clock.defer(() => this.conclude(r));
  }

  private conclude(r: Round): void {
    if (this.rounds.get(r.target) !== r) return;
    // Others exist but none could be asked (all suspected too, or their addresses still being
    // looked up): that is no evidence against the target, rather against ourselves.
    if (r.nacks > 0 || (r.asked === 0 && this.links.alone(r.target))) {
      this.end(r);
      this.links.confirmed(r.target, `${r.detail}; no answer to a probe${r.asked > 0 ? `, nor through ${r.nacks} of ${r.asked} other node(s)` : ''}`);
      return;
    }
    // Nobody answered at all: we are the one cut off, or starved.
    this.links.health.worse();
    this.retry(r);
  }

  private retry(r: Round): void {
    r.silentRounds++;
    if (r.silentRounds >= MAX_SILENT_ROUNDS) {
      this.end(r);
      this.links.cleared(r.target, 'unresolved');
      return;
    }
    this.startRound(r);
  }

  private onAck(d: Of<'ack'>): void {
    const r = this.bySeq.get(d.seq);
    if (r && r.target === d.node) {
      this.end(r);
      this.links.cleared(d.node, 'ack');
      return;
    }
    // An ack for a probe we made for someone else: forwarded to the one who asked.
    const rel = this.relays.get(d.seq);
    if (rel && rel.target === d.node) {
      this.clock.clearTimeout(rel.nackTimer);
      this.relays.delete(d.seq);
      this.links.send(rel.reply, { type: 'ack', node: d.node, from: rel.origin, seq: rel.originSeq });
    }
  }

  private relay(d: Of<'probe_request'>): void {
    const seq = ++this.seq;
    // The nack goes out at half the asker's base timeout, so it arrives while the asker waits;
    // an ack coming later is still forwarded until the whole timeout has passed.
    const nackMs = this.timeoutMs / 2;
    const nackTimer = this.clock.setTimeout(() => {
      const rel = this.relays.get(seq);
      if (!rel) return;
      this.links.send(rel.reply, { type: 'nack', node: this.links.node, target: rel.target, seq: rel.originSeq });
      rel.nackTimer = this.clock.setTimeout(() => this.relays.delete(seq), this.timeoutMs);
    }, nackMs);
    this.relays.set(seq, { origin: d.from, originSeq: d.seq, reply: d.reply, target: d.target, nackTimer });
    this.links.send(d.addr, { type: 'probe', from: this.links.node, seq, reply: this.links.address });
  }

  private end(r: Round): void {
    if (r.timer !== undefined) this.clock.clearTimeout(r.timer);
    r.timer = undefined;
    this.rounds.delete(r.target);
    this.bySeq.delete(r.seq);
  }
}

import { JobFailedError } from '../errors.js';
import type { ToProgram } from '../protocol/program-ipc.js';
import type { Store, Watcher } from '../store/store.js';
import type { FaultCause } from '../protocol/datagram.js';
import { FmsState, type Emit, type FmsConfig, type FmsHooks, type FmsStateLinks } from './fms-shared.js';
import { applyFault, applyRejoin, applyRestart, isOut, membershipUpdatedEvent, slotOf, watchMembership, type MembershipRecord } from './membership.js';

/** The program as the reactor drives it. */
export interface ProgramControl {
  /** Whether the program has said hello (and so can be sent anything). */
  readonly connected: boolean;
  send(m: ToProgram): void;
  kill(): void;
  /** Kills the program and starts it again; false if there was none. */
  restart(): boolean;
}

/** What the reactor needs from the rest of the FMS. */
export interface MembershipReactorLinks extends FmsStateLinks {
  emit: Emit;
  program: ProgramControl;
  /** Nodes the record counts as failed: no longer judged. */
  forget(nodes: readonly number[]): void;
  /** Stops every judgement and heartbeat of this node's. */
  silence(): void;
}

/**
 * The FMS's side of the membership record: watches it, proposes the next one by compare-and-set,
 * idles the program while a generation is lost, tells it each new generation (its rank and slot),
 * and fences this node when the record counts it failed.
 */
export class MembershipReactor {
  private watcher: Watcher | undefined;
  private current: MembershipRecord | undefined;
  /** The store revision of `current`, for a compare-and-set without a read first. */
  private revision = 0;
  /** Generation whose failure we already idled the program for. */
  private idledFor = -1;
  /** Generation the program was last told to join. */
  private sentGeneration = -1;
  /** Whether the program was told it waits as a spare (once: what it does then lasts). */
  private toldSpare = false;
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly cfg: FmsConfig,
    private readonly store: Store,
    private readonly hooks: Pick<FmsHooks, 'finished'>,
    private readonly links: MembershipReactorLinks,
  ) {}

  /** The record as this node last read it. */
  get record(): MembershipRecord | undefined {
    return this.current;
  }

  async start(): Promise<void> {
    this.watcher = await watchMembership(this.store, this.cfg.job, (ev) => {
      if (ev.kind === 'record') {
        if (ev.record.generation >= (this.current?.generation ?? -1)) this.revision = ev.modRevision;
        this.onRecord(ev.record);
      }
      else if (ev.ended) this.links.emit('fms_error', { message: ev.error.message });
    });
  }

  /** Stops watching; settles once every proposal in flight has. */
  async stop(): Promise<void> {
    this.watcher?.close();
    await Promise.all([...this.inflight]);
  }

  propose(failed: number[], cause: FaultCause, programFault: boolean, generation: number): Promise<void> {
    // Tracked so that stop() lets a proposal in flight finish and report, even when its own
    // write is what fenced this node.
    const p = this.proposeNow(failed, cause, programFault, generation).finally(() => this.inflight.delete(p));
    this.inflight.add(p);
    return p;
  }

  private async proposeNow(failed: number[], cause: FaultCause, programFault: boolean, generation: number): Promise<void> {
    const known = this.current && this.revision > 0 ? { record: this.current, modRevision: this.revision } : undefined;
    const opts = { deadline: Date.now() + this.cfg.rendezvousTimeoutMs, proposer: this.cfg.node, known };
    try {
      const res =
        this.cfg.policy === 'restart' && programFault
          ? await applyRestart(this.store, this.cfg.job, generation, opts)
          : await applyFault(this.store, this.cfg.job, failed, opts);
      if (res.bumped) this.links.emit('membership_updated', { ...membershipUpdatedEvent(res), by: this.cfg.node, cause });
    } catch (e) {
      if (e instanceof JobFailedError) return; // the launcher reports it from the record
      this.links.emit('fms_error', { message: `could not update the membership: ${(e as Error).message}` });
    }
  }

  /** Asks for the same members in a new generation: the communicator of `generation` broke with everyone alive. */
  rejoin(generation: number): Promise<void> {
    const p = (async () => {
      const known = this.current && this.revision > 0 ? { record: this.current, modRevision: this.revision } : undefined;
      try {
        const res = await applyRejoin(this.store, this.cfg.job, generation, { deadline: Date.now() + this.cfg.rendezvousTimeoutMs, proposer: this.cfg.node, known });
        if (res.bumped) this.links.emit('membership_updated', { ...membershipUpdatedEvent(res), by: this.cfg.node, cause: 'connection' });
      } catch (e) {
        if (e instanceof JobFailedError) return;
        this.links.emit('fms_error', { message: `could not renew the generation: ${(e as Error).message}` });
      }
    })().finally(() => this.inflight.delete(p));
    this.inflight.add(p);
    return p;
  }

  idle(generation: number): void {
    if (this.idledFor >= generation || this.current?.members.includes(this.cfg.node) !== true) return;
    this.idledFor = generation;
    this.links.moveTo(FmsState.Recovering);
    if (this.links.program.connected) this.links.program.send({ type: 'idle', generation });
    this.links.emit('program_idle', { generation });
  }

  private onRecord(record: MembershipRecord): void {
    const prev = this.current;
    if (prev && record.generation < prev.generation) return;
    this.current = record;
    this.links.forget(record.failed);
    if (record.state === 'failed') {
      this.links.moveTo(FmsState.Stopped);
      return;
    }
    const me = this.cfg.node;
    // Named failed, or out of the job without a name (dropped from the bounded failed list).
    if (isOut(record, me)) {
      if (this.links.state() !== FmsState.Fenced && this.links.moveTo(FmsState.Fenced)) {
        // Out of the job for good: a node that was declared failed must not judge the others
        // (they stop heartbeating it, so it would see them all as silent: a split brain).
        this.links.silence();
        this.links.program.kill();
        this.links.emit('node_fenced', { generation: record.generation });
        this.hooks.finished({ node: me, state: this.links.state() });
      }
      return;
    }
    if (!record.members.includes(me)) {
      this.links.moveTo(FmsState.Spare);
      this.sendGeneration();
      return;
    }
    if (prev && record.generation > prev.generation) {
      this.idle(prev.generation);
      // The baseline: tear the program down and start it again, as torchrun does.
      if (this.cfg.policy === 'restart' && this.links.program.restart()) return;
    }
    if (this.links.state() !== FmsState.Done) this.links.moveTo(prev ? FmsState.Recovering : FmsState.Running);
    this.sendGeneration();
  }

  /**
   * Tells the program the newest running generation it has not been told, with its rank and
   * slot; a spare's program, once, that it is one.
   */
  sendGeneration(): void {
    const record = this.current;
    if (!record || !this.links.program.connected || record.state !== 'running' || record.generation <= this.sentGeneration) return;
    const rank = record.members.indexOf(this.cfg.node);
    if (rank < 0) {
      if (!this.toldSpare && record.spares.includes(this.cfg.node)) {
        this.toldSpare = true;
        this.links.program.send({ type: 'spare', generation: record.generation });
      }
      return;
    }
    this.sentGeneration = record.generation;
    this.links.program.send({ type: 'generation', generation: record.generation, rank, world: record.members.length, members: record.members, slot: slotOf(record, this.cfg.node), spares: record.spares.length, spareNodes: record.spares });
  }
}

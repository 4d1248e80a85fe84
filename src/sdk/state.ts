import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CorruptionDetectedError, CorruptionUnresolvedError, InvalidArgumentError, NoCommonStateError, ProtocolError, TimeoutError } from '../errors.js';
import type { NodeEventFields, ProgramEventMessage, ProgramEventName } from '../protocol/events.js';
import type { FromKeeper, KeeperInit, ToKeeper } from '../protocol/keeper-messages.js';
import { newProgramStats, type ProgramStats } from '../protocol/program-ipc.js';
import { diskCadence, finest, isReplicated, makesVersion, retained, toFurtherPeers, type Cadence } from '../state/replica-cadence.js';
import type { EntryKind, EntryMeta, StateVersion } from '../state/version-format.js';
import type { FurtherStreamCost } from '../state/stream-cost.js';
import { stateDigest, digestHex } from '../state/state-digest.js';
import { voteOnDigests } from './digest-vote.js';
import { ReplicaPacer, type PacerOptions } from './replica-pacer.js';
import { StateVerifier, type Dispute } from './state-verifier.js';
import { SnapshotPool } from './snapshot-pool.js';

const KEEPER = fileURLToPath(new URL('../state/keeper-thread.js', import.meta.url));

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };
export type StateEntry = Float32Array | Float64Array | Int32Array | JsonValue;

/**
 * Rounds of the common-version search at most: each round moves to an older version some member
 * holds, and no member holds more than a few (see `retained`).
 */
const MAX_ROUNDS = 256;
const KEEPER_TIMEOUT_MS = 30_000;

function kindOf(v: StateEntry): EntryKind {
  if (v instanceof Float32Array) return 'float32';
  if (v instanceof Float64Array) return 'float64';
  if (v instanceof Int32Array) return 'int32';
  if (ArrayBuffer.isView(v)) throw new InvalidArgumentError(`state entries may be Float32Array, Float64Array, Int32Array or JSON values, not ${v.constructor.name}`);
  return 'json';
}

/** What the state needs from the job: kept narrow so the selection logic is easy to follow. */
export interface StateHost {
  readonly node: number;
  readonly generation: number;
  readonly rank: number;
  readonly slot: number;
  readonly world: number;
  /** Whose keepers receive this node's replicas (replica-peers.ts). */
  readonly buddies: number[];
  allreduce<T extends Float64Array | Int32Array>(buf: T, op: 'max' | 'min' | 'sum'): Promise<T>;
  /** An allreduce of Rollcall's own, between the program's operations (see PacerHost). */
  exchange(buf: Float64Array, op: 'max'): Promise<Float64Array>;
  /** Each commit, with its number, and each sync, with the version it restored: the straggler exchange's points (sdk/straggler-exchange.ts). */
  committed?(version: number): void;
  synced?(version: number): void;
  now(): number;
  report<N extends ProgramEventName>(event: N, fields: NodeEventFields<N>): void;
  /** Running totals the job reports; commits are counted here. */
  readonly stats: ProgramStats;
  /** `msRedone`: the steps redone at this member's step time, when it has one. */
  resumed(generation: number, stepsRedone: number, msRedone: number | undefined): void;
  /**
   * This member's replicated state differs from the majority's: its FMS declares the node failed
   * (cause `corruption`), which ends this process. Resolves never.
   */
  failCorrupt(detail: string): Promise<never>;
  /** `--verify-every`: undefined, chosen with the pacer; 0, never. */
  readonly verifyEvery: number | undefined;
  /** Spares waiting in this generation's record (0 when not known): what a two-member dispute can call on. */
  readonly spares?: number;
}

/**
 * Which entries the program declares identical on every member (data-parallel weights and
 * optimizer moments): compared between members to catch silent data corruption, and restored
 * from any member when every copy of a node's own versions is lost. `true`: every entry.
 */
export interface StateOptions {
  replicated?: boolean | readonly string[];
}

/** The names `replicated` declares, checked against the state's entries. */
export function replicatedNames(names: readonly string[], opt: StateOptions['replicated']): string[] {
  if (opt === undefined || opt === false) return [];
  if (opt === true) return [...names];
  if (!Array.isArray(opt)) throw new InvalidArgumentError(`registerState: replicated must be true, false or a list of entry names, not ${JSON.stringify(opt)}`);
  const unknown = opt.filter((n) => !names.includes(n));
  if (unknown.length > 0) throw new InvalidArgumentError(`registerState: replicated names ${unknown.map((n) => `"${n}"`).join(', ')}, which the state does not have (its entries: ${names.join(', ')})`);
  return names.filter((n) => opt.includes(n));
}

export type KeeperOptions = Omit<KeeperInit, 'type'>;
type CommitMessage = Extract<ToKeeper, { type: 'commit' }>;

/** The program's side of the keeper thread. */
export class Keeper {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, (m: Extract<FromKeeper, { type: 'reply' }>) => void>();
  readonly ready: Promise<void>;

  /** How the version and replica intervals are chosen (replica-pacer.ts). */
  readonly pacing: PacerOptions;

  constructor(
    private readonly opts: KeeperOptions,
    pacing: Pick<PacerOptions, 'targetMs' | 'versionMs' | 'versionEvery'>,
    onEvent: (m: ProgramEventMessage) => void,
    private readonly stats: ProgramStats = newProgramStats(),
  ) {
    this.pacing = { keep: opts.keep, base: opts.base, ...pacing };
    this.cadence = finest(opts.keep, opts.base, pacing.versionEvery);
    this.chosen = this.cadence;
    this.disk = diskCadence(this.cadence, opts.persistEvery);
    this.worker = new Worker(KEEPER);
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('error', reject);
      this.worker.on('message', (m: FromKeeper) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'reply') {
          const p = this.pending.get(m.id);
          this.pending.delete(m.id);
          p?.(m);
        } else if (m.type === 'event') onEvent(m);
        else if (m.type === 'release') for (const r of m.items) this.buffers.give(r.version, r.buffer);
      });
    });
    this.post({ type: 'init', ...opts });
  }

  /** Where commits take their snapshot buffers, and released ones go back to. */
  readonly buffers = new SnapshotPool();

  /**
   * Requests see every version committed so far: a recovery lists and fetches them, and a
   * truncate must not miss one.
   */
  post(m: ToKeeper): void {
    this.handOver();
    this.worker.postMessage(m);
  }

  /**
   * A new version. Only the ones replicated or persisted go to the keeper thread now. The
   * others stay here, those `retained` keeps (the newest K, and a few the replica cadence
   * needs), and go to the keeper only if a recovery needs them (every request hands them over
   * first); the rest are reused at once. Handing every commit to the thread woke it once per
   * step, and a woken thread on a busy core cost the program more than half the copy
   * (docs/architecture.md, "Versioned state and rollback").
   *
   * Whether the version is replicated or written is decided now, with this commit's cadence;
   * dropping old versions waits for the next turn too. Right after the program's update loop
   * that bookkeeping was most of a commit, though cheap in a hot loop (docs/benchmarks.md,
   * "Fifth session: replicas and files spaced in time"), and on the next turn the program is
   * usually waiting for the network.
   */
  commit(m: Omit<CommitMessage, 'replicate' | 'further' | 'persist'>, verified = false): void {
    const v = m.meta.version;
    // A verified version is replicated too: a corruption rolls back to it, and the node replaced
    // for it needs its own part from a replica (the first peer's: a corruption is one fault).
    const replicate = verified || isReplicated(v, this.cadence);
    const further = this.twoPeers && toFurtherPeers(v, this.cadence);
    const persist = isReplicated(v, this.disk);
    const c: CommitMessage = Object.assign(m, { replicate, further, persist });
    if (replicate || persist) {
      let bytes = 0;
      for (const d of m.data) bytes += d.byteLength;
      if (replicate) this.stats.replicaBytes += bytes;
      if (persist) this.stats.persistBytes += bytes;
    }
    this.held.push({ m: c, shared: replicate || persist });
    if (replicate || persist) this.soon.push(c);
    this.later();
  }

  /** Whether commit `c` makes a version (replica-cadence.ts): decided alike on every member. */
  due(c: number): boolean {
    return makesVersion(c, this.cadence, this.disk);
  }

  /** What is replicated and kept, and written to disk, as chosen with the other members (replica-cadence.ts). */
  private cadence: Cadence;
  private disk: Cadence;

  setCadence(c: Cadence): void {
    this.chosen = c;
    // One peer: no second peers' lattice to keep versions for.
    this.cadence = { ...c, pinned: this.pinned, farEvery: this.twoPeers ? c.farEvery : undefined };
    this.disk = diskCadence(this.cadence, this.opts.persistEvery);
    this.postSoon({ type: 'cadence', cadence: this.cadence, disk: this.disk });
  }

  private pinned: number[] = [];

  /** The cadence as the pacer chose it, before the pins and this node's peers are applied. */
  private chosen: Cadence;
  /** Whether this node's replicas go to a second peer (or more) now: `peers`. */
  private twoPeers = false;

  /**
   * How many peers receive this node's replicas now: with two or more, the second and further
   * get their sparser lattice, and this node keeps its newest versions for them (`retained`).
   */
  peers(n: number): void {
    if (n > 1 === this.twoPeers) return;
    this.twoPeers = n > 1;
    this.setCadence(this.chosen);
  }

  /** Versions kept whatever their age (the verifier's: replica-cadence.ts, `pinned`). */
  pin(versions: number[]): void {
    if (versions.length === this.pinned.length && versions.every((v, i) => v === this.pinned[i])) return;
    this.pinned = versions;
    this.setCadence(this.chosen);
  }

  /** Keeps what `retained` says; a version not handed to the keeper gives its buffers back. */
  private prune(): void {
    const kept = retained(
      this.held.map((h) => h.m.meta.version),
      this.cadence,
    );
    if (kept.size === this.held.length) return;
    const dropped = this.held.filter((h) => !kept.has(h.m.meta.version));
    this.held = this.held.filter((h) => kept.has(h.m.meta.version));
    for (const h of dropped) if (!h.shared) for (const d of h.m.data) this.buffers.give(h.m.meta.version, d);
  }

  /** The versions this side still holds, oldest first (the ones not shared are here only). */
  private held: { m: CommitMessage; shared: boolean }[] = [];
  private readonly soon: ToKeeper[] = [];

  /** On the next turn of the event loop: by then the program is usually waiting for the network. */
  private postSoon(m: ToKeeper): void {
    this.soon.push(m);
    this.later();
  }

  private scheduled = false;
  private later(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flushSoon();
      this.prune();
    });
  }

  private flushSoon(): void {
    for (const m of this.soon.splice(0)) this.worker.postMessage(m);
  }

  private handOver(): void {
    this.flushSoon();
    for (const h of this.held) if (!h.shared) this.worker.postMessage(h.m);
    this.held = [];
  }

  request(m: { type: 'list' | 'fetch' | 'truncate' | 'durable'; slot: number; version?: number; after?: number; any?: boolean; wide?: boolean }): Promise<Extract<FromKeeper, { type: 'reply' }>> {
    return this.ask(m, (r) => this.post(r));
  }

  /**
   * What the further peers' stream has cost the keeper so far (state/stream-cost.ts). Not through
   * `post`: the versions held on this side need not go to the keeper for it, and handing them
   * over would be work the bench that asks would then measure.
   */
  async streamCost(): Promise<FurtherStreamCost> {
    const r = await this.ask({ type: 'stream_cost' }, (m) => this.worker.postMessage(m));
    if (!r.cost) throw new ProtocolError('state keeper answered stream_cost without its counts');
    return r.cost;
  }

  private ask(m: { type: string }, send: (m: ToKeeper) => void): Promise<Extract<FromKeeper, { type: 'reply' }>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new TimeoutError(`state keeper did not answer ${m.type} within ${KEEPER_TIMEOUT_MS} ms`));
      }, KEEPER_TIMEOUT_MS);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        if (r.error) reject(new Error(r.error));
        else resolve(r);
      });
      send({ ...m, id } as ToKeeper);
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/**
 * The program's registered state: typed arrays (restored in place, so references stay valid)
 * and JSON values (replaced in `values`), plus the step. `commit()` copies it into a new version
 * and returns at once; checksums, the state directory and the replica are the keeper's work.
 *
 * A program that writes the next value of an array out of place (`next[i] = f(cur[i])`) can
 * skip that copy: it writes into `draft(name)`, and the commit takes the draft as the version's
 * bytes and makes it the new `values[name]`. That array then belongs to a committed version:
 * the program reads it but never writes it, and writes the next value into the next draft.
 */
export class State<T extends Record<string, StateEntry>> {
  step = 0;
  /** The last version made or restored; -1 before the first. Versions are numbered by commit. */
  version = -1;
  /** Commits so far, counted from the start across rollbacks (a rollback to version v sets it to v). */
  commits = -1;
  /** Step and time at the start of this generation and at the last version: the step time, for `ms_redone`. */
  private paceFrom = { step: 0, at: 0 };
  private paceTo = { step: 0, at: 0 };
  private msPerStep: number | undefined;
  /** The furthest step this program has reached, across rollbacks: what a fault costs is measured from it. */
  private furthest = 0;
  private readonly names: string[];
  private readonly drafts = new Map<string, TypedState>();
  /** Arrays no version holds that were current values: the next drafts, instead of new ones. */
  private readonly spare = new Map<string, TypedState>();
  /** Entries whose current value is an adopted draft, and the version that owns it. */
  private readonly adopted = new Map<string, number>();
  private readonly pacer: ReplicaPacer;
  /** The entries declared identical on every member, in entry order. */
  readonly replicated: readonly string[];
  private readonly verifier: StateVerifier;
  /**
   * After a corruption: no version newer than this one may be restored (it came after the
   * digests last agreed). Cleared by the sync that restores one.
   */
  private ceiling: number | undefined;
  /** A vote without a majority rolled back to this agreed version once already (two members). */
  private retriedFrom: number | undefined;
  /** This member kept its place from this agreed version while its partner stepped out for a spare. */
  private arbitratedFrom: number | undefined;
  /** Chaos (`--chaos corrupt:...`): flip one bit at the next commit. */
  private flipPending = false;

  constructor(
    readonly values: T,
    private readonly host: StateHost,
    private readonly keeper: Keeper,
    options: StateOptions = {},
  ) {
    this.names = Object.keys(values);
    if (this.names.length === 0) throw new InvalidArgumentError('state needs at least one entry');
    for (const n of this.names) kindOf(values[n] as StateEntry);
    this.replicated = replicatedNames(this.names, options.replicated);
    // With fixed intervals there is no pacer exchange to choose the lattice with: every 10th replica.
    const fixedPacing = keeper.pacing.targetMs === undefined && keeper.pacing.versionMs === undefined;
    const verifyEvery = this.replicated.length === 0 ? 0 : (host.verifyEvery ?? (fixedPacing ? keeper.pacing.base * 10 : undefined));
    this.verifier = new StateVerifier(verifyEvery, host, (v) => keeper.pin(v));
    this.pacer = new ReplicaPacer(keeper.pacing, host, (c) => keeper.setCadence(c), this.verifier.enabled ? (p) => this.verifier.choose(p) : undefined);
  }

  /** The versions being compared between members, and what their digests cost: for tests and the bench. */
  get verification(): { agreed: number; every: number | undefined; digests: number; digestMs: number } {
    return { agreed: this.verifier.agreed, every: this.verifier.chosen?.every, ...this.digestCost };
  }

  /** What replicas to the second and further peers have cost this node's keeper thread so far (state/stream-cost.ts): for the state bench. */
  furtherStreamCost(): Promise<FurtherStreamCost> {
    return this.keeper.streamCost();
  }

  /** Digests computed at verify points, and their total time on this thread. */
  private readonly digestCost = { digests: 0, digestMs: 0 };

  /**
   * Chaos: at the next commit, one bit of one replicated array is flipped in the state being
   * committed, as a faulty memory or ALU would after the program's update. Nothing to flip (no
   * replicated typed array) does nothing.
   */
  corruptNextCommit(): void {
    this.flipPending = true;
  }

  private flipOneBit(): void {
    this.flipPending = false;
    const values = this.values as Record<string, StateEntry>;
    const name = this.replicated.find((n) => kindOf(values[n] as StateEntry) !== 'json');
    if (name === undefined) return;
    let target = this.drafts.get(name);
    if (!target) {
      // An adopted draft is a committed version's bytes: the flip goes to a copy of it, not into history.
      const cur = values[name] as TypedState;
      if (this.adopted.delete(name)) {
        target = this.fresh(cur);
        bytesOf(target).set(bytesOf(cur));
        values[name] = target;
      } else target = cur;
    }
    const bytes = bytesOf(target);
    if (bytes.length === 0) return;
    // A bit of the mantissa of some element near the middle: the value changes a little, as in
    // the silent corruptions reported at scale, not into a NaN.
    const at = (bytes.length >> 1) & ~3;
    bytes[at] = (bytes[at] as number) ^ 0x10;
  }

  /**
   * An array of the same type and length as `values[name]`, to write this entry's next value
   * into. Until the next `commit()` it is the program's alone (the same one is returned until
   * then); its contents at first are undefined, so write every element. After a rollback,
   * drafts not committed are dropped.
   */
  draft<K extends TypedKeys<T>>(name: K): T[K] {
    const cur = this.values[name] as StateEntry | undefined;
    if (cur === undefined) throw new InvalidArgumentError(`state has no entry "${name}"`);
    if (kindOf(cur) === 'json') throw new InvalidArgumentError(`state entry "${name}" is a JSON value; drafts are for typed arrays`);
    let d = this.drafts.get(name);
    if (!d) {
      d = this.spare.get(name) ?? this.fresh(cur as TypedState);
      this.spare.delete(name);
      this.drafts.set(name, d);
    }
    return d as T[K];
  }

  /**
   * Commits the state as it is now: a consistent point the job may roll back to. Not every
   * commit makes a version: the members choose together which do, so that versions are about
   * `--version-ms` apart (replica-cadence.ts). A commit that makes one costs one copy of each
   * entry, except those written into a draft: the version takes a draft as it is. One that
   * makes none copies nothing. Returns the commit's number, which is the version's if it made one.
   */
  commit(): number {
    if (!Number.isInteger(this.step) || this.step < 0) throw new InvalidArgumentError(`state.step must be a non-negative integer, got ${this.step}`);
    const version = this.commits + 1;
    // Never into version 0: the initial state, which every comparison takes as agreed (compared
    // once, at the start: compareInitial); a flip there would be a bad start, not a fault.
    if (this.flipPending && version > 0) this.flipOneBit();
    const verified = this.verifier.due(version);
    if (verified) {
      // The last comparison disagreed: nothing more is committed; Job.run() syncs, which votes.
      const dispute = this.verifier.takeDispute(version);
      if (dispute) {
        this.dispute = dispute;
        throw new CorruptionDetectedError(`the members' digests of version ${dispute.version} differ: rolling back to version ${this.verifier.agreed}`, { node: this.host.node, rank: this.host.rank });
      }
    }
    // Right after the program's update loop, which has just swept the caches, every line of
    // code here runs cold, several times slower than in a hot loop (docs/benchmarks.md, "Sixth
    // session (2026-12-03): versions on a time cadence"): a commit without a version does as
    // little as it can. Its drafts are ours, so only a version checks entries.
    this.host.stats.commits++;
    if (!verified && !this.keeper.due(version)) {
      this.adoptDrafts();
      this.commits = version;
      this.furthest = Math.max(this.furthest, this.step);
      this.pacer.committed(version);
      this.host.committed?.(version);
      return version;
    }
    const values = this.values as Record<string, StateEntry>;
    // Every entry is checked before any is adopted: a bad one leaves the state as it was.
    const kinds = this.names.map((name) => kindOf(values[name] as StateEntry));
    const t0 = this.host.now();
    this.paceTo = { step: this.step, at: t0 };
    const entries: EntryMeta[] = [];
    const data: Uint8Array[] = [];
    for (const [i, name] of this.names.entries()) {
      const v = values[name] as StateEntry;
      const kind = kinds[i] as EntryKind;
      const d = this.drafts.get(name);
      let bytes: Uint8Array;
      if (d) {
        bytes = bytesOf(d);
        this.takeDraft(name, d);
        this.adopted.set(name, version);
      } else {
        const src = kind === 'json' ? Buffer.from(JSON.stringify(v)) : bytesOf(v as TypedState);
        bytes = this.keeper.buffers.take(src.byteLength);
        bytes.set(src);
      }
      data.push(bytes);
      entries.push({ name, kind, bytes: bytes.byteLength, crc: 0 });
    }
    this.drafts.clear();
    this.keeper.buffers.liveFrom = Math.min(...this.adopted.values());
    this.version = version;
    this.commits = version;
    this.furthest = Math.max(this.furthest, this.step);
    this.keeper.commit({ type: 'commit', meta: { slot: this.host.slot, version, step: this.step, entries }, data }, verified);
    const t1 = this.host.now();
    // The pacer's exchange carries the cost of a digest too, measured on this version.
    const measure = this.verifier.enabled && this.pacer.exchangesAt(version);
    if (verified || measure) {
      const digest = this.digestOf(data);
      if (verified) {
        this.digestCost.digests++;
        this.digestCost.digestMs += this.host.now() - t1;
        this.verifier.verify(version, digest);
      }
      this.pacer.committed(version, t1 - t0, this.host.now() - t1);
    } else this.pacer.committed(version, t1 - t0);
    this.host.committed?.(version);
    return version;
  }

  /**
   * A commit that makes no version: drafts become the current values. The value a draft
   * replaces is the next draft, unless a version holds it (then it is that version's).
   */
  private adoptDrafts(): void {
    if (this.drafts.size === 0) return;
    for (const [name, d] of this.drafts) this.takeDraft(name, d);
    this.drafts.clear();
    this.keeper.buffers.liveFrom = Math.min(...this.adopted.values());
  }

  /**
   * The draft becomes the current value. The value it replaces is the next draft unless a
   * version holds it: dropped instead, it cost a new 4 MiB SharedArrayBuffer per version, a
   * large share of the step (docs/benchmarks.md, "Sixth session (2026-12-03): versions on a time
   * cadence", the drafts arm before the fix).
   */
  private takeDraft(name: string, d: TypedState): void {
    const values = this.values as Record<string, StateEntry>;
    const old = values[name] as TypedState;
    // Shared memory only: a version made of the next draft goes to the keeper thread uncopied.
    if (!this.adopted.delete(name) && old.buffer instanceof SharedArrayBuffer) this.spare.set(name, old);
    values[name] = d;
  }

  /** The digest of a version's replicated entries (state-digest.ts). */
  private digestOf(data: readonly Uint8Array[]): number {
    return stateDigest(this.names.flatMap((n, i) => (this.replicated.includes(n) ? [data[i] as Uint8Array] : [])));
  }

  /** A comparison that disagreed, for the next sync to vote on. */
  private dispute: Dispute | undefined;

  private fresh(like: TypedState): TypedState {
    const b = this.keeper.buffers.take(like.byteLength);
    const Ctor = like.constructor as new (buffer: ArrayBufferLike, byteOffset: number, length: number) => TypedState;
    return new Ctor(b.buffer, b.byteOffset, like.length);
  }

  /**
   * After a membership change (and at the start): agree with every member on the newest version
   * all of them hold or can fetch intact, and restore it. Every member must call it at the same
   * point; `Job.run()` does.
   */
  async sync(): Promise<void> {
    const host = this.host;
    await this.keeper.ready;
    this.keeper.peers(host.buddies.length);
    this.keeper.post({ type: 'topology', slot: host.slot, buddies: host.buddies });
    if (this.dispute) await this.settle(this.dispute);
    this.furthest = Math.max(this.furthest, this.step);
    const ceiling = this.ceiling ?? Infinity;
    const avail = ((await this.keeper.request({ type: 'list', slot: host.slot, wide: host.generation > 0 })).versions ?? []).filter((a) => a.version <= ceiling);
    const top = avail.reduce((m, a) => Math.max(m, a.version), -1);
    // The slowest member's step time too: a spare brought in has none of its own.
    // The newest agreed version too: a member brought in has none of its own.
    const agg = await host.allreduce(new Float64Array([top, this.furthest, this.stepTime() ?? -1, this.verifier.agreed]), 'max');
    const vmax = agg[0] as number;
    const furthest = agg[1] as number;
    if ((agg[2] as number) >= 0) this.msPerStep = agg[2] as number;
    // Nobody has committed anything: this is the start.
    if (vmax < 0) return this.start(furthest, false);
    const anyMember = this.replicated.length === this.names.length;
    const held = new Set(avail.map((a) => a.version));
    const version = await this.common(vmax, held, anyMember, ceiling);
    if (version < 0) {
      if (vmax === 0 && (await this.startsAgain(held))) return this.start(furthest, true);
      throw new NoCommonStateError(
        `generation ${host.generation}: no version of the state is held intact by every member (newest anywhere: ${vmax}; this node's slot ${host.slot} has ${avail.map((a) => a.version).join(',') || 'none'})`,
        { node: host.node, rank: host.rank },
      );
    }
    this.restore(await this.fetchOrFail(version, anyMember));
    // Not awaited: the keeper handles messages in order, so later commits land after it, and
    // the program resumes without waiting for the disk.
    this.keeper.request({ type: 'truncate', slot: host.slot, after: version }).catch((e: unknown) => host.report('state_error', { message: (e as Error).message }));
    this.pacer.restart(version);
    host.synced?.(version);
    this.verifier.agreed = Math.min(version, agg[3] as number);
    this.verifier.restart();
    this.ceiling = undefined;
    if (host.rank === 0) host.report('common_state_selected', { generation: host.generation, version, step: this.step });
    // After a resume nothing was reached beyond the restored step: nothing is redone.
    this.finish(Math.max(0, furthest - this.step), Math.max(furthest, this.step));
  }

  /**
   * A version this member listed. Listed, then gone: its only holder failed meanwhile (a second
   * fault, on the buddy of the node being replaced, with no shared disk), and nothing is left to
   * roll this slot back to.
   */
  private async fetchOrFail(version: number, any: boolean): Promise<StateVersion> {
    const host = this.host;
    try {
      return (await this.keeper.request({ type: 'fetch', slot: host.slot, version, any })).version as StateVersion;
    } catch (e) {
      throw new NoCommonStateError(`generation ${host.generation}: version ${version} of slot ${host.slot} could not be fetched: ${(e as Error).message}`, { node: host.node, rank: host.rank, cause: e });
    }
  }

  /**
   * The start: every member's initial values are version 0 of its slot, on disk before the first
   * step, so that a node lost before its first replica arrives still has it. `again`: the start
   * of a generation in which some slot's version 0 was lost with the node that made it, before
   * it reached a disk or a peer, and nobody committed a newer one (startsAgain): the members that
   * hold theirs restore it, and a member new to the job makes its slot's from its own initial
   * values, as at the first start.
   */
  private async start(furthest: number, again: boolean): Promise<void> {
    const host = this.host;
    this.pacer.restart(0);
    host.synced?.(0);
    this.verifier.agreed = 0;
    this.verifier.restart();
    this.ceiling = undefined;
    if (this.commits < 0) this.commit();
    else this.restore(await this.fetchOrFail(0, false));
    if (this.verifier.enabled) await this.compareInitial();
    await this.keeper.request({ type: 'durable', slot: host.slot });
    if (again) {
      this.keeper.request({ type: 'truncate', slot: host.slot, after: 0 }).catch((e: unknown) => host.report('state_error', { message: (e as Error).message }));
      if (host.rank === 0) host.report('common_state_selected', { generation: host.generation, version: 0, step: this.step });
    }
    this.finish(Math.max(0, furthest - this.step), Math.max(furthest, this.step));
  }

  /**
   * No version is common and none newer than version 0 exists: the job can start again only if
   * every member either holds its slot's version 0 or is new to the job (has never committed
   * or restored anything, so its values are its initial ones). One allreduce, on every member.
   */
  private async startsAgain(held: Set<number>): Promise<boolean> {
    const r = await this.host.allreduce(new Float64Array([held.has(0) || this.commits < 0 ? 0 : 1]), 'max');
    return r[0] === 0;
  }

  /**
   * Version 0 is the base every later comparison assumes agreed, and what a corruption found
   * before any comparison rolls back to: its digests are compared once, at the start. Members
   * that start from different values (a weight initialisation seeded per rank, say) did not
   * declare replicated state, and nothing after could tell corruption from that.
   */
  private async compareInitial(): Promise<void> {
    const values = this.values as Record<string, StateEntry>;
    const d = this.digestOf(this.names.map((n) => (kindOf(values[n] as StateEntry) === 'json' ? Buffer.from(JSON.stringify(values[n])) : bytesOf(values[n] as TypedState))));
    const r = await this.host.allreduce(new Float64Array([d, -d]), 'max');
    if (r[0] === -(r[1] as number)) return;
    throw new CorruptionUnresolvedError(
      `the members' initial values of the state declared replicated differ (digests ${digestHex(r[0] as number)} and ${digestHex(-(r[1] as number))} at least): they must be the same on every member when registered (initialise them alike, or declare replicated only the entries that are)`,
      { node: this.host.node, rank: this.host.rank },
    );
  }

  /**
   * The newest version every member holds, or -1. Versions are numbered by commit and sparse, so
   * rather than a mask of the newest numbers each round asks whether every member holds the
   * candidate and, if not, takes the newest older version anyone holds: a max-allreduce of
   * [missing here, newest older here]. Every member runs the same rounds.
   */
  private async common(vmax: number, held: Set<number>, anyMember: boolean, ceiling: number): Promise<number> {
    const newest = [...held].sort((a, b) => b - a);
    let candidate = vmax;
    for (let round = 0; round < MAX_ROUNDS && candidate >= 0; round++) {
      const older = newest.find((v) => v < candidate) ?? -1;
      const has = held.has(candidate);
      // State declared replicated in full: a member missing the candidate takes any member's.
      // A member that found corruption vetoes what came after the digests last agreed.
      const missing = candidate > ceiling || !(has || anyMember);
      const r = await this.host.allreduce(new Float64Array([missing ? 1 : 0, older, has ? 1 : 0]), 'max');
      if (r[0] === 0 && r[2] === 1) return candidate;
      candidate = r[1] as number;
    }
    if (candidate < 0) return -1;
    const host = this.host;
    throw new NoCommonStateError(`generation ${host.generation}: no common version found in ${MAX_ROUNDS} rounds of the search (down to version ${candidate} from ${vmax})`, { node: host.node, rank: host.rank });
  }

  /**
   * The comparison of version `d.version` disagreed (every member saw it, and threw at the same
   * commit): the members vote (digest-vote.ts). Those outside a majority are failed, with cause
   * `corruption`, and never return from here; the rest roll back to the newest version whose
   * digests agreed, as the sync that follows restores no newer one.
   *
   * Two members have no majority. The first time, both roll back and recompute (`retry`): a
   * flip that does not come back is gone. The second time from the same agreed version, one
   * of them (rank 1, a guess) steps out and a spare takes its place (`arbitrate`), restoring the
   * agreed version as any replacement does. If the remaining member and the spare then agree,
   * the one that stepped out was wrong and is gone; if they disagree as well, the member both
   * disagreements had in common is failed (`replace`). With no spare, nothing tells which
   * member is wrong, and the job ends (`fail_job`).
   */
  private async settle(d: Dispute): Promise<void> {
    const host = this.host;
    this.dispute = undefined;
    const vote = await voteOnDigests(d.digest, host.world, (b, op) => host.allreduce(b, op));
    const agreed = this.verifier.agreed;
    let action: 'replace' | 'retry' | 'arbitrate' | 'fail_job' = 'replace';
    let blamed: number | undefined;
    if (vote.majority === undefined) {
      // Every member is here (the vote is the same everywhere): one exchange of who kept its
      // place in an arbitration from this agreed version, and the fewest spares any member knows of.
      const r = await host.allreduce(new Float64Array([this.arbitratedFrom === agreed ? host.rank + 1 : 0, -(host.spares ?? 0)]), 'max');
      const kept = r[0] as number;
      const spares = -(r[1] as number);
      if (kept > 0) blamed = kept - 1;
      else action = this.retriedFrom !== agreed ? 'retry' : host.world === 2 && spares > 0 ? 'arbitrate' : 'fail_job';
    }
    const digests = vote.tallies.map((t) => ({ digest: digestHex(t.digest), members: t.members }));
    if (host.rank === 0) host.report('corruption_detected', { generation: host.generation, version: d.version, rollback_to: agreed, digests, action });
    this.ceiling = agreed;
    switch (action) {
      case 'retry':
        this.retriedFrom = agreed;
        return;
      case 'fail_job':
        throw new CorruptionUnresolvedError(
          `the ${host.world} members' digests of version ${d.version} differ with no majority, a second time since version ${agreed} (digests ${digests.map((x) => x.digest).join(', ')}): ${host.world === 2 ? 'no spare to tell which member is corrupt' : 'nothing tells which member is corrupt'}`,
          { node: host.node, rank: host.rank },
        );
      case 'arbitrate':
        if (host.rank === 1) await host.failCorrupt(`digest ${digestHex(d.digest)} of version ${d.version} differs from its partner's a second time since version ${agreed}: this member steps out so that a spare can tell which of the two is wrong`);
        this.arbitratedFrom = agreed;
        return;
      case 'replace':
        if (blamed !== undefined) {
          if (host.rank === blamed) await host.failCorrupt(`digest ${digestHex(d.digest)} of version ${d.version} differs from its partner's again since version ${agreed}, as it did with the partner that stepped out: this member is the one both disagreements had in common`);
          return;
        }
        if (d.digest !== vote.majority) await host.failCorrupt(`digest ${digestHex(d.digest)} of version ${d.version} differs from the majority's ${digestHex(vote.majority as number)}`);
    }
  }

  /** The step time of the last generation; one too short to measure keeps the one before. */
  private stepTime(): number | undefined {
    const { paceFrom: a, paceTo: b } = this;
    return b.step > a.step ? (b.at - a.at) / (b.step - a.step) : this.msPerStep;
  }

  private finish(stepsRedone: number, furthest: number): void {
    this.furthest = furthest;
    const now = this.host.now();
    this.paceFrom = { step: this.step, at: now };
    this.paceTo = { step: this.step, at: now };
    const ms = this.msPerStep;
    this.host.resumed(this.host.generation, stepsRedone, ms === undefined ? undefined : Math.round(stepsRedone * ms));
  }

  private restore(v: StateVersion): void {
    const values = this.values as Record<string, StateEntry>;
    v.meta.entries.forEach((e, i) => {
      const bytes = v.data[i] as Uint8Array;
      if (!this.names.includes(e.name)) throw new InvalidArgumentError(`stored version ${v.meta.version} has entry "${e.name}", which this program does not register`);
      const cur = values[e.name] as StateEntry;
      if (e.kind === 'json') {
        values[e.name] = JSON.parse(Buffer.from(bytes).toString('utf8')) as JsonValue;
        return;
      }
      const arr = cur as TypedState;
      if (kindOf(cur) !== e.kind || arr.byteLength !== e.bytes) {
        throw new InvalidArgumentError(`stored entry "${e.name}" is ${e.kind}[${e.bytes} bytes], the program's is ${kindOf(cur)}[${arr.byteLength} bytes]`);
      }
      // An adopted draft belongs to a version (perhaps the one being restored, perhaps one
      // about to be truncated): it is never written, so the restored bytes go to a new array.
      const into = this.adopted.has(e.name) ? this.fresh(arr) : arr;
      bytesOf(into).set(bytes);
      values[e.name] = into;
    });
    this.drafts.clear();
    this.adopted.clear();
    this.keeper.buffers.liveFrom = Infinity;
    this.step = v.meta.step;
    this.version = v.meta.version;
    this.commits = v.meta.version;
  }
}

type TypedState = Float32Array | Float64Array | Int32Array;
/** The names of a state's typed-array entries: the ones that can have a draft. */
type TypedKeys<T> = { [K in keyof T]: T[K] extends TypedState ? K : never }[keyof T] & string;

const bytesOf = (a: TypedState): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

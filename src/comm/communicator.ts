import { EventEmitter } from 'node:events';
import {
  AbortedError,
  ClosedError,
  CollectiveMismatchError,
  InvalidArgumentError,
  PeerFailedError,
  ProtocolError,
  RollcallError,
  type PeerFailureReason,
} from '../errors.js';
import { allgatherRun, allreduceRun, barrierRun, broadcastRun, reduceScatterRun } from './algorithms/select.js';
import { segStart, type CollectiveRun, type RunContext, type RunSignature } from './algorithms/collective-run.js';
import { DTYPE_BY_CODE, REDUCE_BY_CODE, bytesPer, dtypeOf, type DType, type NumericArray, type ReduceOp } from './dtype.js';
import { FrameType, OpKind, type FrameHeader } from './frame.js';
import { PointToPoint } from './p2p.js';
import { BufferPool } from './buffer-pool.js';
import { Spinner } from './spinner.js';
import { cpuYield } from './cpu-yield.js';
import { PeerState, type Peer, type PeerHandler } from './peer.js';
import type { PeerSet } from './peer-set.js';
import { encodeJson } from './handshake.js';
import { realClock, type Clock, type TimerHandle } from '../util/clock.js';
import { isLegalMove, warnRefusedMove, type Moves } from '../util/state-moves.js';
import { z } from 'zod';
import { NO_JIT } from '../protocol/no-jit.js';

export enum CommState {
  Ready = 'ready',
  /** A peer failed or the caller aborted: every pending and later operation rejects. */
  Broken = 'broken',
  Closed = 'closed',
}

/**
 * Fail-stop: ready until the first failure (broken) or an end asked for (closed), never back.
 * A broken communicator may still be closed; a closed one goes nowhere.
 */
export const COMM_MOVES: Moves<CommState> = {
  [CommState.Ready]: [CommState.Broken, CommState.Closed],
  [CommState.Broken]: [CommState.Closed],
  [CommState.Closed]: [],
};

/**
 * The defaults (DEFAULT_TUNING, AUTO_SPIN_US, SHARED_SPIN_MAX_BYTES, DEDICATED_SPIN_MAX_BYTES, SPIN_US_PER_KIB) were chosen
 * by measurement. Each comment gives the decision and its reason, and points to the section of
 * docs/benchmarks.md that holds the figures ("Tuning choices" is "Tuning choices and the figures
 * behind them").
 */
export interface CommTuning {
  /** A peer silent this long while we wait on it is declared failed. Default 10 s. */
  timeoutMs: number;
  /** Idle links send a PING this often so a silent peer can be told from a busy one. */
  heartbeatMs: number;
  /** Buffers up to this size use the small-message algorithms (recursive doubling, binomial tree, Bruck, see algorithms/select.ts); above, halving-doubling, the ring or the chain. */
  smallBytes: number;
  /**
   * Allreduces up to this size use recursive doubling in worlds of 4 or more,
   * whatever smallBytes says: whole buffers in log2(R) rounds beat halving-doubling's 2·log2(R)
   * rounds while a round costs more than its bytes; above 64 KiB they no longer did. Not at 2
   * ranks, where the ring's two half-size steps were as fast or faster. Figures:
   * docs/benchmarks.md, "Tuning choices", and "Allreduce (float32 sum), 2026-11-28 (fourth
   * session)".
   */
  doublingMaxBytes: number;
  /**
   * Allreduces above smallBytes and up to this size use recursive halving and doubling
   * instead of the ring, in worlds of 4 or more: fewer rounds, the same bytes.
   * Up to 2 MiB, because above it the ring wins (its chunks pipeline). Figures:
   * docs/benchmarks.md, "Allreduce (float32 sum), 2026-11-28, before it: halving-doubling,
   * polling up to 256 KiB, longer warm-up", change 1.
   */
  halvingMaxBytes: number;
  /**
   * Pipelining unit of the ring and chain algorithms. Each chunk costs a frame, a write and a
   * wake-up, so 1 MiB, which beat 256 KiB at 2 and 4 ranks; the ring of 4 still pipelines 4
   * chunks per segment at 16 MiB. Figures: docs/benchmarks.md, "Allreduce (float32 sum),
   * 2026-11-27", "What changed the figures".
   */
  chunkBytes: number;
  /** Largest frame a peer may send us. */
  maxFrameBytes: number;
  /**
   * Busy-poll the event loop for up to this long after a collective starts, instead of
   * sleeping in epoll: see spinner.ts. createCommunicator() picks AUTO_SPIN_US when every rank
   * on this host can have a core to itself and the caller did not choose, else 0 (with more
   * ranks than cores, a spinning rank takes the core another rank needs).
   */
  spinUs: number;
  /**
   * Collectives up to this size poll: polling still paid at 256 KiB with 2 ranks; larger ones
   * are bound by copies, which need the CPU a polling rank takes. Figures: docs/benchmarks.md,
   * "Allreduce (float32 sum), 2026-11-28, before it: halving-doubling, polling up to 256 KiB,
   * longer warm-up", change 2, and "Tuning choices".
   */
  spinMaxBytes: number;
  /**
   * Between polls, yield the core (sched_yield, see cpu-yield.ts). createCommunicator() turns it
   * on, with polling up to SHARED_SPIN_MAX_BYTES, when this host has more ranks than cores and
   * the caller did not choose: then a polling rank needs no wake-up and hands its core to the
   * rank it shares it with. It paid at 4 KiB, not at 64 KiB and up. Figures: docs/benchmarks.md,
   * "Tuning choices", and "Allreduce (float32 sum), 2026-11-28 (fourth session)".
   */
  spinYield: boolean;
  /**
   * Polls that outlast spinUs (those of large collectives, whose window grows with their size)
   * yield the core between polls (see spinner.ts). createCommunicator() turns it on, with
   * polling up to DEDICATED_SPIN_MAX_BYTES, when every rank on this host has a core and the
   * caller did not choose. Figures: docs/benchmarks.md, "Allreduce against Open MPI,
   * interleaved (2026-12-07)".
   */
  spinLateYield: boolean;
}

/** Frozen: a library's defaults changed by one caller would change them for every other. */
export const DEFAULT_TUNING: Readonly<CommTuning> = Object.freeze({
  timeoutMs: 10_000,
  heartbeatMs: 1_000,
  smallBytes: 32 * 1024,
  doublingMaxBytes: 64 * 1024,
  halvingMaxBytes: 2 * 1024 * 1024,
  chunkBytes: 1024 * 1024,
  maxFrameBytes: 64 * 1024 * 1024,
  spinUs: 0,
  spinMaxBytes: 256 * 1024,
  spinYield: false,
  spinLateYield: false,
} satisfies CommTuning);

/** With more ranks than cores, collectives up to this size poll (and yield). */
export const SHARED_SPIN_MAX_BYTES = 16 * 1024;

/**
 * With a core for each rank and yields for the long polls (spinLateYield), collectives up to
 * this size poll: the 1 MiB allreduce of 2 ranks then mostly no longer sleeps in epoll, which
 * on this VM costs a wake-up per call. Not 16 MiB, where polling was measured no better
 * (docs/benchmarks.md, "Allreduce against Open MPI, interleaved (2026-12-07)").
 */
export const DEDICATED_SPIN_MAX_BYTES = 1024 * 1024;

/**
 * Long enough for most 4 KiB replies, with room for a late peer; shorter than an idle core takes
 * to wake (docs/architecture.md, "Choices and their reasons").
 */
export const AUTO_SPIN_US = 50;
/**
 * Added to the polling window per KiB of the collective, for the transfer itself: sized from
 * loopback's bandwidth here (docs/benchmarks.md, "Tuning choices").
 */
const SPIN_US_PER_KIB = 1;

export interface OpOptions {
  /**
   * Aborting it ends the communicator, as `abort()` does: a collective cancelled on one rank
   * cannot complete on the others, and a half-sent message would desynchronise the stream. This
   * operation and every pending and later one reject with AbortedError (its `cause` is
   * `signal.reason`), on this rank and, once told, on its peers. To stop waiting for one
   * operation alone, race it instead.
   */
  signal?: AbortSignal;
}

/**
 * The operations a Communicator and the runtime's Job both offer, with the same names, arguments
 * and results: code written against this runs on either. (A Communicator's methods take one
 * more, optional, argument: OpOptions.)
 */
export interface Collectives {
  readonly rank: number;
  readonly world: number;
  /** In place; every rank ends with the same bits. */
  allreduce<T extends NumericArray>(buf: T, op?: ReduceOp): Promise<T>;
  /** In place, from `root`. */
  broadcast<T extends NumericArray>(buf: T, root?: number): Promise<T>;
  /** Every rank's `input` into `output` (world × input.length, rank order; allocated if not given). */
  allgather<T extends NumericArray>(input: T, output?: T): Promise<T>;
  barrier(): Promise<void>;
  /** Resolves once the data no longer needs `buf`. */
  send(buf: NumericArray, to: number, opts?: { tag?: number }): Promise<void>;
  /** The next message from `from` with this tag, into `buf` (same length and dtype). */
  recv<T extends NumericArray>(buf: T, from: number, opts?: { tag?: number }): Promise<T>;
}

export interface CommEvents {
  broken: [err: RollcallError];
  closed: [];
}

/** A collective called but not started yet: they run one at a time, in call order. */
interface QueuedOp {
  sig: RunSignature;
  make: () => CollectiveRun;
  done: (err?: Error) => void;
}

interface EarlyFrame {
  h: FrameHeader;
  payload: Uint8Array;
  from: number;
}

/**
 * An ABORT frame's payload: why this communicator failed, for every rank still reachable. Not a
 * serialized error (protocol/error-wire.ts): the receiver does not rebuild the sender's error
 * but fails with its own, a PeerFailedError naming the `failed` ranks, `reason` and detector
 * (or a CollectiveMismatchError), relayed on; and `failed` is sent for any error, ProtocolError
 * included. It is the communication library's own wire, like frame.ts and handshake.ts, and
 * comm does not import protocol/.
 */
const AbortPayload = z.object({
  code: z.string(),
  message: z.string(),
  detail: z.string().optional(),
  failed: z.array(z.number().int().nonnegative()),
  reason: z.string(),
  detectedBy: z.number().int().optional(),
});

/**
 * A communicator for one generation of a group: `world` ranks of job `job`. It is fail-stop:
 * the first failure (a peer lost, a mismatch, an abort) breaks it for good, every pending and
 * later operation rejects with that typed error, and the other ranks are told why. Recovery
 * means building a new communicator for a new generation, which is the proxy's job.
 */
export class Communicator extends EventEmitter<CommEvents> implements Collectives {
  /** Read through `state`; changed only by moveTo(). */
  private commState = CommState.Ready;
  private failure: RollcallError | undefined;
  private seq = 0;
  /** Collectives must run one at a time, in call order, on every rank. */
  private readonly queue: QueuedOp[] = [];
  private pumping = false;
  private current: CollectiveRun | undefined;
  /** Collective frames that arrived for a collective we have not started yet. */
  private readonly early = new Map<number, EarlyFrame[]>();
  /** Sequence number of the collective that started last, -1 before the first. */
  private lastStarted = -1;
  /** Signatures of the last few collectives, to diagnose a late frame from a mismatched call. */
  private readonly recent = new Map<number, RunSignature>();
  /** Ranks that closed their communicator cleanly; the next operation fails on them. */
  private readonly departed = new Set<number>();
  private readonly p2p: PointToPoint;
  private readonly pool = new BufferPool();
  private readonly spinner: Spinner;
  private readonly ctx: RunContext;
  /** How often liveness is checked; each check arms the next, on `clock`, while ready. */
  private readonly livenessMs: number;
  private livenessTimer: TimerHandle;
  private lastTick: number;

  constructor(
    readonly job: string,
    readonly generation: number,
    readonly rank: number,
    readonly world: number,
    /** Made on demand: a rank connects only to the partners its algorithms use (peer-set.ts). */
    private readonly peers: PeerSet,
    readonly tuning: CommTuning,
    /** Liveness runs on it: the links' last-heard and last-sent times must come from the same clock. */
    private readonly clock: Clock = realClock,
  ) {
    super();
    const handler: PeerHandler = {
      frame: (peer, h, p) => this.onFrame(peer, h, p),
      lost: (peer, err) => this.onPeerLost(peer, err),
    };
    peers.attach(handler);
    // Sharing cores: yield from the first poll. A core each: only polls that outlast spinUs.
    const yieldCpu = tuning.spinYield || tuning.spinLateYield ? cpuYield() : undefined;
    this.spinner = new Spinner(tuning.spinUs, yieldCpu, tuning.spinYield ? 0 : tuning.spinUs);
    const chunkElems = (d: DType): number => Math.max(1, Math.floor(tuning.chunkBytes / bytesPer(d)));
    this.ctx = {
      rank,
      world,
      chunkElems,
      pool: this.pool,
      sendData: (to, fields, step, offset, payload, onFlushed) =>
        this.peerFor(to).sendFrame(FrameType.Data, fields, step, offset, payload, this.flushed(to, onFlushed)),
    };
    this.p2p = new PointToPoint({
      rank,
      chunkElems,
      sendP2P: (to, h, payload, onFlushed) => this.peerFor(to).send(FrameType.P2P, h, payload, this.flushed(to, onFlushed)),
    });
    this.livenessMs = Math.max(1, Math.min(tuning.heartbeatMs, tuning.timeoutMs / 4));
    this.lastTick = clock.now();
    // realClock's timers are unref()'d: liveness bookkeeping never keeps a process alive.
    this.livenessTimer = clock.setTimeout(this.livenessTick, this.livenessMs);
  }

  /** ready, then broken or closed for good (COMM_MOVES). */
  get state(): CommState {
    return this.commState;
  }

  /** The error that broke this communicator, if any. */
  get error(): RollcallError | undefined {
    return this.failure;
  }

  /** In-place allreduce. Resolves with `buf`, which then holds the result on every rank. */
  allreduce<T extends NumericArray>(buf: T, op: ReduceOp = 'sum', opts: OpOptions = {}): Promise<T> {
    const dtype = dtypeOf(buf);
    checkOp(op);
    const sig = this.sig(OpKind.Allreduce, dtype, op, buf.length, 0);
    return this.run(sig, opts, () => allreduceRun(this.ctx, sig, buf, op, this.tuning), buf);
  }

  /** In-place broadcast of `buf` from `root` to every rank. */
  broadcast<T extends NumericArray>(buf: T, root = 0, opts: OpOptions = {}): Promise<T> {
    const dtype = dtypeOf(buf);
    this.checkRank(root, 'root');
    const sig = this.sig(OpKind.Broadcast, dtype, undefined, buf.length, root);
    return this.run(sig, opts, () => broadcastRun(this.ctx, sig, buf, root, this.tuning), buf);
  }

  /** Gathers every rank's `input` into `output` (length world × input.length), in rank order. */
  allgather<T extends NumericArray>(input: T, output?: T, opts: OpOptions = {}): Promise<T> {
    const dtype = dtypeOf(input);
    const n = input.length;
    const out = output ?? (new (input.constructor as new (len: number) => T)(n * this.world));
    if (dtypeOf(out) !== dtype || out.length !== n * this.world) {
      throw new InvalidArgumentError(`allgather output must be a ${dtype} array of ${n * this.world} elements (world ${this.world} × ${n})`, { rank: this.rank });
    }
    const sig = this.sig(OpKind.Allgather, dtype, undefined, n, 0);
    return this.run(sig, opts, () => allgatherRun(this.ctx, sig, input, out, this.tuning), out);
  }

  /**
   * Reduces `buf` across ranks and leaves this rank's segment of the result in place: segment r
   * is [floor(r·n/world), floor((r+1)·n/world)). Resolves with a view of that segment.
   */
  reduceScatter<T extends NumericArray>(buf: T, op: ReduceOp = 'sum', opts: OpOptions = {}): Promise<T> {
    const dtype = dtypeOf(buf);
    checkOp(op);
    const sig = this.sig(OpKind.ReduceScatter, dtype, op, buf.length, 0);
    return this.run(sig, opts, () => reduceScatterRun(this.ctx, sig, buf, op, this.tuning), this.segmentOf(buf, this.rank));
  }

  /** This rank's segment of a reduce-scatter result: a view, not a copy. */
  segmentOf<T extends NumericArray>(buf: T, rank: number): T {
    return buf.subarray(segStart(rank, buf.length, this.world), segStart(rank + 1, buf.length, this.world)) as T;
  }

  barrier(opts: OpOptions = {}): Promise<void> {
    const sig = this.sig(OpKind.Barrier, 'int32', undefined, 0, 0);
    return this.run(sig, opts, () => barrierRun(this.ctx, sig), undefined);
  }

  /** Sends `buf` to rank `to`. Resolves once the data no longer needs `buf`. */
  send(buf: NumericArray, to: number, opts: OpOptions & { tag?: number } = {}): Promise<void> {
    const dtype = dtypeOf(buf);
    this.checkRank(to, 'destination');
    if (this.departed.has(to)) this.failDeparted([to]);
    return this.guard(opts, () => this.p2p.send(buf, dtype, to, opts.tag ?? 0));
  }

  /** Receives the next message from rank `from` into `buf`; its length, dtype and tag must match. */
  recv<T extends NumericArray>(buf: T, from: number, opts: OpOptions & { tag?: number } = {}): Promise<T> {
    const dtype = dtypeOf(buf);
    this.checkRank(from, 'source');
    const p = this.guard(opts, () => this.p2p.recv(buf, dtype, from, opts.tag ?? 0)).then(() => buf);
    this.checkDeparted();
    return p;
  }

  /** Cancels everything: pending and later operations reject with AbortedError, peers are told. */
  abort(reason = 'aborted by the caller'): void {
    this.fail(new AbortedError(`rank ${this.rank}: ${reason}`, { rank: this.rank }), [this.rank]);
  }

  /**
   * Ends at once, waiting for nothing: for a proxy being replaced (a goodbye queued behind a
   * stopped peer's full socket would hold the process open). A library communicator drops its
   * links with no final word, as a crash would. The runtime's, whose links are kept for the next
   * generation (link-park.ts), says on each that this rank left the generation (an ABORT naming
   * no failed rank, so nobody is blamed) and parks it.
   */
  destroy(reason = 'destroyed'): void {
    const wasReady = this.commState === CommState.Ready;
    const err = new ClosedError(`communicator of rank ${this.rank} ${reason}`, { rank: this.rank });
    if (wasReady) this.end(CommState.Closed, err);
    this.peers.destroy(wasReady ? abortPayload(err, []) : undefined);
  }

  /** Closes the links gracefully. Pending operations reject with ClosedError. */
  close(): void {
    if (this.commState === CommState.Closed) return;
    const wasReady = this.commState === CommState.Ready;
    if (!this.end(CommState.Closed, this.failure ?? new ClosedError(`communicator of rank ${this.rank} was closed`, { rank: this.rank }))) return;
    if (wasReady) this.peers.bye();
    else this.peers.destroy();
    this.emit('closed');
  }

  // ---- internals ----

  private sig(kind: OpKind, dtype: DType, redop: ReduceOp | undefined, count: number, tag: number): RunSignature {
    return { seq: this.seq++, kind, dtype, redop, count, tag };
  }

  /** A write that fails means the link is gone: that is a peer failure, reported as one. */
  private flushed(to: number, onFlushed: (err?: Error) => void): (err?: Error) => void {
    return (err) => {
      if (!err) return onFlushed();
      this.fail(new PeerFailedError([to], 'reset', this.rank, `write failed: ${err.message}`, { cause: err }), [to]);
      onFlushed(this.failure ?? err);
    };
  }

  private checkRank(r: number, what: string): void {
    if (!Number.isInteger(r) || r < 0 || r >= this.world) {
      throw new InvalidArgumentError(`${what} rank ${r} is out of range for world size ${this.world}`, { rank: this.rank });
    }
    if (what !== 'root' && r === this.rank) throw new InvalidArgumentError(`${what} rank ${r} is this rank itself`, { rank: this.rank });
  }

  private peerFor(rank: number): Peer {
    if (rank === this.rank || !(rank >= 0 && rank < this.world)) throw new ProtocolError(`no link to rank ${rank}`, { rank });
    return this.peers.peerFor(rank);
  }

  /** Ranks this communicator holds connections with, ascending: the partners used so far. */
  get partners(): number[] {
    return this.peers.ranks();
  }

  /** Ranks this communicator dialed, in order (each once). */
  get dialed(): readonly number[] {
    return this.peers.dialed;
  }

  /** Why an operation cannot start now (broken, closed, or its signal already aborted), if so. */
  private refusal(signal: AbortSignal | undefined): Error | undefined {
    if (this.failure) return this.failure;
    if (this.commState === CommState.Closed) return new ClosedError(`communicator of rank ${this.rank} is closed`, { rank: this.rank });
    if (signal?.aborted) {
      this.abortedBy(signal);
      return this.failure;
    }
    return undefined;
  }

  /** An operation's signal aborted: the communicator ends (see OpOptions), keeping the signal's reason. */
  private abortedBy(signal: AbortSignal): void {
    const reason: unknown = signal.reason;
    const why = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : String(reason);
    this.fail(new AbortedError(`rank ${this.rank}: an operation's signal aborted (${why}); the communicator is ended`, { rank: this.rank, cause: reason }), [this.rank]);
  }

  private guard<T>(opts: OpOptions, work: () => Promise<T>): Promise<T> {
    const signal = opts.signal;
    const refused = this.refusal(signal);
    if (refused) return Promise.reject(refused);
    const onAbort = (): void => this.abortedBy(signal as AbortSignal);
    signal?.addEventListener('abort', onAbort, { once: true });
    let p: Promise<T>;
    try {
      p = work();
    } catch (e) {
      p = Promise.reject(e);
    }
    return p.finally(() => signal?.removeEventListener('abort', onAbort));
  }

  /**
   * Queues a collective; it starts in a microtask if none is running (not synchronously, so
   * that a close() or abort() right after the call still finds nothing sent). The returned
   * promise is the only one made per call: no chain of promise hops per operation.
   */
  private run<T>(sig: RunSignature, opts: OpOptions, make: () => CollectiveRun, result: T): Promise<T> {
    const signal = opts.signal;
    const refused = this.refusal(signal);
    if (refused) return Promise.reject(refused);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => this.abortedBy(signal as AbortSignal);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (err?: Error): void => {
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(result);
      };
      this.queue.push({ sig, make, done });
      if (this.queue.length === 1 && !this.current) queueMicrotask(this.pumpTask);
    });
  }

  private readonly pumpTask = (): void => this.pump();

  /** Starts queued collectives while none is running; re-entered when one settles. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.current && this.queue.length > 0) this.startOp(this.queue.shift()!);
    } finally {
      this.pumping = false;
    }
  }

  private startOp(op: QueuedOp): void {
    if (this.failure) return op.done(this.failure);
    if (this.commState === CommState.Closed) return op.done(new ClosedError(`communicator of rank ${this.rank} is closed`, { rank: this.rank }));
    let run: CollectiveRun;
    try {
      run = op.make();
    } catch (e) {
      return op.done(e as Error);
    }
    const sig = op.sig;
    this.current = run;
    this.lastStarted = sig.seq;
    this.recent.set(sig.seq, sig);
    this.recent.delete(sig.seq - 16);
    run.onSettled = (err) => {
      if (this.current === run) this.current = undefined;
      op.done(err);
      this.pump();
    };
    try {
      run.begin();
      // Not the large collectives: they are bound by copies, and a polling rank takes the CPU
      // they need (spinMaxBytes). The window grows with the size, for the transfer itself.
      const bytes = sig.count * bytesPer(sig.dtype);
      if (!run.settled && bytes <= this.tuning.spinMaxBytes) this.spinner.watch(run, (bytes / 1024) * SPIN_US_PER_KIB);
      const queued = this.early.get(sig.seq);
      if (queued) {
        this.early.delete(sig.seq);
        for (const f of queued) {
          this.deliver(run, f);
          this.pool.release(f.payload);
        }
      }
      this.checkDeparted();
    } catch (e) {
      run.fail(e as Error);
    }
  }

  private onFrame(peer: Peer, h: FrameHeader, payload: Uint8Array): void {
    if (this.commState !== CommState.Ready) return;
    try {
      if (h.type === FrameType.Abort) return this.onRemoteAbort(peer, payload);
      if (h.type === FrameType.P2P) return this.p2p.onFrame(peer.rank, h, payload);
      const run = this.current;
      if (run && h.seq === run.sig.seq) return this.dispatch(run, h, payload, peer.rank);
      // A peer may run ahead by several collectives; keep its frames until we get there.
      if (h.seq > this.lastStarted) {
        const list = this.early.get(h.seq) ?? [];
        this.early.set(h.seq, list);
        // The decoder reuses payload memory once we return, so an early frame keeps a copy.
        list.push({ h, payload: this.pool.copy(payload), from: peer.rank });
        return;
      }
      // A late frame for a finished collective: if its call differed from ours, say so.
      const past = this.recent.get(h.seq);
      if (past) this.checkSignature(past, h, peer.rank);
      throw new ProtocolError(`rank ${peer.rank} sent a frame for collective #${h.seq}, which is already finished here`, { rank: peer.rank });
    } catch (e) {
      this.fail(asRollcall(e, peer.rank), [peer.rank]);
    }
  }

  private deliver(run: CollectiveRun, f: EarlyFrame): void {
    try {
      this.dispatch(run, f.h, f.payload, f.from);
    } catch (e) {
      this.fail(asRollcall(e, f.from), [f.from]);
    }
  }

  /**
   * A rank that said BYE has sent everything it ever will (BYE travels after its data), so an
   * operation still waiting on it can never finish: fail it now rather than at the timeout.
   */
  private checkDeparted(): void {
    if (this.departed.size === 0 || this.commState !== CommState.Ready) return;
    const needed = [...(this.current?.waitingOn() ?? []), ...this.p2p.waitingOn()];
    const gone = [...new Set(needed.filter((r) => this.departed.has(r)))];
    if (gone.length > 0) this.failDeparted(gone);
  }

  private failDeparted(gone: number[]): void {
    this.fail(new PeerFailedError(gone, 'closed', this.rank, 'the peer closed its communicator'), gone);
  }

  private dispatch(run: CollectiveRun, h: FrameHeader, payload: Uint8Array, from: number): void {
    this.checkSignature(run.sig, h, from);
    run.onFrame(from, h, payload);
  }

  private checkSignature(s: RunSignature, h: FrameHeader, from: number): void {
    const dt = DTYPE_BY_CODE.get(h.dtype);
    const ro = h.redop === 0 ? undefined : REDUCE_BY_CODE.get(h.redop);
    if (h.kind !== s.kind || dt !== s.dtype || ro !== s.redop || h.count !== s.count || h.tag !== s.tag) {
      const theirs = describeCall(h.kind, dt ?? `dtype#${h.dtype}`, ro, h.count, h.tag);
      const ours = describeCall(s.kind, s.dtype, s.redop, s.count, s.tag);
      throw new CollectiveMismatchError(
        `collective #${s.seq}: rank ${from} called ${theirs} but rank ${this.rank} called ${ours}`,
        { rank: from },
      );
    }
  }

  private onRemoteAbort(peer: Peer, payload: Uint8Array): void {
    let a: z.infer<typeof AbortPayload>;
    try {
      a = AbortPayload.parse(JSON.parse(Buffer.from(payload).toString('utf8')), NO_JIT);
    } catch {
      throw new ProtocolError(`rank ${peer.rank} sent a malformed ABORT frame`, { rank: peer.rank });
    }
    const reason = (['reset', 'closed', 'timeout'] as const).find((r) => r === a.reason) ?? 'reported';
    // A rank that left the generation on its runtime's word (destroy(): its proxy ended for a
    // relaunch) names nobody failed: the generation is over, and no rank is to blame.
    const err =
      a.code === 'ERR_COLLECTIVE_MISMATCH'
        ? new CollectiveMismatchError(`reported by rank ${peer.rank}: ${a.message}`, { rank: peer.rank })
        : a.code === 'ERR_CLOSED' && a.failed.length === 0
          ? new ClosedError(`${a.message} (relayed by rank ${peer.rank})`, { rank: a.detectedBy ?? peer.rank })
          : new PeerFailedError(a.failed, reason, a.detectedBy ?? peer.rank, `${a.detail ?? a.message} (relayed by rank ${peer.rank})`);
    // Passing the report on is harmless (duplicates are ignored) and beats a race: without
    // it, a rank could see our links drop before the reporter's ABORT and blame us.
    this.fail(err, a.failed);
  }

  private onPeerLost(peer: Peer, err: Error | undefined): void {
    if (this.commState !== CommState.Ready) return;
    if (peer.state === PeerState.Departed) {
      this.departed.add(peer.rank);
      this.checkDeparted();
      return;
    }
    if (err instanceof RollcallError && !(err instanceof PeerFailedError)) {
      this.fail(err, [peer.rank]);
      return;
    }
    const reason: PeerFailureReason = (err as NodeJS.ErrnoException | undefined)?.code === 'ECONNRESET' ? 'reset' : 'closed';
    this.fail(new PeerFailedError([peer.rank], reason, this.rank, err?.message, { cause: err }), [peer.rank]);
  }

  private readonly livenessTick = (): void => {
    try {
      this.checkLiveness();
    } finally {
      if (this.commState === CommState.Ready) this.livenessTimer = this.clock.setTimeout(this.livenessTick, this.livenessMs);
    }
  };

  private checkLiveness(): void {
    const now = this.clock.now();
    const interval = Math.min(this.tuning.heartbeatMs, this.tuning.timeoutMs / 4);
    const late = now - this.lastTick > 3 * interval;
    this.lastTick = now;
    if (this.commState !== CommState.Ready) return;
    for (const p of this.peers.values()) {
      if (p.state === PeerState.Ready && now - p.lastSent >= this.tuning.heartbeatMs) p.ping();
    }
    // If our own event loop was blocked, incoming bytes are still waiting in socket buffers:
    // judging peers by lastHeard now would blame them for our stall.
    if (late) {
      for (const p of this.peers.values()) p.lastHeard = Math.max(p.lastHeard, now - interval);
      return;
    }
    const waiting = new Set([...(this.current?.waitingOn() ?? []), ...this.p2p.waitingOn()]);
    if (waiting.size === 0) return;
    // A rank we wait on but never talked to may be dead before it ever dialed us: connect to it,
    // so its death is seen (a refused dial, by its deadline) instead of waited on forever.
    for (const r of waiting) if (r !== this.rank) this.peers.peerFor(r);
    // A peer still connecting counts as silent since it was made: a stopped process accepts
    // connections (its kernel does) but never answers the handshake.
    const silent = [...this.peers.values()].filter((p) => p.state === PeerState.Ready && now - p.lastHeard > this.tuning.timeoutMs).map((p) => p.rank);
    if (silent.length > 0) {
      this.fail(
        new PeerFailedError(silent, 'timeout', this.rank, `no frame or heartbeat for over ${this.tuning.timeoutMs} ms`),
        silent,
      );
    }
  }

  /** The one place the state changes; an illegal move is refused and reported, never made. */
  private moveTo(to: CommState): boolean {
    if (!isLegalMove(COMM_MOVES, this.commState, to)) {
      warnRefusedMove(`communicator of rank ${this.rank}`, this.commState, to);
      return false;
    }
    this.commState = to;
    return true;
  }

  /**
   * What every end shares (failure, destroy, close): the move, no more liveness checks, and every
   * pending operation rejected with `err`. What differs, the peers' last word, is the caller's.
   */
  private end(to: CommState.Broken | CommState.Closed, err: RollcallError): boolean {
    if (!this.moveTo(to)) return false;
    if (to === CommState.Broken) this.failure = err;
    this.clock.clearTimeout(this.livenessTimer);
    this.current?.fail(err);
    this.p2p.failAll(err);
    return true;
  }

  /**
   * The single failure path: record, reject everything, tell the others why, drop the links.
   * Ranks believed dead or misbehaving get no final word; everyone else gets an ABORT. Only the
   * first failure counts (fail-stop): later ones, and any after a close, change nothing.
   */
  private fail(err: RollcallError, failed: number[]): void {
    if (this.commState !== CommState.Ready || !this.end(CommState.Broken, err)) return;
    const dead = err instanceof PeerFailedError || err instanceof ProtocolError ? failed : [];
    this.peers.fail(abortPayload(err, failed, this.rank), dead);
    this.emit('broken', err);
  }
}

/** An ABORT frame's payload (AbortPayload): why the communicator ended, and who failed, if anyone. */
function abortPayload(err: RollcallError, failed: readonly number[], rank = err.rank ?? -1): Uint8Array {
  const pf = err instanceof PeerFailedError ? err : undefined;
  return encodeJson({ code: err.code, message: err.message, detail: pf?.detail, failed, reason: pf?.reason ?? 'error', detectedBy: pf?.detectedBy ?? rank });
}

function checkOp(op: ReduceOp): void {
  if (!['sum', 'avg', 'min', 'max', 'prod'].includes(op)) throw new InvalidArgumentError(`unknown reduce op "${String(op)}"; use sum, avg, min, max or prod`);
}

function describeCall(kind: OpKind, dtype: string, redop: string | undefined, count: number, tag: number): string {
  const name = OpKind[kind] ?? `op#${kind}`;
  return `${name}(${count} × ${dtype}${redop ? `, ${redop}` : ''}${kind === OpKind.Broadcast ? `, root ${tag}` : ''})`;
}

function asRollcall(e: unknown, rank: number): RollcallError {
  if (e instanceof RollcallError) return e;
  return new ProtocolError(`while handling a frame from rank ${rank}: ${(e as Error)?.message ?? String(e)}`, { rank, cause: e });
}

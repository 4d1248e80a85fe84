import { ProtocolError } from '../../errors.js';
import { DTYPE_CODE, REDUCE_CODE, bytesPer, type DType, type NumericArray, type ReduceOp } from '../dtype.js';
import { OpKind, type FrameHeader } from '../frame.js';
import type { BufferPool } from '../buffer-pool.js';

/** What a running collective needs from its communicator. */
export interface RunContext {
  readonly rank: number;
  readonly world: number;
  /** Elements per pipelined chunk for this dtype. */
  chunkElems(dtype: DType): number;
  sendData(to: number, h: Partial<FrameHeader>, payload: Uint8Array, onFlushed: (err?: Error) => void): void;
  /** Scratch memory that outlives a call would only feed the garbage collector. */
  readonly pool: BufferPool;
}

export interface RunSignature {
  seq: number;
  kind: OpKind;
  dtype: DType;
  redop: ReduceOp | undefined;
  count: number;
  /** Broadcast root, or 0. */
  tag: number;
}

/**
 * One execution of one collective on this rank. Frames are pushed in as they arrive (from the
 * socket's data handler, so reductions overlap with transfer); the run resolves only once every
 * expected frame was consumed *and* every send it made was flushed, because sends reference the
 * caller's buffer without copying it.
 */
export abstract class CollectiveRun {
  readonly promise: Promise<void>;
  private resolveFn!: () => void;
  private rejectFn!: (e: Error) => void;
  private pendingWrites = 0;
  private framesLeft = 0;
  private started = false;
  settled = false;

  constructor(
    protected readonly ctx: RunContext,
    readonly sig: RunSignature,
  ) {
    this.promise = new Promise<void>((res, rej) => {
      this.resolveFn = res;
      this.rejectFn = rej;
    });
    // The communicator attaches its own handler; this keeps an unobserved rejection quiet.
    this.promise.catch(() => undefined);
  }

  get headerFields(): Partial<FrameHeader> {
    const s = this.sig;
    return {
      seq: s.seq,
      kind: s.kind,
      dtype: DTYPE_CODE[s.dtype],
      redop: s.redop ? REDUCE_CODE[s.redop] : 0,
      count: s.count,
      tag: s.tag,
    };
  }

  /** Makes the initial sends. Subclasses set the number of frames they expect first. */
  begin(): void {
    this.started = true;
    this.start();
    this.maybeComplete();
  }

  /** True while frames are still expected: a run only waiting on its own sends needs no one. */
  get expecting(): boolean {
    return this.framesLeft > 0;
  }

  protected expectFrames(n: number): void {
    this.framesLeft += n;
  }

  protected abstract start(): void;
  abstract onFrame(from: number, h: FrameHeader, payload: Uint8Array): void;
  /** Ranks this run still expects frames from: the suspects if it stalls. */
  abstract waitingOn(): number[];
  /** Runs once all frames are in and all sends flushed, before the run resolves. */
  protected finish(): void {}

  protected send(to: number, step: number, offset: number, payload: Uint8Array): void {
    this.pendingWrites++;
    this.ctx.sendData(to, { ...this.headerFields, step, offset }, payload, (err) => {
      this.pendingWrites--;
      if (err) this.fail(err);
      else this.maybeComplete();
    });
  }

  protected frameDone(): void {
    this.framesLeft--;
    this.maybeComplete();
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.rejectFn(err);
  }

  private maybeComplete(): void {
    if (this.settled || !this.started || this.framesLeft > 0 || this.pendingWrites > 0) return;
    this.settled = true;
    try {
      this.finish();
      this.resolveFn();
    } catch (e) {
      this.rejectFn(e as Error);
    }
  }

  protected badFrame(from: number, what: string): ProtocolError {
    return new ProtocolError(`rank ${from}: ${what} in collective #${this.sig.seq} (${OpKind[this.sig.kind]})`, { rank: from });
  }

  protected checkLength(from: number, payload: Uint8Array, elems: number): void {
    if (payload.byteLength !== elems * bytesPer(this.sig.dtype)) {
      throw this.badFrame(from, `frame of ${payload.byteLength} bytes where ${elems * bytesPer(this.sig.dtype)} were expected`);
    }
  }
}

export function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

/** Start of segment `i` when `n` elements are split as evenly as possible into `parts`. */
export function segStart(i: number, n: number, parts: number): number {
  return Math.floor((i * n) / parts);
}

export function chunkCount(elems: number, chunk: number): number {
  return Math.ceil(elems / chunk);
}

export type { NumericArray };

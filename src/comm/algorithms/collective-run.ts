import { ProtocolError } from '../../errors.js';
import { DTYPE_CODE, REDUCE_CODE, bytesPer, type DType, type NumericArray, type ReduceOp } from '../dtype.js';
import { OpKind, type FrameFields, type FrameHeader } from '../frame.js';
import type { BufferPool } from '../buffer-pool.js';

/** What a running collective needs from its communicator. */
export interface RunContext {
  readonly rank: number;
  readonly world: number;
  /** Elements per pipelined chunk for this dtype. */
  chunkElems(dtype: DType): number;
  sendData(to: number, fields: FrameFields, step: number, offset: number, payload: Uint8Array, onFlushed: (err?: Error) => void): void;
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
  /** Header fields shared by every frame of this call. */
  readonly fields: FrameFields;
  /** Set by the communicator before begin(): called once, when the run resolves or fails. */
  onSettled: (err?: Error) => void = () => undefined;
  private pendingWrites = 0;
  private framesLeft = 0;
  private started = false;
  settled = false;

  constructor(
    protected readonly ctx: RunContext,
    readonly sig: RunSignature,
  ) {
    this.fields = {
      seq: sig.seq,
      kind: sig.kind,
      dtype: DTYPE_CODE[sig.dtype],
      redop: sig.redop ? REDUCE_CODE[sig.redop] : 0,
      count: sig.count,
      tag: sig.tag,
    };
  }

  /** Makes the initial sends. Subclasses set the number of frames they expect first. */
  begin(): void {
    this.start();
    // Only now: a send may report its flush synchronously, and must not complete the run
    // before start() has issued every send.
    this.started = true;
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
    this.ctx.sendData(to, this.fields, step, offset, payload, this.flushed);
  }

  private readonly flushed = (err?: Error): void => {
    this.pendingWrites--;
    if (err) this.fail(err);
    else this.maybeComplete();
  };

  protected frameDone(): void {
    this.framesLeft--;
    this.maybeComplete();
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.onSettled(err);
  }

  private maybeComplete(): void {
    if (this.settled || !this.started || this.framesLeft > 0 || this.pendingWrites > 0) return;
    this.settled = true;
    let err: Error | undefined;
    try {
      this.finish();
    } catch (e) {
      err = e as Error;
    }
    this.onSettled(err);
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

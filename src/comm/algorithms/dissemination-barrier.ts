import type { FrameHeader } from '../frame.js';
import { CollectiveRun, mod } from './collective-run.js';

const EMPTY = new Uint8Array(0);

/**
 * The dissemination barrier (Hensgen, Finkel and Manber): ceil(log2 R) rounds; in round k each
 * rank sends an empty frame to rank + 2^k and waits for one from rank - 2^k, and it starts
 * round k+1 only once round k's frame is in. After the last round every rank has heard,
 * through some chain, from every other, on any R. Each rank talks to 2·ceil(log2 R) others.
 */
export class DisseminationBarrierRun extends CollectiveRun {
  private readonly rounds = this.ctx.world > 1 ? Math.ceil(Math.log2(this.ctx.world)) : 0;
  /** got[k] is 1 once round k's frame is in: a rank ahead of us may send round k+1 first. */
  private readonly got = new Uint8Array(this.rounds);
  /** Rounds whose frame we have sent. */
  private sent = 0;

  private from(k: number): number {
    return mod(this.ctx.rank - 2 ** k, this.ctx.world);
  }

  protected start(): void {
    this.expectFrames(this.rounds);
    this.advance();
  }

  /** Sends every round whose predecessors are all in. */
  private advance(): void {
    while (this.sent < this.rounds && (this.sent === 0 || this.got[this.sent - 1] === 1)) {
      this.send(mod(this.ctx.rank + 2 ** this.sent, this.ctx.world), this.sent, 0, EMPTY);
      this.sent++;
    }
  }

  onFrame(from: number, h: FrameHeader, payload: Uint8Array): void {
    const k = h.step;
    if (k >= this.rounds || from !== this.from(k) || this.got[k] === 1) throw this.badFrame(from, `unexpected barrier frame for round ${k}`);
    this.checkLength(from, payload, 0);
    this.got[k] = 1;
    this.advance();
    this.frameDone();
  }

  waitingOn(): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.rounds; k++) if (this.got[k] !== 1) out.push(this.from(k));
    return out;
  }
}

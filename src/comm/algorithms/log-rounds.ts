import type { FrameHeader } from '../frame.js';
import { CollectiveRun } from './collective-run.js';

/**
 * ceil(log2 R) rounds, one frame out and one in per round, round k+1 sent only once round k's
 * frame is in (a rank ahead of us may send its next round first: frames are taken in any
 * order). What the dissemination barrier and the Bruck allgather share; each says whom it
 * sends to and hears from in round k, what it sends, and what it does with what it receives.
 */
export abstract class LogRoundsRun extends CollectiveRun {
  protected readonly rounds = this.ctx.world > 1 ? Math.ceil(Math.log2(this.ctx.world)) : 0;
  /** got[k] is 1 once round k's frame is in. */
  private readonly got = new Uint8Array(this.rounds);
  /** Rounds whose frame we have sent. */
  private sent = 0;

  protected abstract to(k: number): number;
  protected abstract from(k: number): number;
  protected abstract payload(k: number): Uint8Array;
  /** Round k's frame from from(k): checked and used. */
  protected abstract receive(from: number, k: number, payload: Uint8Array): void;
  protected abstract readonly what: string;

  protected start(): void {
    this.expectFrames(this.rounds);
    this.advance();
  }

  /** Sends every round whose predecessors are all in. */
  private advance(): void {
    while (this.sent < this.rounds && (this.sent === 0 || this.got[this.sent - 1] === 1)) {
      const k = this.sent++;
      this.send(this.to(k), k, 0, this.payload(k));
    }
  }

  onFrame(from: number, h: FrameHeader, payload: Uint8Array): void {
    const k = h.step;
    if (k >= this.rounds || from !== this.from(k) || this.got[k] === 1) throw this.badFrame(from, `unexpected ${this.what} frame for round ${k}`);
    this.receive(from, k, payload);
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

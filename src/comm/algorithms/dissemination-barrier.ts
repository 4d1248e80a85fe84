import { mod } from './collective-run.js';
import { LogRoundsRun } from './log-rounds.js';

const EMPTY = new Uint8Array(0);

/**
 * The dissemination barrier (Hensgen, Finkel and Manber): ceil(log2 R) rounds; in round k each
 * rank sends an empty frame to rank + 2^k and waits for one from rank - 2^k, and it starts
 * round k+1 only once round k's frame is in. After the last round every rank has heard,
 * through some chain, from every other, on any R. Each rank talks to 2·ceil(log2 R) others.
 */
export class DisseminationBarrierRun extends LogRoundsRun {
  protected readonly what = 'barrier';

  protected to(k: number): number {
    return mod(this.ctx.rank + 2 ** k, this.ctx.world);
  }

  protected from(k: number): number {
    return mod(this.ctx.rank - 2 ** k, this.ctx.world);
  }

  protected payload(): Uint8Array {
    return EMPTY;
  }

  protected receive(from: number, _k: number, payload: Uint8Array): void {
    this.checkLength(from, payload, 0);
  }
}

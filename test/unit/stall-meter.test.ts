import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { EventLoopStallMeter, quantizeStall, STALL_STEP_MS } from '../../src/fms/stall-meter.js';

function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // A synchronous stretch: the event loop cannot turn.
  }
}

describe('stall meter', () => {
  it('measures a stall of the event loop, remembers it for its memory, then forgets it', async () => {
    let now = 0;
    const meter = new EventLoopStallMeter(20, 3000, () => now);
    try {
      await sleep(60);
      assert.ok(meter.recentMs() < 100, 'a loop that turns has no stall to speak of');
      block(300);
      await sleep(40);
      const seen = meter.recentMs();
      assert.ok(seen >= 250 && seen < 1000, `a 300 ms block measured as ${seen} ms`);
      // A stall just after a read (a reset of one of the histograms) is not lost either.
      now = 1200;
      meter.recentMs();
      block(300);
      await sleep(40);
      assert.ok(meter.recentMs() >= 250, 'a stall right after a reset is measured');
      now = 3500;
      assert.ok(meter.recentMs() >= 250, 'still remembered 2.3 s on');
      // Both histograms reset since (a second apart), and the per-second maxima past the memory.
      now = 4600;
      meter.recentMs();
      await sleep(40);
      now = 5700;
      meter.recentMs();
      await sleep(40);
      now = 6800;
      assert.ok(meter.recentMs() < 100, 'forgotten once its memory has passed');
    } finally {
      meter.stop();
    }
  });

  it('travels in whole steps: 0 below one, rounded up above, bounded', () => {
    assert.equal(quantizeStall(0), 0);
    assert.equal(quantizeStall(STALL_STEP_MS - 1), 0);
    assert.equal(quantizeStall(STALL_STEP_MS), STALL_STEP_MS);
    assert.equal(quantizeStall(437), 500);
    assert.equal(quantizeStall(1e9), 60_000);
  });
});

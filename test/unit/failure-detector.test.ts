import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/errors.js';
import { FakeClock, realClock, type Clock } from '../../src/util/clock.js';
import { elapsedAtPhi, HeartbeatMonitor, phiOf, PhiAccrualDetector, type SuspectInfo } from '../../src/fms/failure-detector.js';

const I = 100;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `inlineDefer`: the monitor's confirmation runs at once, before queued heartbeats are read, as
 * if it were not there. `wakeups` counts the monitor's timers.
 */
function setup(extra: { threshold?: number; stallToleranceMs?: number; inlineDefer?: boolean } = {}) {
  const clock = new FakeClock(1_000);
  const suspects: SuspectInfo[] = [];
  const counted = { wakeups: 0 };
  const monClock: Clock = {
    now: () => clock.now(),
    setTimeout: (fn, ms) => clock.setTimeout(() => (counted.wakeups++, fn()), ms),
    clearTimeout: (h) => clock.clearTimeout(h),
    defer: (fn) => (extra.inlineDefer ? fn() : clock.defer(fn)),
  };
  const { inlineDefer: _, ...opts } = extra;
  const mon = new HeartbeatMonitor({ clock: monClock, intervalMs: I, onSuspect: (_n, info) => suspects.push(info), ...opts });
  return { clock, mon, suspects, counted };
}

/**
 * A remote node heartbeating on its own schedule (send k at t0 + k·I, whatever our clock does),
 * each arrival delayed by `delay()`, some dropped. While `held`, arrivals queue up as unread
 * socket data does behind a blocked event loop.
 */
class Source {
  held = false;
  lastArrival = -Infinity;
  private stopped = false;
  private readonly queue: number[] = [];
  private sendAt: number;
  private k = 0;

  constructor(
    private readonly clock: FakeClock,
    private readonly mon: HeartbeatMonitor,
    readonly node: number,
    private readonly delay: () => number = () => 2,
    private readonly drop: (k: number) => boolean = () => false,
  ) {
    mon.watch(node);
    this.sendAt = clock.now() + I;
    clock.setTimeout(() => this.send(), I);
  }

  stop(): void {
    this.stopped = true;
  }

  flush(): void {
    this.held = false;
    for (const _ of this.queue.splice(0)) this.arrive();
  }

  private send(): void {
    if (this.stopped) return;
    const sentAt = this.sendAt;
    this.sendAt += I;
    if (!this.drop(++this.k)) this.clock.setTimeout(() => (this.held ? this.queue.push(sentAt) : this.arrive()), sentAt + this.delay() - this.clock.now());
    this.clock.setTimeout(() => this.send(), this.sendAt - this.clock.now());
  }

  private arrive(): void {
    if (this.stopped) return;
    this.lastArrival = this.clock.now();
    this.mon.heartbeat(this.node);
  }
}

describe('HeartbeatMonitor', () => {
  it('never suspects steady heartbeats over a long run', () => {
    const { clock, mon, suspects } = setup();
    const r = rng(1);
    for (let n = 0; n < 4; n++) new Source(clock, mon, n, () => 1 + r() * 10);
    mon.start();
    let maxPhi = 0;
    for (let t = 0; t < 200_000; t += 37) {
      clock.advance(37);
      for (let n = 0; n < 4; n++) maxPhi = Math.max(maxPhi, mon.phi(n));
    }
    assert.deepEqual(suspects, []);
    assert.ok(maxPhi < 1, `max phi ${maxPhi}`);
  });

  it('suspects a node that stops within maxSilenceMs, to the millisecond, exactly once', () => {
    for (const threshold of [8, 1e6]) {
      const { clock, mon, suspects } = setup({ threshold });
      const dead = new Source(clock, mon, 7);
      new Source(clock, mon, 8);
      mon.start();
      clock.advance(10_000);
      dead.stop();
      clock.advance(30_000);
      assert.equal(suspects.length, 1, JSON.stringify(suspects));
      const s = suspects[0]!;
      assert.equal(s.node, 7);
      assert.equal(s.reason, threshold === 8 ? 'phi' : 'max_silence');
      assert.ok(s.at - dead.lastArrival <= mon.maxSilenceMs + 1, `after ${s.at - dead.lastArrival} ms`);
      assert.ok(s.silenceMs > (threshold === 8 ? 2 * I : mon.maxSilenceMs));
      assert.ok(mon.isSuspected(7) && !mon.isSuspected(8));
      assert.equal(mon.heartbeat(7), false, 'a suspected node stays suspected');
    }
  });

  it('wakes only at a deadline: never while 4 nodes beat every 100 ms, with jitter', () => {
    const { clock, mon, suspects, counted } = setup();
    const r = rng(3);
    for (let n = 0; n < 4; n++) new Source(clock, mon, n, () => 1 + r() * 10);
    mon.start();
    clock.advance(60_000);
    assert.equal(suspects.length, 0);
    // A check every half interval was 20 a second; each arrival moves the timer instead.
    assert.equal(counted.wakeups, 0);
    // One node falls silent: one wake-up, at its deadline, and one verdict.
    const lone = new Source(clock, mon, 9);
    clock.advance(5_000);
    lone.stop();
    clock.advance(5_000);
    assert.deepEqual(suspects.map((s) => s.node), [9]);
    assert.equal(counted.wakeups, 1);
  });

  it('a node watched after start() is judged from its own deadline', () => {
    const { clock, mon, suspects } = setup();
    new Source(clock, mon, 1);
    mon.start();
    clock.advance(5_000);
    mon.watch(2);
    clock.advance(mon.maxSilenceMs + 2);
    assert.deepEqual(suspects.map((s) => [s.node, s.at - 5_000 - 1_000]), [[2, mon.maxSilenceMs + 1]]);
  });

  it('does not suspect a jittery (delays up to 1.5 × interval) or occasionally dropping node', () => {
    const { clock, mon, suspects } = setup();
    for (let n = 0; n < 3; n++) {
      const r = rng(100 + n);
      new Source(clock, mon, n, () => r() * 1.5 * I);
    }
    new Source(clock, mon, 3, () => 3, (k) => k % 7 === 0);
    mon.start();
    clock.advance(300_000);
    assert.deepEqual(suspects, []);
  });

  for (const held of [true, false]) {
    it(`does not blame others for its own stall of 10 × interval (${held ? 'check runs before queued heartbeats' : 'heartbeats interleaved'})`, () => {
      const run = (stallToleranceMs?: number): SuspectInfo[] => {
        const { clock, mon, suspects } = setup(stallToleranceMs === undefined ? {} : { stallToleranceMs, inlineDefer: true });
        const srcs = [0, 1, 2].map((n) => new Source(clock, mon, n));
        mon.start();
        clock.advance(5_000 + 13);
        for (const s of srcs) s.held = held;
        clock.jump(10 * I);
        clock.advance(0);
        for (const s of srcs) s.flush();
        clock.advance(60_000);
        return suspects;
      };
      assert.deepEqual(run(), []);
      // The scenario is a real trap: without stall absorption the same run blames everyone.
      if (held) assert.equal(run(1e12).length, 3);
    });
  }

  it('a stall that ends just past a deadline blames nobody: the verdict waits for the queued heartbeats', () => {
    const run = (inlineDefer: boolean): SuspectInfo[] => {
      const { clock, mon, suspects } = setup({ inlineDefer });
      const src = new Source(clock, mon, 0);
      mon.start();
      clock.advance(5_000);
      // Stall from just after an arrival until 1 ms past the deadline: the timer is late by less
      // than the tolerance, so nothing is absorbed, and the arrivals meanwhile are queued.
      src.held = true;
      clock.jump(Math.ceil(src.lastArrival + 3 * I + 30 - clock.now()));
      clock.advance(0);
      src.flush();
      clock.advance(10_000);
      return suspects;
    };
    assert.deepEqual(run(false), []);
    assert.equal(run(true).length, 1, 'without the confirmation the same run blames the node');
  });

  it('still suspects a node that died before our stall, once', () => {
    const { clock, mon, suspects } = setup();
    const dead = new Source(clock, mon, 1);
    new Source(clock, mon, 2);
    mon.start();
    clock.advance(5_000);
    dead.stop();
    clock.jump(10 * I);
    clock.advance(10_000);
    assert.deepEqual(suspects.map((s) => s.node), [1]);
  });

  it('stops reporting an unwatched node and ignores its heartbeats', () => {
    const { clock, mon, suspects } = setup();
    const a = new Source(clock, mon, 1);
    const b = new Source(clock, mon, 2);
    mon.start();
    clock.advance(3_000);
    a.stop();
    b.stop();
    mon.unwatch(1);
    assert.equal(mon.heartbeat(1), false);
    clock.advance(10_000);
    assert.deepEqual(suspects.map((s) => s.node), [2]);
    assert.throws(() => mon.phi(1), InvalidArgumentError);
  });

  it('stop() leaves no timer behind and start() resumes judging', () => {
    const { clock, mon, suspects } = setup();
    mon.watch(5);
    mon.start();
    mon.stop();
    assert.equal(clock.pending, 0);
    clock.advance(10_000);
    assert.equal(suspects.length, 0);
    mon.start();
    clock.advance(I);
    assert.deepEqual(suspects.map((s) => [s.node, s.reason]), [[5, 'max_silence']]);
  });

  it('rejects unusable options', () => {
    const clock = new FakeClock();
    assert.throws(() => new HeartbeatMonitor({ clock, intervalMs: 0, onSuspect: () => {} }), InvalidArgumentError);
    assert.throws(() => new PhiAccrualDetector({ intervalMs: 100, minSamples: 1 }), InvalidArgumentError);
  });
});

describe('PhiAccrualDetector', () => {
  it('elapsedAtPhi inverts phiOf', () => {
    for (const [mean, sd] of [[200, 20], [400, 100], [150, 5]] as const) {
      for (const phi of [0.01, 0.3, 1, 8, 16, 100]) {
        const t = elapsedAtPhi(phi, mean, sd);
        assert.ok(Math.abs(phiOf(t, mean, sd) - phi) < 1e-6 * Math.max(1, phi), `phi ${phi}: ${phiOf(t, mean, sd)}`);
        assert.ok(phiOf(t + 1, mean, sd) > phi);
      }
    }
    assert.ok(elapsedAtPhi(1e6, 200, 20) > 10 * 200);
  });

  it('phi grows monotonically with silence, and crosses the threshold', () => {
    const d = new PhiAccrualDetector({ intervalMs: I });
    const r = rng(7);
    let t = 0;
    d.track(0, t);
    for (let k = 0; k < 150; k++) d.heartbeat(0, (t += I + (r() - 0.5) * 20));
    let prev = -1;
    for (let s = 0; s <= 10 * I; s += 5) {
      const phi = d.phi(0, t + s);
      assert.ok(Number.isFinite(phi) && phi >= prev, `phi ${phi} after ${prev} at silence ${s}`);
      prev = phi;
    }
    assert.ok(d.phi(0, t + I) < 1);
    assert.ok(d.phi(0, t + 3 * I) > d.threshold);
  });

  it('falls back to the configured interval before it has samples', () => {
    const d = new PhiAccrualDetector({ intervalMs: I });
    d.track(3, 0);
    assert.ok(d.phi(3, I) < 1);
    assert.ok(!d.isSuspected(3, 2 * I));
    assert.ok(d.isSuspected(3, 4 * I));
  });
});

describe('realClock', () => {
  it('fires unref()d timers', async () => {
    const t0 = realClock.now();
    await new Promise<void>((resolve) => {
      const h = realClock.setTimeout(resolve, 5) as NodeJS.Timeout;
      assert.equal(h.hasRef(), false);
    });
    assert.ok(realClock.now() - t0 >= 4);
    realClock.clearTimeout(realClock.setTimeout(() => assert.fail('cleared timer fired'), 1));
  });
});

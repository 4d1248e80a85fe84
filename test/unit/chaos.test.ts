import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/errors.js';
import { ChaosScheduler, parseChaos, type ChaosFire, type ChaosSchedulerOptions } from '../../src/launch/chaos.js';
import { FakeClock } from '../../src/util/clock.js';

function setup(spec: string, extra: Partial<ChaosSchedulerOptions> = {}) {
  const clock = new FakeClock(1_000);
  const fires: ChaosFire[] = [];
  let members = [0, 1, 2, 3];
  const sched = new ChaosScheduler(parseChaos(spec), {
    clock,
    targets: () => members,
    onFire: (f) => fires.push(f),
    ...extra,
  });
  const fired = () => fires.map((f) => `${f.action.spec}>${f.node}`);
  return { clock, sched, fires, fired, setMembers: (m: number[]) => (members = m) };
}

describe('parseChaos', () => {
  it('parses the documented examples', () => {
    assert.deepEqual(parseChaos('kill:node=2@step=30, stop:node=1@t=5s ,kill-node:node=3@step=50,kill:random@every=10s'), [
      { kind: 'kill', target: { node: 2 }, trigger: { step: 30 }, spec: 'kill:node=2@step=30' },
      { kind: 'stop', target: { node: 1 }, trigger: { atMs: 5_000 }, spec: 'stop:node=1@t=5s' },
      { kind: 'kill-node', target: { node: 3 }, trigger: { step: 50 }, spec: 'kill-node:node=3@step=50' },
      { kind: 'kill', target: 'random', trigger: { everyMs: 10_000 }, spec: 'kill:random@every=10s' },
    ]);
  });

  it('reads durations in ms, s and bare ms, and step/node 0', () => {
    const trig = (s: string) => parseChaos(s).map((a) => a.trigger);
    assert.deepEqual(trig('kill:node=0@t=1500ms,stop:random@every=2.5s,kill:node=0@t=250,kill:node=0@t=1.1s,kill:node=0@t=0'), [
      { atMs: 1_500 },
      { everyMs: 2_500 },
      { atMs: 250 },
      { atMs: 1_100 },
      { atMs: 0 },
    ]);
    assert.deepEqual(parseChaos('  stop:random@step=0  ')[0], { kind: 'stop', target: 'random', trigger: { step: 0 }, spec: 'stop:random@step=0' });
  });

  const bad: [string, string][] = [
    ['', 'chaos spec is empty (expected KIND:TARGET@TRIGGER, e.g. kill:node=2@step=30, separated by commas)'],
    ['   ', 'chaos spec is empty (expected KIND:TARGET@TRIGGER, e.g. kill:node=2@step=30, separated by commas)'],
    ['kill:node=1@step=3, ,stop:node=2@t=1s', 'chaos spec "kill:node=1@step=3, ,stop:node=2@t=1s": action 2 is empty (expected KIND:TARGET@TRIGGER, e.g. kill:node=2@step=30)'],
    ['kill:node=1@step=3,', 'chaos spec "kill:node=1@step=3,": action 2 is empty (expected KIND:TARGET@TRIGGER, e.g. kill:node=2@step=30)'],
    ['kil:node=1@step=3', 'chaos action "kil:node=1@step=3": unknown kind "kil" (expected kill, stop, kill-node, slow or corrupt)'],
    [':node=1@step=3', 'chaos action ":node=1@step=3": unknown kind "" (expected kill, stop, kill-node, slow or corrupt)'],
    ['kill', 'chaos action "kill": missing ":" after the kind (expected KIND:TARGET@TRIGGER, e.g. kill:node=2@step=30)'],
    ['kill@step=3', 'chaos action "kill@step=3": missing ":" after the kind (expected KIND:TARGET@TRIGGER, e.g. kill:node=2@step=30)'],
    ['kill:node=1', 'chaos action "kill:node=1": missing "@" before the trigger (expected KIND:TARGET@TRIGGER, e.g. kill:node=2@step=30)'],
    ['kill:nod=1@step=3', 'chaos action "kill:nod=1@step=3": bad target "nod=1" (expected node=N or random)'],
    ['kill:@step=3', 'chaos action "kill:@step=3": bad target "" (expected node=N or random)'],
    ['kill:node=-1@step=3', 'chaos action "kill:node=-1@step=3": bad node "-1" (expected a non-negative integer)'],
    ['kill:node=1.5@step=3', 'chaos action "kill:node=1.5@step=3": bad node "1.5" (expected a non-negative integer)'],
    ['kill:node=@step=3', 'chaos action "kill:node=@step=3": bad node "" (expected a non-negative integer)'],
    ['kill:node=1@step=-3', 'chaos action "kill:node=1@step=-3": bad step "-3" (expected a non-negative integer)'],
    ['kill:node=1@step=2.5', 'chaos action "kill:node=1@step=2.5": bad step "2.5" (expected a non-negative integer)'],
    ['kill:node=1@step=1e3', 'chaos action "kill:node=1@step=1e3": bad step "1e3" (expected a non-negative integer)'],
    ['kill:node=1@t=5m', 'chaos action "kill:node=1@t=5m": bad duration "5m" (expected a number with unit ms or s, e.g. 1500ms or 2.5s; a bare number is ms)'],
    ['kill:node=1@t=-1s', 'chaos action "kill:node=1@t=-1s": bad duration "-1s" (expected a number with unit ms or s, e.g. 1500ms or 2.5s; a bare number is ms)'],
    ['kill:node=1@t=s', 'chaos action "kill:node=1@t=s": bad duration "s" (expected a number with unit ms or s, e.g. 1500ms or 2.5s; a bare number is ms)'],
    ['kill:random@every=0s', 'chaos action "kill:random@every=0s": bad interval "0s" (every= needs a duration greater than 0)'],
    ['kill:random@every=0', 'chaos action "kill:random@every=0": bad interval "0" (every= needs a duration greater than 0)'],
    ['kill:node=1@at=5s', 'chaos action "kill:node=1@at=5s": unknown trigger "at=5s" (expected step=N, t=DURATION or every=DURATION)'],
    ['kill:node=1@step', 'chaos action "kill:node=1@step": unknown trigger "step" (expected step=N, t=DURATION or every=DURATION)'],
    ['kill:node=1@', 'chaos action "kill:node=1@": unknown trigger "" (expected step=N, t=DURATION or every=DURATION)'],
  ];
  for (const [spec, message] of bad) {
    it(`rejects ${JSON.stringify(spec)}`, () => {
      assert.throws(() => parseChaos(spec), (e: Error) => e instanceof InvalidArgumentError && e.message === message, message);
    });
  }
});

describe('ChaosScheduler', () => {
  it('fires a t= action once, at its time after start()', () => {
    const { clock, sched, fires, fired } = setup('stop:node=1@t=5s');
    clock.advance(10_000);
    assert.deepEqual(fired(), [], 'nothing is armed before start()');
    sched.start();
    clock.advance(4_999);
    assert.deepEqual(fired(), []);
    clock.advance(1);
    assert.deepEqual(fired(), ['stop:node=1@t=5s>1']);
    assert.equal(fires[0]!.action.kind, 'stop');
    clock.advance(60_000);
    assert.equal(fires.length, 1);
    assert.equal(clock.pending, 0);
  });

  it('fires an every= action each period until stop(), leaving no timer behind', () => {
    const { clock, sched, fired } = setup('kill:node=2@every=2s');
    sched.start();
    const times: number[] = [];
    for (let t = 0; t < 7_000; t += 100) {
      const before = fired().length;
      clock.advance(100);
      if (fired().length > before) times.push(clock.now());
    }
    assert.deepEqual(times, [3_000, 5_000, 7_000]);
    sched.stop();
    assert.equal(clock.pending, 0);
    clock.advance(60_000);
    assert.equal(fired().length, 3);
  });

  it('after a stalled loop, fires every= once and keeps its phase instead of bursting', () => {
    const { clock, sched, fired } = setup('kill:node=2@every=1s');
    sched.start();
    clock.jump(5_500);
    clock.advance(0);
    assert.equal(fired().length, 1);
    clock.advance(499);
    assert.equal(fired().length, 1);
    clock.advance(1);
    assert.equal(fired().length, 2);
  });

  it('fires a step= action once, on the first report >= N from its node only', () => {
    const { sched, fired } = setup('kill:node=2@step=30');
    sched.start();
    sched.onStep(1, 100);
    sched.onStep(3, 30);
    sched.onStep(2, 29);
    assert.deepEqual(fired(), []);
    sched.onStep(2, 31);
    sched.onStep(2, 32);
    sched.onStep(2, 30);
    assert.deepEqual(fired(), ['kill:node=2@step=30>2']);
  });

  it('fires every matching step= action on the same report', () => {
    const { sched, fired } = setup('kill:node=2@step=3,kill-node:node=2@step=1,stop:node=1@step=1');
    sched.start();
    sched.onStep(2, 5);
    assert.deepEqual(fired(), ['kill:node=2@step=3>2', 'kill-node:node=2@step=1>2']);
  });

  it('picks random targets with the injected random over sorted targets()', () => {
    const draws = [0, 0.99, 0.1, 1];
    const { clock, sched, fired, setMembers } = setup('kill:random@every=1s,stop:random@step=10', { random: () => draws.shift()! });
    setMembers([9, 1, 5]);
    sched.start();
    clock.advance(2_000);
    sched.onStep(1, 9);
    sched.onStep(5, 10);
    sched.onStep(9, 11);
    clock.advance(1_000);
    assert.deepEqual(fired(), ['kill:random@every=1s>1', 'kill:random@every=1s>9', 'stop:random@step=10>1', 'kill:random@every=1s>9']);
  });

  it('skips a fixed node that is not a target, and random with no targets, without throwing', () => {
    const { clock, sched, fired, setMembers } = setup('kill:node=3@t=1s,stop:node=3@every=1s,kill:random@every=1s,kill-node:node=3@step=5', {
      random: () => 0,
    });
    sched.start();
    setMembers([0, 1]);
    clock.advance(1_000);
    sched.onStep(3, 5);
    assert.deepEqual(fired(), ['kill:random@every=1s>0']);
    setMembers([]);
    clock.advance(1_000);
    assert.equal(fired().length, 1);
    setMembers([3]);
    clock.advance(1_000);
    sched.onStep(3, 6);
    // The t= and step= actions had their one chance while node 3 was away; every= comes back.
    assert.deepEqual(fired().slice(1), ['stop:node=3@every=1s>3', 'kill:random@every=1s>3']);
  });

  it('keeps firing after onFire throws, and hands the error to onError', () => {
    const errors: unknown[] = [];
    let calls = 0;
    const { clock, sched } = setup('kill:node=1@every=1s,stop:node=1@step=1,kill:node=2@step=1', {
      onFire: () => {
        calls++;
        throw new Error(`boom ${calls}`);
      },
      onError: (e, f) => errors.push(`${(e as Error).message} ${f.action.spec}`),
    });
    sched.start();
    clock.advance(3_000);
    sched.onStep(1, 1);
    sched.onStep(2, 1);
    assert.equal(calls, 5);
    assert.deepEqual(errors.slice(3), ['boom 4 stop:node=1@step=1', 'boom 5 kill:node=2@step=1']);
    // Without onError the error is swallowed as well.
    const quiet = setup('kill:node=1@every=1s', { onFire: () => assert.fail('fired') });
    quiet.sched.start();
    assert.doesNotThrow(() => quiet.clock.advance(3_000));
  });

  it('fires nothing after stop(), even from onStep or within onFire', () => {
    const { clock, sched, fired } = setup('kill:node=1@step=1,kill:node=1@t=1s');
    sched.start();
    sched.stop();
    sched.onStep(1, 5);
    clock.advance(5_000);
    sched.start();
    clock.advance(5_000);
    assert.deepEqual(fired(), []);

    let fires = 0;
    let stopIt = () => {};
    const s = setup('kill:node=1@step=1,stop:node=1@step=1,kill:node=1@t=0', {
      onFire: () => {
        fires++;
        stopIt();
      },
    });
    stopIt = () => s.sched.stop();
    s.sched.start();
    s.sched.onStep(1, 1);
    s.clock.advance(1_000);
    assert.equal(fires, 1);
  });
});

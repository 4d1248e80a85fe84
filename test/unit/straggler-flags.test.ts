import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/errors.js';
import { parseChaos } from '../../src/launch/chaos.js';
import { fmsConfig } from '../../src/launch/fms-config.js';
import { resolveLaunchOptions } from '../../src/launch/launch-options.js';

/** The straggler flags and `slow` chaos as the launcher and every FMS get them. */
const at = { job: 'j', node: 0, secret: 's', store: 'memory', host: '127.0.0.1', stateDir: '/tmp/x' };

describe('straggler flags', () => {
  it('defaults: factor 1.5, window 30 s, replace; an exchange every 5 s; chaos slows 3x', () => {
    const o = resolveLaunchOptions({ nodes: 4, spares: 1, command: ['p'] });
    assert.deepEqual([o.stragglerFactor, o.stragglerWindowMs, o.onStraggler, o.chaosSlowFactor], [1.5, 30_000, 'replace', 3]);
    const c = fmsConfig(o, at);
    assert.deepEqual(c.straggler, { factor: 1.5, windowMs: 30_000, on: 'replace' });
    assert.equal(c.program.stragglerExchangeMs, 5000);
  });

  it('bad values are refused, naming the flag', () => {
    const bad = (extra: Record<string, unknown>, flag: RegExp): void =>
      assert.throws(() => resolveLaunchOptions({ nodes: 2, command: ['p'], ...extra }), (e: unknown) => e instanceof InvalidArgumentError && flag.test(e.message));
    bad({ stragglerFactor: 1.05 }, /--straggler-factor/);
    bad({ stragglerWindowMs: 100 }, /--straggler-window-ms/);
    bad({ onStraggler: 'kill' }, /--on-straggler: use replace, report or shrink/);
    bad({ chaosSlowFactor: 1 }, /--chaos-slow-factor/);
  });

  it('--chaos slow:node=N@step=S parses as the other kinds do', () => {
    assert.deepEqual(parseChaos('slow:node=1@step=40'), [{ kind: 'slow', target: { node: 1 }, trigger: { step: 40 }, spec: 'slow:node=1@step=40' }]);
  });
});

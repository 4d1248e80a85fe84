import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/errors.js';
import { fmsConfig } from '../../src/launch/fms-config.js';
import { MAX_NODES, resolveLaunchOptions } from '../../src/launch/launch-options.js';

/** Issue 26: no cap of 64 nodes any more; a job of thousands is limited by memory, and a typo still gets a clear message. */
describe('node caps', () => {
  const cmd = ['node', 'x.js'];

  it('takes 4,096 nodes and more, spares included, and gives every FMS the whole list', () => {
    const o = resolveLaunchOptions({ nodes: 4096, spares: 4, command: cmd });
    assert.equal(o.nodes, 4096);
    const cfg = fmsConfig(o, { job: 'j', node: 4099, secret: 's', store: 'memory', host: '127.0.0.1', stateDir: '/tmp/x' });
    assert.equal(cfg.nodes.length, 4100);
    assert.equal(cfg.nodes.at(-1), 4099);
    assert.equal(resolveLaunchOptions({ nodes: MAX_NODES - 1, spares: 1, command: cmd }).nodes, MAX_NODES - 1);
  });

  it('refuses more than MAX_NODES with the flag named and the limit given', () => {
    assert.throws(() => resolveLaunchOptions({ nodes: MAX_NODES + 1, command: cmd }), (e: Error) => e instanceof InvalidArgumentError && /--nodes/.test(e.message));
    assert.throws(
      () => resolveLaunchOptions({ nodes: MAX_NODES, spares: 1, command: cmd }),
      (e: Error) => e instanceof InvalidArgumentError && e.message.includes(`at most ${MAX_NODES}`) && e.message.includes('--spares'),
    );
    assert.throws(() => resolveLaunchOptions({ nodes: 0, command: cmd }), /--nodes/);
  });
});

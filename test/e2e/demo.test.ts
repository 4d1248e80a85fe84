import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import type { DemoSummary } from '../../src/demo/demo.js';
import { ROLLCALL } from '../helpers/job.js';

/** `rollcall demo`, the README's main job, end to end: a crash, the recovery, and --verify. */
describe('rollcall demo', { timeout: 240_000 }, () => {
  it('recovers from the crash and ends bit-identical to the fault-free run', async () => {
    const child = spawn(process.execPath, [ROLLCALL, 'demo', '--synthetic', '--steps', '120', '--verify', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 200_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearTimeout(timer);
    assert.equal(code, 0, err);
    const s = JSON.parse(out.trim()) as DemoSummary;
    assert.equal(s.nodes, 4);
    assert.equal(s.spares, 1);
    assert.equal(s.steps, 120);
    assert.deepEqual([s.world_start, s.world_end], [4, 4], 'the spare kept the world at 4');
    assert.ok(s.faults >= 1, 'a fault happened');
    assert.equal(s.recoveries.length, 1);
    assert.ok((s.recoveries[0]?.ms ?? 0) > 0);
    assert.equal(s.match, true);
    assert.equal(s.digest, s.fault_free_digest);
    assert.equal(s.synthetic, true);
    assert.ok(s.accuracy > 0.5, `accuracy ${s.accuracy}`);
  });
});

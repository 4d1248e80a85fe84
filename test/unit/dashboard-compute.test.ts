import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JobView } from '../../src/dashboard/job-view.js';
import { JobMetrics } from '../../src/dashboard/metrics.js';
import { newProgramStats } from '../../src/protocol/program-ipc.js';

/** Each node's compute time beside its step rate, and a straggler marked, in the view and /metrics. */
describe('dashboard: compute time and stragglers', () => {
  it('compute ms per step from the programs’ running totals over the last few seconds; a rollback starts it again', () => {
    const v = new JobView();
    v.compute(0, 100, 1.0, 1000);
    assert.equal(v.state.nodes[0]!.computeMs, null, 'one report is a baseline');
    v.compute(0, 120, 1.2, 2000);
    assert.equal(v.state.nodes[0]!.computeMs, 10);
    v.compute(0, 140, 1.8, 3000);
    assert.equal(v.state.nodes[0]!.computeMs, 20, '0.8 s over 40 steps');
    v.compute(0, 130, 1.9, 4000); // rolled back to step 130
    v.compute(0, 135, 2.1, 4500);
    assert.equal(v.state.nodes[0]!.computeMs, 40, '0.2 s over the 5 steps since the rollback');
  });

  it('a node suspected or reported slow is marked until cleared or gone', () => {
    const v = new JobView();
    const base = { generation: 0, compute_ms: 30, median_ms: 10 };
    v.event({ ts: 1, event: 'straggler_suspected', node: 1, ...base, factor: 1.5, window_ms: 30_000 });
    assert.equal(v.state.nodes.find((n) => n.node === 1)!.straggler, 'suspected');
    v.event({ ts: 2, event: 'straggler_cleared', node: 1, ...base, slow_ms: 5000, why: 'fast_again' });
    assert.equal(v.state.nodes.find((n) => n.node === 1)!.straggler, null);
    v.event({ ts: 3, event: 'straggler_reported', node: 1, ...base, slow_ms: 30_000, why: '--on-straggler report' });
    assert.equal(v.state.nodes.find((n) => n.node === 1)!.straggler, 'reported');
    v.event({ ts: 4, event: 'node_fenced', node: 1, generation: 1 });
    assert.equal(v.state.nodes.find((n) => n.node === 1)!.straggler, null);
  });

  it('rollcall_compute_seconds_total counts what the programs report', async () => {
    const m = new JobMetrics();
    m.progress(2, 10, 1000, { ...newProgramStats(), computeSeconds: 0.5 });
    m.progress(2, 20, 2000, { ...newProgramStats(), computeSeconds: 1.25 });
    assert.match(await m.text(), /^rollcall_compute_seconds_total\{node="2"\} 1\.25$/m);
  });
});

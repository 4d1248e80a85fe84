import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/errors.js';
import type { LogEvent } from '../../src/protocol/events.js';
import { JobView } from '../../src/dashboard/job-view.js';
import { JobMetrics } from '../../src/dashboard/metrics.js';
import { readEventLog, renderReport, viewOfLog } from '../../src/dashboard/report.js';
import { parseListen } from '../../src/dashboard/server.js';
import { withRecoveries } from '../../src/launch/job-events.js';

/** A job as its log tells it: 3 members and a spare, node 1 killed at t=1000, back at t=1080. */
const started = (nodes: number[], spares: number[]): LogEvent => ({
  ts: 0,
  event: 'job_started',
  job: 'j',
  nodes,
  spares,
  policy: 'replace',
  minNodes: 1,
  heartbeatMs: 200,
  faultTimeoutMs: 600,
  command: ['node', 'train.js'],
  stateDir: '/tmp/j',
  keep: 3,
  resume: false,
});
const LOG: LogEvent[] = [
  started([0, 1, 2], [3]),
  { ts: 10, event: 'program_started', node: 1, pid: 101, fmsPid: 91, generation: 0 },
  { ts: 500, event: 'node_progress', node: 0, step: 50 },
  { ts: 500, event: 'node_progress', node: 1, step: 50 },
  { ts: 1000, event: 'fault_injected', node: 1, kind: 'kill', pid: 101, spec: 'kill:node=1@step=50' },
  { ts: 1009, event: 'fault_detected', node: 1, by: 1, failed: [1], cause: 'exit', generation: 0, detail: 'program pid 101 killed by SIGKILL' },
  { ts: 1020, event: 'membership_updated', node: 0, generation: 1, members: [0, 3, 2], removed: [1], added: [3], by: 0, cause: 'exit' },
  { ts: 1021, event: 'node_fenced', node: 1, generation: 1 },
  { ts: 1070, event: 'common_state_selected', node: 0, generation: 1, version: 40, step: 40 },
  { ts: 1075, event: 'program_resumed', node: 0, generation: 1, pid: 100, steps_redone: 12, ms_redone: 120 },
  { ts: 1077, event: 'program_resumed', node: 2, generation: 1, pid: 102, steps_redone: 12, ms_redone: 120 },
  { ts: 1078, event: 'program_resumed', node: 3, generation: 1, pid: 103, steps_redone: 9, ms_redone: 90 },
  { ts: 1080, event: 'recovered', generation: 1, ms: 80, from: 'fault_injected', faultTs: 1000 },
  { ts: 1500, event: 'node_progress', node: 3, step: 60 },
  { ts: 2000, event: 'job_completed', generation: 1, result: null, results: {} },
];

/** The samples of a Prometheus text exposition, by name and labels. */
function parseProm(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-z_:][a-z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${line}`);
    out.set(m[1]! + (m[2] ?? ''), Number(m[3]));
  }
  return out;
}

describe('dashboard: the view of a job', () => {
  it('a heartbeat fault nobody injected: detection ms is the silence, and the recovery counts from the last sign of life', () => {
    const v = viewOfLog(
      withRecoveries([
        started([0, 1, 2], [3]),
        { ts: 5600, event: 'fault_detected', node: 1, by: 1, failed: [1], cause: 'heartbeat', generation: 0, detail: 'program pid 101 silent for 600 ms' },
        { ts: 5610, event: 'membership_updated', node: 0, generation: 1, members: [0, 3, 2], removed: [1], added: [3], by: 0, cause: 'heartbeat' },
        ...[0, 2, 3].map((node): LogEvent => ({ ts: 5655, event: 'program_resumed', node, generation: 1, pid: 100 + node })),
      ]),
    );
    assert.deepEqual(
      v.recoveries.map((r) => [r.cause, r.detectionMs, r.recoveryMs, r.from]),
      [['heartbeat', 600, 655, 'last_sign_of_life']],
    );
  });

  it('folds the event log into node rows, a recovery row and marks', () => {
    const v = viewOfLog(LOG);
    assert.equal(v.state, 'completed');
    assert.equal(v.generation, 1);
    assert.deepEqual(
      v.nodes.map((n) => [n.node, n.role, n.rank]),
      [[0, 'member', 0], [1, 'fenced', null], [2, 'member', 2], [3, 'member', 1]],
    );
    assert.deepEqual(v.recoveries, [{ generation: 1, cause: 'exit', failed: [1], detectionMs: 9, recoveryMs: 80, from: 'fault_injected', stepsRedone: 12, msRedone: 120, version: 40 }]);
    assert.deepEqual(v.markers.map((m) => m.kind), ['fault', 'recovered']);
    // Steps over time: a row per progress moment, a node that is not a member has no value.
    assert.deepEqual(v.series.t, [500, 1500]);
    assert.deepEqual(v.series.steps['3'], [null, 60]);
    assert.deepEqual(v.series.steps['1'], [50, null]);
  });

  it('steps per second from recent reports, and the highest suspicion others hold of a node', () => {
    const view = new JobView();
    view.event(started([0, 1], []));
    view.progress(0, 0, 1000);
    view.progress(0, 50, 2000);
    assert.equal(view.state.nodes[0]!.stepsPerSec, 50);
    view.health(0, { '1': 0.5 });
    view.health(1, { '0': 3.25 });
    assert.deepEqual(view.state.nodes.map((n) => n.phi), [3.25, 0.5]);
  });

  it('keeps a long job to a bounded series, thinning it evenly', () => {
    const view = new JobView();
    view.event(started([0], []));
    for (let i = 0; i < 5000; i++) {
      view.progress(0, i, i * 200);
      view.sample(i * 200);
    }
    const t = view.state.series.t;
    assert.ok(t.length <= 1200 && t.length > 500, `${t.length} rows`);
    assert.equal(t[0], 0, 'the start is kept');
    assert.equal(t.at(-1), 4999 * 200, 'the latest is kept');
  });
});

describe('dashboard: recoveries of a job no launcher saw whole', () => {
  it('are computed from the merged log, as the launcher would have', () => {
    const merged = withRecoveries(LOG.filter((e) => e.event !== 'recovered'));
    const rec = merged.filter((e) => e.event === 'recovered');
    assert.equal(rec.length, 1);
    assert.deepEqual([rec[0]!.generation, rec[0]!.ms, rec[0]!.ts], [1, 78, 1078], 'from the injection to the last member resumed');
    assert.equal(viewOfLog(merged).recoveries[0]!.recoveryMs, 78);
    assert.deepEqual(withRecoveries(LOG), LOG, 'a log that has them is left as it is');
  });
});

describe('dashboard: Prometheus metrics', () => {
  it('counters and histograms match the events and progress they were fed', async () => {
    const m = new JobMetrics();
    for (const e of LOG) m.event(e);
    m.progress(0, 10, 1000, { commits: 10, replicaBytes: 0, persistBytes: 100, allreduceBytes: 4096, allreduceSeconds: 0.5 });
    m.progress(0, 30, 1200, { commits: 30, replicaBytes: 2048, persistBytes: 100, allreduceBytes: 12288, allreduceSeconds: 1.5 });
    const p = parseProm(await m.text());
    assert.equal(p.get('rollcall_recoveries_total'), 1);
    assert.equal(p.get('rollcall_faults_total{cause="exit"}'), 1);
    assert.equal(p.get('rollcall_generation'), 1);
    assert.equal(p.get('rollcall_steps_total{node="0"}'), 20, 'the first report is a baseline');
    assert.equal(p.get('rollcall_commits_total{node="0"}'), 30);
    assert.equal(p.get('rollcall_replica_bytes_total{node="0"}'), 2048);
    assert.equal(p.get('rollcall_allreduce_seconds_total{node="0"}'), 1.5);
    assert.equal(p.get('rollcall_recovery_seconds_count'), 1);
    assert.equal(p.get('rollcall_recovery_seconds_sum'), 0.08);
    assert.equal(p.get('rollcall_step_seconds_count'), 1);
  });
});

describe('dashboard: bad input', () => {
  it('an event log with bad lines: each named by its line number, the rest reported', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rollcall-report-'));
    const path = join(dir, 'events.jsonl');
    const lines = LOG.map((e) => JSON.stringify(e));
    lines.splice(3, 0, '{"ts": 5, "event":', '[1,2]', '{"event":"no_ts"}');
    writeFileSync(path, lines.join('\n') + '\n');
    const r = readEventLog(path);
    assert.deepEqual(r.bad.map((b) => b.line), [4, 5, 6]);
    assert.equal(r.events.length, LOG.length);
    const html = renderReport(r.events);
    assert.match(html, /<html/);
    assert.ok(!/<script src=/.test(html), 'nothing is fetched when the report is opened');
    assert.ok(html.includes('"recoveryMs":80'), 'the recovery is in the page');
  });

  it('a dashboard address is [HOST:]PORT, loopback by default', () => {
    assert.deepEqual(parseListen('8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseListen('0.0.0.0:0'), { host: '0.0.0.0', port: 0 });
    assert.deepEqual(parseListen('[::1]:9000'), { host: '::1', port: 9000 });
    for (const bad of ['', 'http://x:1', 'host:', '70000', 'a:b']) assert.throws(() => parseListen(bad), InvalidArgumentError, bad);
  });
});

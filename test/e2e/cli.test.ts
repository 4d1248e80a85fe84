import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const BIN = fileURLToPath(new URL('../../../bin/rollcall.js', import.meta.url));

function rollcall(args: string[], timeoutMs = 120_000): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('rollcall CLI', () => {
  it('--help lists the commands', () => {
    const r = rollcall(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.out, /bench/);
  });

  it('an unknown option after the program, without --, suggests putting -- before the program', () => {
    const r = rollcall(['launch', '--nodes', '2', 'node', 'train.js', '--steps', '5']);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /unknown option '--steps'\nhint: if --steps is an option of your program, put -- before the program/);
    // With -- on the line the option is launch's own typo: no hint about the program.
    const typo = rollcall(['launch', '--nodes', '2', '--spare', '1', '--', 'node', 'train.js']);
    assert.equal(typo.code, 2);
    assert.match(typo.err, /unknown option '--spare'/);
    assert.doesNotMatch(typo.err, /hint:/);
  });

  it('bench allreduce --against-mpi: both arms alternate, every run, and the medians and ratio are printed', () => {
    // A stand-in for mpirun that prints what mpi_allreduce.py prints, and logs how it was called.
    const dir = mkdtempSync(join(tmpdir(), 'rollcall-mpi-'));
    const log = join(dir, 'calls.log');
    const fake = join(dir, 'mpirun');
    writeFileSync(
      fake,
      `#!${process.execPath}
const a = process.argv.slice(2);
require('fs').appendFileSync(${JSON.stringify(log)}, a.join(' ') + '\\n');
const np = Number(a[a.indexOf('-np') + 1]);
for (const b of a.slice(a.indexOf('${join(dir, 'script.py')}') + 1)) console.log(JSON.stringify({ impl: 'openmpi', ranks: np, bytes: Number(b), us: 10, algbw_GBps: 0.5, busbw_GBps: 0.5 }));
`,
    );
    chmodSync(fake, 0o755);
    writeFileSync(join(dir, 'script.py'), '');
    const r = rollcall(['bench', 'allreduce', '--against-mpi', '2', '--sizes', '4096', '--runs', '2', '--repeats', '1', '--warmup-ms', '0', '--mpirun', fake, '--mpi-script', join(dir, 'script.py'), '--json']);
    assert.equal(r.code, 0, r.err);
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    assert.equal(calls.length, 2, 'one mpirun per run');
    for (const c of calls) assert.match(c, /--oversubscribe -np 2 --mca btl tcp,self \S+python3 \S+script.py 4096$/);
    const summary = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    assert.equal(summary.length, 1);
    const s = summary[0]!;
    assert.deepEqual([s.ranks, s.bytes, s.runs, s.openmpi_busbw_GBps], [2, 4096, 2, 0.5]);
    assert.ok(s.rollcall_busbw_GBps! > 0);
    assert.equal(s.busbw_ratio, Math.round((10 / s.rollcall_us!) * 100) / 100, 'busbw ratio = Open MPI time / Rollcall time');
    rmSync(dir, { recursive: true, force: true });
  });

  it('bench allreduce --per-call prints rank 0\'s per-call figures, and --tuning takes known fields only', () => {
    const r = rollcall(['bench', 'allreduce', '--sizes', '4096', '--repeats', '1', '--warmup-ms', '0', '--per-call', '50', '--json']);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as { bytes: number; per_call?: Record<string, number> });
    assert.equal(lines.length, 2);
    const p = lines[1]!.per_call!;
    assert.equal(lines[1]!.bytes, 4096);
    assert.equal(p.calls, 50);
    assert.ok(p.p10! <= p.p50! && p.p50! <= p.p90!, JSON.stringify(p));
    assert.ok(p.userUs! + p.sysUs! > 0);
    assert.ok(p.sleeps! >= 0 && p.preemptions! >= 0);
    // The tuning reaches the ranks: a frame limit below the message size fails the run.
    const tuned = rollcall(['bench', 'allreduce', '--sizes', '4096', '--repeats', '1', '--warmup-ms', '0', '--tuning', '{"maxFrameBytes":1024}']);
    assert.notEqual(tuned.code, 0);
    assert.match(tuned.err, /frame of 4096 bytes exceeds the limit of 1024 bytes/);
    const bad = rollcall(['bench', 'allreduce', '--tuning', '{"spinMaxByte":1}']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown field "spinMaxByte"/);
    const wrongType = rollcall(['bench', 'allreduce', '--tuning', '{"spinLateYield":1}']);
    assert.equal(wrongType.code, 2);
    assert.match(wrongType.err, /spinLateYield must be a boolean/);
  });

  it('bench allreduce --json prints one well-formed line per size, with 4 rank processes', () => {
    // Four processes that close one after another also exercise the clean-close path: a rank
    // that finishes first must not fail the others' last collective.
    const r = rollcall(['bench', 'allreduce', '--ranks', '4', '--sizes', '1m,4096', '--repeats', '1', '--json']);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.map((l) => l.bytes), [1048576, 4096]);
    for (const l of lines) {
      assert.equal(l.impl, 'rollcall');
      assert.equal(l.ranks, 4);
      for (const k of ['us', 'algbw_GBps', 'busbw_GBps']) assert.ok(typeof l[k] === 'number' && (l[k] as number) > 0, `${k} in ${JSON.stringify(l)}`);
      assert.ok(Math.abs((l.busbw_GBps as number) - ((l.algbw_GBps as number) * 2 * 3) / 4) < 0.002);
    }
  });

  it('bench state --json: every arm timed, and the job\'s CPU per step accounted to every process of each arm', () => {
    // Past start-up an FMS wakes some 17 times a second: the timed window must be long enough
    // (0.1-0.5 s) to hold a few wake-ups; 30 steps did so only while start-up kept it busy.
    const r = rollcall(['bench', 'state', '--rounds', '1', '--steps', '1000', '--warmup', '10', '--warmup-ms', '200', '--bytes', '65536', '--json']);
    assert.equal(r.code, 0, r.err);
    const row = JSON.parse(r.out.trim()) as Record<string, unknown> & { cpu_us: Record<string, Record<string, number>> };
    for (const k of ['bare_step_us', 'bare_copy_step_us', 'rollcall_step_us', 'rollcall_draft_step_us']) assert.ok((row[k] as number) > 0, `${k} in ${r.out}`);
    assert.deepEqual(Object.keys(row.cpu_us), ['bare', 'bare_copy', 'rollcall', 'rollcall_draft']);
    for (const [arm, c] of Object.entries(row.cpu_us)) {
      // Two ranks computing: their main threads carry most of it; only the Rollcall arms have FMSes.
      assert.ok(c.main! > 0 && c.total! >= c.main!, `${arm}: ${JSON.stringify(c)}`);
      assert.ok(Math.abs(c.total! - (c.main! + c.threads! + c.fms! + c.launcher!)) <= 2, `${arm}: the parts add up (each rounded)`);
      if (arm.startsWith('rollcall')) assert.ok(c.fms! > 0, `${arm}: its FMSes counted`);
      else assert.equal(c.fms, 0, `${arm}: no FMS`);
    }
    assert.equal(typeof row.cpu_overhead_pct, 'number');
    for (const k of ['besides_ranks_pct', 'draft_besides_ranks_pct', 'commit_share_pct']) assert.ok(Number.isFinite(row[k]), `${k} in ${r.out}`);
    assert.ok((row.commit_share_pct as number) > 0, 'commits take some of the ranks\' time');
    assert.equal(row.warmup_ms, 200);
  });

  it('bench scale --json: one line per run, the simulated job measured', () => {
    const r = rollcall(['bench', 'scale', '--nodes', '6', '--spares', '1', '--minutes', '0.2', '--faults', 'crash:1', '--runs', '2', '--json']);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 2);
    assert.deepEqual(lines.map((l) => l.seed), [1, 2]);
    for (const l of lines) {
      for (const k of ['nodes', 'detect_ms', 'agreed_ms', 'agreed_p99_ms', 'datagrams_per_node_s', 'store_writes_per_fault', 'watch_events_per_fault', 'false_evictions', 'sim_minutes']) assert.ok(k in l, `${k} in ${JSON.stringify(l)}`);
      assert.equal(l.nodes, 6);
      assert.deepEqual(l.faults, { crash: 1, partition: 0 });
      assert.ok((l.agreed_ms as number) > 0, JSON.stringify(l));
    }
  });

  it('bad flags get a clear message and a non-zero exit', () => {
    for (const [args, msg] of [
      [['bench', 'allreduce', '--ranks', '0'], /integer from 1 to 64/],
      [['bench', 'allreduce', '--sizes', '12x'], /not a size in bytes/],
      [['bench', 'allreduce', '--sizes', '6'], /multiple of 4/],
      [['bench', 'nosuch'], /unknown command/],
      [['bench', 'recovery', '--nodes', '65'], /integer from 2 to 64/],
      [['bench', 'scale', '--nodes', '10', '--loss', '1'], /probability from 0 to below 1/],
      [['bench', 'scale', '--nodes', '10', '--faults', 'boom:1'], /not crash:K or partition:K/],
      [['bench', 'scale', '--nodes', '4', '--faults', 'crash:4'], /need more than the 4 nodes/],
      [['launch', '--nodes', '70000', '--', 'node', 'x.js'], /integer from 1 to 65536/],
    ] as const) {
      const r = rollcall([...args]);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.err, msg);
    }
  });
});

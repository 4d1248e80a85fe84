import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROLLCALL, STEPS_PROGRAM, jobPids, readEvents, waitAllDead } from '../helpers/job.js';

/**
 * The dashboard outlives the job (--dashboard-linger-ms): after the job has ended, its result is
 * printed and every process of the job is gone, the page, its final view and /metrics still
 * answer; Ctrl-C closes it at once and the exit code is still the job's.
 */

interface Running {
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
  kill(sig: NodeJS.Signals): void;
}

function start(args: string[]): Running {
  const child = spawn(process.execPath, [ROLLCALL, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
  void exit.then(() => clearTimeout(timer));
  return { out: () => out, err: () => err, exit, kill: (sig) => child.kill(sig) };
}

async function until<T>(what: string, r: Running, probe: () => T | undefined, ms = 120_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}\n${r.err()}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** The final view and /metrics, fetched after the job ended. */
async function assertServesFinalView(url: string, steps: number): Promise<void> {
  const page = await fetch(url);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<table/);
  const view = (await (await fetch(`${url}view.json`)).json()) as { state: string; nodes: { node: number; step: number }[] };
  assert.equal(view.state, 'completed');
  assert.ok(view.nodes.some((n) => n.step >= steps - 1), JSON.stringify(view.nodes));
  const metrics = await (await fetch(`${url}metrics`)).text();
  assert.match(metrics, /^rollcall_steps_total\{node="0"\} \d+/m);
}

describe('the dashboard outlives the job', { timeout: 240_000 }, () => {
  it('launch --dashboard-linger-ms: the page, the final view and /metrics answer after the job ended; Ctrl-C closes it, exit code the job\'s', async () => {
    const events = join(mkdtempSync(join(tmpdir(), 'rollcall-linger-')), 'events.jsonl');
    const r = start(['launch', '--nodes', '2', '--events', events, '--dashboard', '127.0.0.1:0', '--dashboard-linger-ms', '120000', '--', process.execPath, STEPS_PROGRAM, '--steps', '30']);
    const url = await until('the dashboard address', r, () => /dashboard: (http:\/\/\S+)/.exec(r.err())?.[1]);
    // The job has ended: its result is printed, and the launcher says the page stays.
    await until('the result', r, () => (/"result"/.test(r.out()) ? true : undefined));
    await until('the linger notice', r, () => (/the job has ended; its final view stays at/.test(r.err()) ? true : undefined));
    assert.deepEqual(await waitAllDead(jobPids(readEvents(events)), 10_000), [], 'every FMS and program is gone');
    await assertServesFinalView(url, 30);
    const t0 = Date.now();
    r.kill('SIGINT');
    assert.equal(await r.exit, 0, `the job completed: exit 0, not 130\n${r.err()}`);
    assert.ok(Date.now() - t0 < 10_000, 'Ctrl-C closed the dashboard at once');
  });

  it('demo --dashboard lingers by default (60 s), serving the final view after the summary', async () => {
    const r = start(['demo', '--synthetic', '--steps', '60', '--dashboard', '127.0.0.1:0', '--json']);
    const url = await until('the dashboard address', r, () => /dashboard: (http:\/\/\S+)/.exec(r.err())?.[1]);
    const summary = await until('the summary', r, () => (r.out().trim() === '' ? undefined : (JSON.parse(r.out().trim()) as { steps: number })));
    assert.equal(summary.steps, 60);
    assert.match(r.err(), /its final view stays at http:\/\/\S+ for 60 s/);
    await assertServesFinalView(url, 60);
    r.kill('SIGINT');
    assert.equal(await r.exit, 0, r.err());
  });
});

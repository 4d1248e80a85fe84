import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { ROLLCALL, TRAIN_PROGRAM, readEvents, type Ev } from '../helpers/job.js';

/**
 * The dashboard in a real browser: Debian's Chromium (.ci/run installs it), driven by
 * playwright-core. A job with a crash injected mid-run; the page, opened before the fault, must
 * show the fault, the new generation and the recovery time without being reloaded.
 */
const CHROMIUM = process.env.ROLLCALL_CHROMIUM ?? '/usr/bin/chromium';

async function metricsOf(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_:][a-z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m) out.set(m[1]! + (m[2] ?? ''), Number(m[3]));
  }
  return out;
}

describe('dashboard in Chromium', { timeout: 180_000 }, () => {
  let browser: Browser;
  const dir = mkdtempSync(join(tmpdir(), 'rollcall-dashboard-'));
  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (as .ci/run does)`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(() => browser?.close());

  it('shows a crash, the new generation and the recovery live; /metrics agrees with the event log', async () => {
    const events = join(dir, 'events.jsonl');
    const job = spawn(
      process.execPath,
      [ROLLCALL, 'launch', '--nodes', '3', '--spares', '1', '--dashboard', '127.0.0.1:0', '--events', events,
        '--chaos', 'kill:node=1@step=300', '--', process.execPath, TRAIN_PROGRAM, '--steps', '700', '--step-ms', '10'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no dashboard address within 20 s: ${err}`)), 20_000);
      job.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /dashboard: (http:\/\/\S+)/.exec(err);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
    });
    const exited = new Promise<number | null>((r) => job.on('exit', (c) => r(c)));
    try {
      const page = await browser.newPage();
      let loads = 0;
      page.on('load', () => loads++);
      await page.goto(url);
      // Live before the fault: generation 0, node 1 a member and stepping.
      await page.waitForSelector('tr[data-node="1"].member', { timeout: 20_000 });
      assert.equal(await page.textContent('#generation'), '0');
      await page.waitForFunction(`Number(document.querySelector('tr[data-node="0"] td.step')?.textContent) > 0`, undefined, { timeout: 20_000 });
      // Then the crash and the recovery, pushed to the same page.
      await page.waitForSelector('tr[data-node="1"].fenced, tr[data-node="1"].gone', { timeout: 30_000 });
      await page.waitForFunction(`document.querySelector('#generation')?.textContent === '1'`, undefined, { timeout: 30_000 });
      await page.waitForFunction(`/^\\d+$/.test(document.querySelector('tr[data-generation="1"] td.recovery-ms')?.textContent ?? '')`, undefined, { timeout: 30_000 });
      const recoveryMs = Number(await page.textContent('tr[data-generation="1"] td.recovery-ms'));
      assert.ok(recoveryMs > 0 && recoveryMs < 5000, `recovery ${recoveryMs} ms`);
      assert.match((await page.textContent('tr[data-generation="1"]')) ?? '', /exit \(node 1\)/);
      assert.equal(await page.locator('tr[data-node="3"].member').count(), 1, 'the spare is a member now');
      assert.ok(await page.locator('#plot canvas').count() > 0, 'the plot is drawn');
      assert.equal(loads, 1, 'never reloaded');
      const shot = join(dir, 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 10_000, 'a screenshot of the page');

      const metrics = await metricsOf(url);
      const evs: Ev[] = readEvents(events);
      assert.equal(metrics.get('rollcall_recoveries_total'), evs.filter((e) => e.event === 'recovered').length);
      assert.equal(metrics.get('rollcall_faults_total{cause="exit"}'), evs.filter((e) => e.event === 'fault_detected' && e.cause === 'exit').length);
      assert.equal(metrics.get('rollcall_generation'), 1);
      assert.ok((metrics.get('rollcall_steps_total{node="0"}') ?? 0) > 100);
      assert.ok((metrics.get('rollcall_commits_total{node="0"}') ?? 0) > 0, 'the programs report their commits');
      assert.ok((metrics.get('rollcall_allreduce_bytes_total{node="0"}') ?? 0) > 0);
      await page.close();
    } finally {
      const code = await exited;
      assert.equal(code, 0, err);
    }

    // The same run as one self-contained report, opened from disk with the network cut off.
    const report = join(dir, 'report.html');
    const r = spawnSync(process.execPath, [ROLLCALL, 'report', events, '-o', report], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const ctx = await browser.newContext({ offline: true });
    const page = await ctx.newPage();
    await page.goto(`file://${report}`);
    await page.waitForSelector('#plot canvas');
    const recovered = readEvents(events).filter((e) => e.event === 'recovered');
    assert.equal(await page.locator('#recoveries tr').count(), recovered.length, 'every recovery of the log is in the report');
    for (const e of recovered) assert.equal(await page.textContent(`tr[data-generation="${String(e.generation)}"] td.recovery-ms`), String(e.ms));
    assert.equal(await page.textContent('#state'), 'completed');
    await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
    await ctx.close();
  });

  it('a port in use is refused before the job starts', async () => {
    const blocker = await new Promise<Server>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    });
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = spawnSync(process.execPath, [ROLLCALL, 'launch', '--nodes', '2', '--dashboard', `127.0.0.1:${port}`, '--', process.execPath, TRAIN_PROGRAM], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 2);
      assert.match(r.stderr, new RegExp(`port ${port} on 127.0.0.1 is already in use`));
    } finally {
      blocker.close();
    }
  });
});

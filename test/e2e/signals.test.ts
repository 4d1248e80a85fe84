import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROLLCALL, STEPS_PROGRAM, first, of, readEvents, type Ev } from '../helpers/job.js';

/**
 * A signal to whatever started `rollcall launch` stops the whole job. `npx rollcall launch`
 * (how the README starts a job) dies of a SIGTERM without passing it on, and so does a Node
 * parent with the default handlers: the parent here is such a one, so the launcher itself gets no
 * signal at all, only loses its parent. Nothing may be left running: every process group of the
 * job (the parent's, which the launcher is in, and each node's two: its FMS's and its program's) is
 * checked with `ps`.
 */

/** Live (not zombie) processes in these process groups, from `ps`. */
function inGroups(groups: Set<number>): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid=,pgid=,stat=,args='], { encoding: 'utf8' });
  assert.equal(ps.status, 0, ps.stderr);
  return ps.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([pid, pgid, stat]) => pid !== undefined && groups.has(Number(pgid)) && !stat?.startsWith('Z'))
    .map((f) => f.join(' '));
}

async function until<T>(what: string, ms: number, probe: () => T | undefined): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('signals to the parent of rollcall launch', { timeout: 180_000 }, () => {
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGKILL'] as const) {
    it(`${sig} to the process that started the launcher stops the job; no process of it is left`, async () => {
      const events = join(mkdtempSync(join(tmpdir(), 'rollcall-signals-')), 'events.jsonl');
      // A job that never ends by itself (--steps 0), 2 members and a spare.
      const launcher = [ROLLCALL, 'launch', '--nodes', '2', '--spares', '1', '--events', events, '--', process.execPath, STEPS_PROGRAM, '--steps', '0'];
      const script = `const c = require('node:child_process').spawn(process.execPath, ${JSON.stringify(launcher)}, { stdio: 'inherit' }); c.on('exit', (code) => process.exit(code ?? 1));`;
      // Its own process group (pgid = its pid), which the launcher inherits.
      const parent = spawn(process.execPath, ['-e', script], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      parent.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const parentExit = new Promise<void>((r) => parent.on('exit', () => r()));
      const groups = new Set<number>([parent.pid as number]);
      try {
        const evs = await until('every program to start', 60_000, () => {
          const e = readEvents(events);
          return of(e, 'program_started').length >= 3 && of(e, 'proxy_started').length >= 2 ? e : undefined;
        });
        // Each node is two process groups: its FMS's, and its program's (fms/program-process.ts).
        for (const e of of(evs, 'program_started')) {
          groups.add(e.fmsPid as number);
          groups.add(e.pid as number);
        }
        assert.equal(groups.size, 7, 'the parent\'s group and three nodes\' two groups');
        assert.ok(inGroups(groups).length >= 1 + 1 + 3 * 2, `parent, launcher and 3 x (FMS, program) running:\n${inGroups(groups).join('\n')}`);

        process.kill(parent.pid as number, sig);
        await parentExit;
        const left = await until('every process of the job to exit', 20_000, () => (inGroups(groups).length === 0 ? [] : undefined)).catch(() => inGroups(groups));
        assert.deepEqual(left, [], `left running after ${sig} to the launcher's parent\n${err}`);

        const log: Ev[] = readEvents(events);
        const failed = first(log, 'job_failed');
        assert.equal(failed?.outcome, 'stopped', JSON.stringify(failed));
        assert.match(String(failed?.reason), new RegExp(`pid ${String(parent.pid)}\\) exited`));
      } finally {
        for (const g of groups) {
          try {
            process.kill(-g, 'SIGKILL');
          } catch {
            // Already gone: the point of the test.
          }
        }
      }
    });
  }
});

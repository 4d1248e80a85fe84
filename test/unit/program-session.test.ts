import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ProgramProcess } from '../../src/fms/program-process.js';

/** pgrp and session of a live process, from /proc/<pid>/stat (fields 5 and 6). */
function groupAndSession(pid: number): { pgrp: number; session: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pgrp: Number(f[2]), session: Number(f[3]) };
  } catch {
    return undefined;
  }
}

async function until<T>(what: string, probe: () => T | undefined, ms = 5000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The program runs in a session of its own, apart from its FMS: with autogroups the kernel
 * shares the CPU between sessions first, so a busy program cannot delay its FMS's wake-ups
 * (fms/program-process.ts). And what the FMS kills goes with the program's whole group.
 */
describe('a program in a session of its own', { skip: process.platform !== 'linux' && 'reads /proc', timeout: 30_000 }, () => {
  it('leads its own session and process group, not the FMS\'s', async () => {
    const p = new ProgramProcess([process.execPath, '-e', 'setInterval(() => {}, 1000)'], process.env);
    try {
      const mine = groupAndSession(process.pid);
      const its = await until('the program to start', () => groupAndSession(p.pid));
      assert.ok(mine);
      assert.equal(its.session, p.pid, 'the program leads a session');
      assert.equal(its.pgrp, p.pid, 'and a process group');
      assert.notEqual(its.session, mine.session);
    } finally {
      p.kill('SIGKILL');
      await p.exited;
    }
  });

  it('kill() takes the program\'s own children with it', async () => {
    // The program starts a child and writes its pid to a file; both must be gone after kill().
    const file = join(mkdtempSync(join(tmpdir(), 'rollcall-session-')), 'child.pid');
    const script = `const c = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }); require('node:fs').writeFileSync(${JSON.stringify(file)}, String(c.pid)); setInterval(() => {}, 1000);`;
    const p = new ProgramProcess([process.execPath, '-e', script], process.env);
    let child: number;
    try {
      child = await until('the program to start its child', () => {
        const pid = existsSync(file) ? Number(readFileSync(file, 'utf8')) : NaN;
        return Number.isInteger(pid) && pid > 0 ? pid : undefined;
      });
    } catch (e) {
      p.kill('SIGKILL');
      throw e;
    }
    assert.equal(groupAndSession(child)?.pgrp, p.pid, 'the child is in the program\'s group');
    p.kill('SIGKILL');
    await p.exited;
    await until('the program\'s child to be gone', () => {
      const s = groupAndSession(child);
      if (s === undefined) return true;
      const state = readFileSync(`/proc/${child}/stat`, 'utf8').split(') ')[1]?.[0];
      return state === 'Z' ? true : undefined;
    });
  });
});

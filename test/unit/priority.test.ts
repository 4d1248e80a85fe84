import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const PRIORITY = fileURLToPath(new URL('../../src/util/priority.js', import.meta.url));
const privileged = process.getuid?.() === 0;

/**
 * Runs a script in a child process (a raise is per thread and for good: not in the test runner),
 * which prints its own nice value and that of a child it spawns at the program's priority.
 */
function niceValues(env: Record<string, string> = {}): { raised: boolean; control: number; program: number } {
  const script = `
    import { getPriority } from 'node:os';
    import { execFileSync } from 'node:child_process';
    import { atProgramPriority, raiseControlPriority } from ${JSON.stringify(PRIORITY)};
    const raised = raiseControlPriority();
    const program = Number(atProgramPriority(() => execFileSync(process.execPath, ['-e', 'console.log(require("os").getPriority(0))'])).toString());
    console.log(JSON.stringify({ raised, control: getPriority(0), program }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env } });
  return JSON.parse(out.toString()) as { raised: boolean; control: number; program: number };
}

describe('control-plane priority', { skip: !privileged && 'lowering a nice value needs root or CAP_SYS_NICE' }, () => {
  it('raises the FMS or launcher thread, and starts programs at the nice value the user had', () => {
    const base = niceValues({ ROLLCALL_USER_NICE: '' });
    assert.equal(base.raised, true);
    assert.equal(base.control, -10);
    assert.equal(base.program, 0, 'the program is not the control plane');
  });

  it("an FMS forked by a raised launcher starts programs at the user's nice value, not the launcher's", () => {
    // The launcher ran at nice 3 before it raised itself; its FMS inherited -10 and the variable.
    const fms = niceValues({ ROLLCALL_USER_NICE: '3' });
    assert.equal(fms.control, -10);
    assert.equal(fms.program, 3);
  });
});

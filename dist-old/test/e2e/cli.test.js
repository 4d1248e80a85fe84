import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
const BIN = fileURLToPath(new URL('../../../bin/rollcall.js', import.meta.url));
function rollcall(args, timeoutMs = 120_000) {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: timeoutMs });
    return { code: r.status, out: r.stdout, err: r.stderr };
}
describe('rollcall CLI', () => {
    it('--help lists the commands', () => {
        const r = rollcall(['--help']);
        assert.equal(r.code, 0);
        assert.match(r.out, /bench/);
    });
    it('bench allreduce --json prints one well-formed line per size, with 4 rank processes', () => {
        // Four processes that close one after another also exercise the clean-close path: a rank
        // that finishes first must not fail the others' last collective.
        const r = rollcall(['bench', 'allreduce', '--ranks', '4', '--sizes', '1m,4096', '--repeats', '1', '--json']);
        assert.equal(r.code, 0, r.err);
        const lines = r.out.trim().split('\n').map((l) => JSON.parse(l));
        assert.deepEqual(lines.map((l) => l.bytes), [1048576, 4096]);
        for (const l of lines) {
            assert.equal(l.impl, 'rollcall');
            assert.equal(l.ranks, 4);
            for (const k of ['us', 'algbw_GBps', 'busbw_GBps'])
                assert.ok(typeof l[k] === 'number' && l[k] > 0, `${k} in ${JSON.stringify(l)}`);
            assert.ok(Math.abs(l.busbw_GBps - (l.algbw_GBps * 2 * 3) / 4) < 0.002);
        }
    });
    it('bad flags get a clear message and a non-zero exit', () => {
        for (const [args, msg] of [
            [['bench', 'allreduce', '--ranks', '0'], /integer from 1 to 64/],
            [['bench', 'allreduce', '--sizes', '12x'], /not a size in bytes/],
            [['bench', 'allreduce', '--sizes', '6'], /multiple of 4/],
            [['bench', 'nosuch'], /unknown command/],
        ]) {
            const r = rollcall([...args]);
            assert.notEqual(r.code, 0, args.join(' '));
            assert.match(r.err, msg);
        }
    });
});
//# sourceMappingURL=cli.test.js.map
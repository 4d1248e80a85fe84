import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

/**
 * Rollcall as a new user gets it (README.md, "Using Rollcall in your project"): the project packed
 * with `npm pack`, the tarball installed into an empty project, a program of the user's own
 * written in TypeScript against the README's API and compiled with the README's tsconfig, then
 * `rollcall demo --synthetic` and a 2-node `rollcall launch` run from that project through npx.
 * Nothing of the checkout is used after the pack: a file the package forgot is missing here.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The README's minimal tsconfig.json, verbatim in spirit: what a reader would copy. */
const TSCONFIG = {
  compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, outDir: 'dist', types: ['node'] },
  include: ['src'],
};

/** A program written from the README's "Writing a program": registered state, one allreduce per step. */
const PROGRAM = `import { connect } from 'rollcall';

const steps = Number(process.argv[2] ?? 40);
const job = await connect();
const params = new Float32Array(64);
const grad = new Float32Array(64);
const state = job.registerState({ params, data: { index: 0 } });
await job.run(state, async (s) => {
  while (s.step < steps) {
    const index = (s.values.data as { index: number }).index;
    for (let i = 0; i < grad.length; i++) grad[i] = Math.sin(i + index) * (job.rank + 1);
    await job.allreduce(grad, 'avg');
    for (let i = 0; i < params.length; i++) params[i] -= 0.1 * (grad[i] as number);
    s.values.data = { index: index + 1 };
    s.step += 1;
    s.commit();
    job.progress(s.step);
  }
});
let sum = 0;
for (const p of params) sum += p;
job.result({ steps: state.step, world: job.world, sum });
await job.close();
`;

function run(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' } });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} exited ${String(r.status)} (${String(r.signal)})\n${r.stdout}\n${r.stderr}`);
  return r;
}

describe('installed from a packed tarball', { timeout: 300_000 }, () => {
  let dir: string;
  let app: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'rollcall-package-'));
    // dist/ is already built (the test runs from it): packing need not build it again.
    const packed = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT).stdout) as { filename: string; files: { path: string }[] }[];
    const tarball = join(dir, packed[0]!.filename);
    const files = new Set(packed[0]!.files.map((f) => f.path));
    for (const f of ['bin/rollcall.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/examples/fashion-mnist/main.js']) assert.ok(files.has(f), `the package ships ${f}`);
    app = join(dir, 'app');
    mkdirSync(join(app, 'src'), { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'my-training', private: true, type: 'module' }, null, 2));
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    writeFileSync(join(app, 'src', 'train.ts'), PROGRAM);
    // The README's install line. --prefer-offline: from npm's cache where it has them (the
    // registry only for what it lacks), so a second run needs no network.
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, 'typescript@~5.9', '@types/node@20'], app, 180_000);
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a program written against the README compiles with the README tsconfig and runs under a 2-node launch from npx', () => {
    run('npx', ['--no-install', 'tsc', '-p', 'tsconfig.json'], app);
    const r = run('npx', ['--no-install', 'rollcall', 'launch', '--nodes', '2', '--quiet', '--', process.execPath, 'dist/train.js', '40'], app);
    const out = JSON.parse(r.stdout.trim()) as { result: { steps: number; world: number; sum: number } };
    assert.equal(out.result.steps, 40);
    assert.equal(out.result.world, 2);
    assert.ok(Number.isFinite(out.result.sum));
  });

  it('`rollcall demo --synthetic` runs from the installed package (its example ships with it)', () => {
    const r = run('npx', ['--no-install', 'rollcall', 'demo', '--synthetic', '--steps', '60', '--json'], app, 180_000);
    const s = JSON.parse(r.stdout.trim()) as { steps: number; recoveries: unknown[]; world_start: number; world_end: number };
    assert.equal(s.steps, 60);
    assert.equal(s.recoveries.length, 1, 'the crash was recovered');
    assert.deepEqual([s.world_start, s.world_end], [4, 4]);
  });

  it('SIGTERM to `npx rollcall launch` stops the job; nothing of it is left running', async () => {
    // npx dies of the SIGTERM without passing it on: the launcher must notice its parent is gone.
    const npx = spawn('npx', ['--no-install', 'rollcall', 'launch', '--nodes', '2', '--', process.execPath, 'dist/train.js', '100000000'], { cwd: app, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    npx.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const group = npx.pid as number;
    const inGroupOrChildren = (): string[] => {
      // The launcher is in npx's process group; each node's FMS heads a group of its own, and
      // so does its program (fms/program-process.ts): the groups of every descendant of npx's.
      const ps = spawnSync('ps', ['-eo', 'pid=,ppid=,pgid=,stat=,args='], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.trim().split(/\s+/));
      const groups = new Set([group]);
      const tree = new Set(ps.filter((f) => Number(f[2]) === group).map((f) => Number(f[0])));
      for (let grew = true; grew; ) {
        grew = false;
        for (const f of ps) {
          if (!tree.has(Number(f[1])) || tree.has(Number(f[0]))) continue;
          tree.add(Number(f[0]));
          groups.add(Number(f[2]));
          grew = true;
        }
      }
      return ps.filter((f) => groups.has(Number(f[2])) && !f[3]?.startsWith('Z')).map((f) => f.join(' '));
    };
    try {
      // Running: the launcher printed its job line and both programs report steps.
      const t0 = Date.now();
      while (!/job job-\S+: 2 node/.test(err) || inGroupOrChildren().filter((l) => l.includes('dist/train.js')).length < 2) {
        if (Date.now() - t0 > 60_000) throw new Error(`the job did not start within 60 s\n${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const before = inGroupOrChildren();
      process.kill(group, 'SIGTERM');
      const pids = before.map((l) => Number(l.split(' ')[0]));
      const t1 = Date.now();
      const alive = (): number[] => pids.filter((p) => spawnSync('ps', ['-o', 'stat=', '-p', String(p)], { encoding: 'utf8' }).stdout.trim().replace(/^Z.*/, '') !== '');
      while (alive().length > 0 && Date.now() - t1 < 20_000) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(alive(), [], `left running after SIGTERM to npx:\n${before.join('\n')}\n${err}`);
      assert.match(err, /job stopped: stopped by SIGHUP: the process that started rollcall \(pid \d+\) exited/);
    } finally {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // Gone, as it should be.
      }
    }
  });
});

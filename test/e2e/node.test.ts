import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { dashboardSummaryKey, dashboardWriterKey } from '../../src/dashboard/summary-feed.js';
import { openStore } from '../../src/store/open-store.js';
import { ROLLCALL, STEPS_PROGRAM, TRAIN_PROGRAM, assertEveryEventTyped, readEvents, type Ev } from '../helpers/job.js';

/**
 * `rollcall node`'s refusals, each with a clear reason and before anything starts: a node id
 * already held by a live node, another secret, none, and a job described differently.
 */
const SECRET = 'node-test-secret-0123456789abcdef';
const program = ['--', process.execPath, STEPS_PROGRAM, '--steps', '50'];

function nodeArgs(store: string, job: string, node: number, extra: string[] = []): string[] {
  return [ROLLCALL, 'node', '--store', store, '--job', job, '--node', String(node), '--nodes', '2', '--spares', '1', '--host', '127.0.0.1', ...extra, ...program];
}

function run(args: string[], env: Record<string, string | undefined> = { ROLLCALL_SECRET: SECRET }): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ROLLCALL_SECRET: undefined, ...env } });
  return { status: r.status, stderr: r.stderr };
}

describe('rollcall node: who may join', { timeout: 120_000 }, () => {
  let etcd: EtcdCluster;
  let first: ChildProcess | undefined;
  const job = `refusals-${Date.now()}`;
  const dir = mkdtempSync(join(tmpdir(), 'rollcall-node-'));
  const events = join(dir, 'node0.jsonl');

  before(async () => {
    etcd = await startEtcd();
    // Node 0 arrives first and waits for the others (generation 0 waits for every host).
    first = spawn(process.execPath, nodeArgs(etcd.url, job, 0, ['--events', events]), { stdio: 'ignore', env: { ...process.env, ROLLCALL_SECRET: SECRET } });
    const t0 = Date.now();
    while (!readEvents(events).some((e) => e.event === 'node_started')) {
      if (Date.now() - t0 > 20_000) throw new Error('node 0 did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  after(async () => {
    first?.kill('SIGKILL');
    await etcd?.stop();
  });

  it('refuses a second process for a node id a live node holds, naming the holder', () => {
    const r = run(nodeArgs(etcd.url, job, 0));
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`node 0 of job ${job} is already run by pid ${first!.pid}`));
  });

  it('refuses a node with another secret, or with none', () => {
    const wrong = run(nodeArgs(etcd.url, job, 1), { ROLLCALL_SECRET: 'a-different-secret-0123456789' });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /ERR_AUTH.*started with a different secret/);
    const none = run(nodeArgs(etcd.url, job, 1), {});
    assert.equal(none.status, 2);
    assert.match(none.stderr, /no job secret: give --secret-file FILE or set ROLLCALL_SECRET/);
    const file = join(dir, 'secret');
    writeFileSync(file, 'short\n');
    const short = run(nodeArgs(etcd.url, job, 1, ['--secret-file', file]), {});
    assert.equal(short.status, 2);
    assert.match(short.stderr, /shorter than 16 characters/);
  });

  it('refuses a node that describes the job differently, or an id outside it', () => {
    const other = run([ROLLCALL, 'node', '--store', etcd.url, '--job', job, '--node', '1', '--nodes', '3', '--host', '127.0.0.1', ...program]);
    assert.equal(other.status, 2);
    assert.match(other.stderr, /runs 2 node\(s\) and 1 spare\(s\).*--nodes 3 --spares 0/);
    const outside = run(nodeArgs(etcd.url, job, 7));
    assert.equal(outside.status, 2);
    assert.match(outside.stderr, /--node 7: the job has nodes 0\.\.2/);
  });

  it('a store nobody answers at is reported within the deadline', () => {
    const t0 = Date.now();
    const r = run(nodeArgs('etcd://127.0.0.1:1', job, 1));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /ERR_STORE_UNAVAILABLE: no etcd quorum answered/);
    assert.ok(Date.now() - t0 < 15_000);
  });

  it('SIGTERM stops the node cleanly: its program is ended and the id is released at once', async () => {
    const exited = new Promise<{ code: number | null }>((r) => first!.on('exit', (code) => r({ code })));
    first!.kill('SIGTERM');
    const { code } = await exited;
    assert.equal(code, 143);
    assert.ok(readEvents(events).some((e) => e.event === 'node_stopped'));
    assertEveryEventTyped(readEvents(events));
    // Released by revoking the lease on the way out, not after its TTL.
    const again = spawn(process.execPath, nodeArgs(etcd.url, job, 0), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ROLLCALL_SECRET: SECRET } });
    let err = '';
    again.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const t0 = Date.now();
    while (!/node 0 of 3 \(member\)/.test(err)) {
      if (Date.now() - t0 > 10_000) throw new Error(`node 0 could not claim its id again: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    again.kill('SIGKILL');
  });
});

describe('rollcall node on a 3-member etcd: the leader killed mid-job', { timeout: 120_000 }, () => {
  let etcd: EtcdCluster;
  before(async () => {
    etcd = await startEtcd({ members: 3 });
  });
  after(() => etcd?.stop());

  it('no node fences itself or is judged failed, and every node prints the same result', async () => {
    const job = `leader-${Date.now()}`;
    const dir = mkdtempSync(join(tmpdir(), 'rollcall-node-leader-'));
    // 80 steps of 40 ms: the election (about a second) falls well inside the job.
    const train = ['--', process.execPath, TRAIN_PROGRAM, '--steps', '80', '--step-ms', '40'];
    const nodes = [0, 1, 2].map((n) => {
      const events = join(dir, `node${n}.jsonl`);
      const p = spawn(process.execPath, [ROLLCALL, 'node', '--store', etcd.url, '--job', job, '--node', String(n), '--nodes', '2', '--spares', '1', '--host', '127.0.0.1', '--events', events, ...train], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ROLLCALL_SECRET: SECRET },
      });
      const out = { events, out: '', err: '', exit: new Promise<number | null>((r) => p.on('exit', (c) => r(c))) };
      p.stdout!.on('data', (d: Buffer) => (out.out += d.toString()));
      p.stderr!.on('data', (d: Buffer) => (out.err += d.toString()));
      return out;
    });
    const t0 = Date.now();
    while (!readEvents(nodes[0]!.events).some((e) => e.event === 'version_interval_chosen')) {
      if (Date.now() - t0 > 30_000) throw new Error(`training did not start: ${nodes.map((n) => n.err).join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const leader = await etcd.leader();
    etcd.kill(leader);
    const codes = await Promise.all(nodes.map((n) => n.exit));
    assert.deepEqual(codes, [0, 0, 0], nodes.map((n) => n.err).join('\n'));
    const results = nodes.map((n) => n.out.trim().split('\n').at(-1));
    assert.equal(new Set(results).size, 1, `one result: ${results.join(' | ')}`);
    const evs: Ev[] = nodes.flatMap((n) => readEvents(n.events));
    // A node's own log, as `rollcall node` writes it: every line a typed event.
    assertEveryEventTyped(evs);
    assert.deepEqual(evs.filter((e) => ['fault_detected', 'node_fenced', 'membership_updated'].includes(e.event)), []);
    assert.ok(evs.some((e) => e.event === 'program_completed' && e.node === 0));
  });
});

describe('rollcall node: a dashboard on every node, fed from one summary', { timeout: 120_000 }, () => {
  let etcd: EtcdCluster;
  before(async () => {
    etcd = await startEtcd();
  });
  after(() => etcd?.stop());

  it('every dashboard shows every member stepping; one of them writes the summary the others follow', async () => {
    const job = `dashboards-${Date.now()}`;
    const train = ['--', process.execPath, STEPS_PROGRAM, '--steps', '150', '--step-ms', '20'];
    const nodes = [0, 1, 2].map((n) => {
      const p = spawn(process.execPath, [ROLLCALL, 'node', '--store', etcd.url, '--job', job, '--node', String(n), '--nodes', '2', '--spares', '1', '--host', '127.0.0.1', '--dashboard', '127.0.0.1:0', ...train], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ROLLCALL_SECRET: SECRET },
      });
      const out = { err: '', url: undefined as string | undefined, exit: new Promise<number | null>((r) => p.on('exit', (c) => r(c))) };
      p.stdout!.resume();
      p.stderr!.on('data', (d: Buffer) => {
        out.err += d.toString();
        out.url ??= /dashboard: (http:\S+)/.exec(out.err)?.[1];
      });
      return out;
    });
    const t0 = Date.now();
    // Each dashboard sees both members past their first steps: its own node's and the others'.
    const seen = new Set<number>();
    while (seen.size < 3) {
      if (Date.now() - t0 > 60_000) assert.fail(`dashboards ${[0, 1, 2].filter((n) => !seen.has(n)).join(',')} never showed both members stepping:\n${nodes.map((n) => n.err).join('\n')}`);
      for (const [i, n] of nodes.entries()) {
        if (seen.has(i) || n.url === undefined) continue;
        const view = (await fetch(`${n.url}view.json`).then((r) => r.json()).catch(() => undefined)) as { nodes: { node: number; step: number }[] } | undefined;
        const steps = new Map(view?.nodes.map((r) => [r.node, r.step]));
        if ((steps.get(0) ?? 0) > 0 && (steps.get(1) ?? 0) > 0) seen.add(i);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const store = await openStore(etcd.url, { secret: SECRET });
    try {
      const writer = (await store.get(dashboardWriterKey(job)))?.value;
      assert.ok(writer !== undefined && ['0', '1', '2'].includes(writer), `the summary writer is one of the nodes (${writer})`);
      const summary = JSON.parse((await store.get(dashboardSummaryKey(job)))?.value ?? '{}') as { writer?: number; seq?: number };
      assert.equal(String(summary.writer), writer, 'the summary is that node\'s');
    } finally {
      await store.close();
    }
    assert.deepEqual(await Promise.all(nodes.map((n) => n.exit)), [0, 0, 0], nodes.map((n) => n.err).join('\n'));
  });
});

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { ROLLCALL, TRAIN_PROGRAM, completedResults, readEvents, runJob, type Ev } from '../helpers/job.js';
import { makeHosts, type Host, type Network } from '../helpers/netns.js';

/**
 * Sixteen hosts (issue 26): every host a network namespace, etcd on a seventeenth, one
 * `rollcall node` per host. A real SIGKILL and a real partition; then short link cuts, which
 * must evict nobody but (at most) the host cut off. The reference is the same job without
 * faults, which replace mode must reproduce bit for bit. Light on purpose (small state, short
 * steps): 16 hosts are 32 processes on this machine's 2 cores.
 */
const MEMBERS = 13;
const SPARES = 3;
const SECRET = 'multi-host-scale-secret-0123456789';
const train = (steps: number): string[] => ['--', process.execPath, TRAIN_PROGRAM, '--steps', String(steps), '--elements', '1024', '--step-ms', '20'];

interface Digest {
  steps: number;
  digest: string;
  world: number;
}

interface NodeProc {
  node: number;
  host: Host;
  proc: ChildProcess;
  events: string;
  out: string;
  err: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startNode(host: Host, node: number, store: string, job: string, dir: string, steps: number): NodeProc {
  const events = join(dir, `events-${node}.jsonl`);
  const args = [
    process.execPath, ROLLCALL, 'node',
    '--store', store, '--job', job, '--node', String(node), '--nodes', String(MEMBERS), '--spares', String(SPARES),
    '--host', host.address, '--events', events, '--state-dir', join(dir, `state-${node}`), '--quiet',
    // Arriving is not what is tested here: on this machine under other load, the last of 16 hosts
    // took over the default 30 s to register (seen), and every FMS gave up on it.
    '--start-timeout-ms', '90000',
    ...train(steps),
  ];
  const argv = host.argv(args);
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ROLLCALL_SECRET: SECRET } });
  const n: NodeProc = { node, host, proc, events, out: '', err: '', exit: new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal }))) };
  proc.stdout!.on('data', (d: Buffer) => (n.out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (n.err += d.toString()));
  return n;
}

const errs = (nodes: NodeProc[]): string => nodes.map((n) => `node ${n.node}: ${n.err}`).join('\n');

/**
 * Starts a node per host, a quarter second apart: sixteen Node processes loading at once on two
 * cores starve etcd past its clients' 5 s probe (seen), which is a test of this machine, not of
 * Rollcall. Hosts of a real job do not all start in the same instant either.
 */
async function startAll(store: string, job: string, dir: string, steps: number, hosts: Host[]): Promise<NodeProc[]> {
  const nodes: NodeProc[] = [];
  for (const [i, h] of hosts.entries()) {
    nodes.push(startNode(h, i, store, job, dir, steps));
    await new Promise((r) => setTimeout(r, 250));
  }
  return nodes;
}

const allEvents = (nodes: NodeProc[]): Ev[] => nodes.flatMap((n) => readEvents(n.events)).sort((a, b) => a.ts - b.ts);

/** Polls the nodes' own event logs until `cond` holds over all of them, with a deadline. */
async function waitEvents(nodes: NodeProc[], cond: (evs: Ev[]) => boolean, what: string, ms = 120_000): Promise<Ev[]> {
  const t0 = Date.now();
  for (;;) {
    const evs = allEvents(nodes);
    if (cond(evs)) return evs;
    if (Date.now() - t0 > ms) {
      const faults = evs.filter((e) => e.event === 'fault_detected').map((e) => `${String(e.by)}->${JSON.stringify(e.failed)} ${String(e.detail)}`);
      const last = evs.slice(-5).map((e) => JSON.stringify(e));
      // What a loop of broken generations was about: each distinct reason once, with its first reporter.
      const broken = new Map<string, string>();
      for (const e of evs) if (e.event === 'proxy_broken' || e.event === 'program_error' || e.event === 'fms_error') broken.set(`${e.event} ${String(e.message)}`, `node ${String(e.node)} gen ${String(e.generation)}`);
      const reasons = [...broken].slice(0, 10).map(([m, at]) => `${at}: ${m}`);
      throw new Error(`timed out after ${ms} ms waiting for ${what}\nfaults declared: ${faults.slice(0, 10).join('; ')}\nreasons: ${reasons.join('\n')}\nlast events: ${last.join('\n')}\n${errs(nodes)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function result(n: NodeProc): Digest {
  const line = n.out.trim().split('\n').at(-1) ?? '';
  return (JSON.parse(line) as { result: Digest }).result;
}

describe('sixteen hosts (network namespaces, etcd)', { timeout: 600_000 }, () => {
  let net: Network;
  let etcd: EtcdCluster;
  let store: string;
  const reference = new Map<number, Digest>();
  let dir: string;
  const running: NodeProc[] = [];
  const hostsOf = (): Host[] => net.hosts.slice(1);

  /** The fault-free result for `steps`, from a job on this machine (the launcher, no hosts). */
  async function referenceFor(steps: number): Promise<Digest> {
    let r = reference.get(steps);
    if (!r) {
      // Fault-free by construction: a long fault timeout, so that this machine's load cannot
      // make a fault of it (the FMS's judgement is what the tests below check, not this run's).
      r = completedResults<Digest>(await runJob(['--nodes', String(MEMBERS), '--fault-timeout-ms', '20000', ...train(steps)], { timeoutMs: 180_000 })).result;
      reference.set(steps, r);
    }
    return r;
  }

  before(async () => {
    net = makeHosts(['etcd', ...Array.from({ length: MEMBERS + SPARES }, (_, i) => `h${i}`)]);
    const etcdHost = net.hosts[0]!;
    etcd = await startEtcd({ host: etcdHost.address, wrap: (argv) => etcdHost.argv(argv) });
    store = etcd.url;
    dir = mkdtempSync(join(tmpdir(), 'rollcall-hosts16-'));
  });

  after(async () => {
    for (const n of running) n.proc.kill('SIGKILL');
    await etcd?.stop();
    net?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a SIGKILLed host and a partitioned one: each replaced by a spare, the rest finish bit-identically', async () => {
    const steps = 300;
    const want = await referenceFor(steps);
    const job = `hosts16-${Date.now()}`;
    const runDir = mkdtempSync(join(dir, 'faults-'));
    const nodes = await startAll(store, job, runDir, steps, hostsOf());
    running.push(...nodes);
    let evs = await waitEvents(nodes, (e) => e.some((x) => x.event === 'version_interval_chosen'), 'training to start', 150_000);
    const one = evs.find((e) => e.event === 'program_started' && e.node === 1)!;
    process.kill(one.pid as number, 'SIGKILL');
    process.kill(one.fmsPid as number, 'SIGKILL');
    // Once every member has its state back (a second fault while the spare still fetches slot 1's
    // replica could lose both copies of it).
    evs = await waitEvents(nodes, (e) => e.filter((x) => x.event === 'program_resumed' && x.generation === 1).length === MEMBERS, 'the first recovery');
    const cut = hostsOf()[3]!;
    cut.partition();
    const exits = await Promise.all(nodes.map((n) => n.exit));
    cut.heal();
    evs = allEvents(nodes);
    assert.equal(exits[1]!.code, 1, `node 1 lost its FMS: ${nodes[1]!.err}`);
    assert.equal(exits[3]!.code, 3, `the cut-off node fenced itself: ${nodes[3]!.err}`);
    const removed = evs.filter((e) => e.event === 'membership_updated').flatMap((e) => e.removed as number[]);
    assert.deepEqual([...new Set(removed)].sort(), [1, 3], 'only the killed and the cut-off node left the job');
    for (const n of nodes) {
      if (n.node === 1 || n.node === 3) continue;
      assert.equal(exits[n.node]!.code, 0, `node ${n.node}\n${errs(nodes)}`);
      assert.deepEqual(result(n), want, `node ${n.node} printed the fault-free result`);
    }
  });

  it('link cuts of 0.3 s, 1 s and 3 s, each on a host of its own: nobody else leaves, the result is bit-identical', async () => {
    const steps = 500;
    const want = await referenceFor(steps);
    const job = `cuts16-${Date.now()}`;
    const runDir = mkdtempSync(join(dir, 'cuts-'));
    const nodes = await startAll(store, job, runDir, steps, hostsOf());
    running.push(...nodes);
    await waitEvents(nodes, (e) => e.some((x) => x.event === 'version_interval_chosen'), 'training to start', 150_000);
    const cuts = [
      { node: 4, ms: 300 },
      { node: 6, ms: 1000 },
      { node: 8, ms: 3000 },
    ];
    for (const c of cuts) {
      const host = hostsOf()[c.node]!;
      host.partition();
      await sleep(c.ms);
      host.heal();
      // Time for any verdict to land before the next cut, so each eviction is the cut it follows.
      await sleep(2000);
    }
    const evs = allEvents(nodes);
    assert.ok(!evs.some((e) => e.event === 'program_completed'), 'the job still ran when the last cut healed (more steps needed)');
    const exits = await Promise.all(nodes.map((n) => n.exit));
    const removed = new Set(allEvents(nodes).filter((e) => e.event === 'membership_updated').flatMap((e) => e.removed as number[]));
    const cutNodes = new Set(cuts.map((c) => c.node));
    assert.deepEqual([...removed].filter((n) => !cutNodes.has(n)), [], `only a cut-off host may leave the job\n${errs(nodes)}`);
    for (const n of nodes) {
      if (removed.has(n.node)) {
        assert.equal(exits[n.node]!.code, 3, `node ${n.node} was removed and fenced itself: ${n.err}`);
        continue;
      }
      assert.equal(exits[n.node]!.code, 0, `node ${n.node}\n${errs(nodes)}`);
      assert.deepEqual(result(n), want, `node ${n.node} printed the fault-free result`);
    }
  });
});

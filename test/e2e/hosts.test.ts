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
 * A job across hosts: every host a network namespace with its own address on a bridge private
 * to the test, etcd on a host of its own, one `rollcall node` per host. Faults are real signals
 * and a real link cut; the reference is the same job without faults, which replace mode must
 * reproduce bit for bit.
 */
const STEPS = 150;
const MEMBERS = 4;
const SPARES = 2;
const SECRET = 'multi-host-test-secret-0123456789';
const train = ['--', process.execPath, TRAIN_PROGRAM, '--steps', String(STEPS), '--step-ms', '20'];

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

function startNode(host: Host, node: number, store: string, job: string, dir: string, extra: string[] = []): NodeProc {
  const events = join(dir, `events-${node}.jsonl`);
  const args = [
    process.execPath, ROLLCALL, 'node',
    '--store', store, '--job', job, '--node', String(node), '--nodes', String(MEMBERS), '--spares', String(SPARES),
    '--host', host.address, '--events', events, '--state-dir', join(dir, `state-${node}`), ...extra, ...train,
  ];
  const argv = host.argv(args);
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ROLLCALL_SECRET: SECRET } });
  const n: NodeProc = { node, host, proc, events, out: '', err: '', exit: new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal }))) };
  proc.stdout!.on('data', (d: Buffer) => (n.out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (n.err += d.toString()));
  return n;
}

/** Polls the nodes' own event logs until `cond` holds over all of them, with a deadline. */
async function waitEvents(nodes: NodeProc[], cond: (evs: Ev[]) => boolean, what: string, ms = 30_000): Promise<Ev[]> {
  const t0 = Date.now();
  for (;;) {
    const evs = nodes.flatMap((n) => readEvents(n.events)).sort((a, b) => a.ts - b.ts);
    if (cond(evs)) return evs;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${nodes.map((n) => `node ${n.node}: ${n.err}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function result(n: NodeProc): Digest {
  const line = n.out.trim().split('\n').at(-1) ?? '';
  return (JSON.parse(line) as { result: Digest }).result;
}

describe('a job across hosts (network namespaces, etcd)', { timeout: 300_000 }, () => {
  let net: Network;
  let etcd: EtcdCluster;
  let store: string;
  let reference: Digest;
  let dir: string;
  const running: NodeProc[] = [];

  before(async () => {
    net = makeHosts(['etcd', ...Array.from({ length: MEMBERS + SPARES }, (_, i) => `h${i}`)]);
    const etcdHost = net.hosts[0]!;
    etcd = await startEtcd({ host: etcdHost.address, wrap: (argv) => etcdHost.argv(argv) });
    store = etcd.url;
    dir = mkdtempSync(join(tmpdir(), 'rollcall-hosts-'));
    reference = completedResults<Digest>(await runJob(['--nodes', String(MEMBERS), '--spares', String(SPARES), ...train])).result;
  });

  after(async () => {
    for (const n of running) n.proc.kill('SIGKILL');
    await etcd?.stop();
    net?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const hostsOf = (): Host[] => net.hosts.slice(1);

  it('a host whose FMS and program are killed, and a hung program: replaced by spares, bit-identical result', async () => {
    const job = `hosts-${Date.now()}`;
    const nodes = hostsOf().map((h, i) => startNode(h, i, store, job, mkdtempSync(join(dir, 'faults-'))));
    running.push(...nodes);
    // Mid-training: the members have measured their step time.
    let evs = await waitEvents(nodes, (e) => e.some((x) => x.event === 'version_interval_chosen'), 'training to start');
    const started = (node: number): Ev => evs.find((e) => e.event === 'program_started' && e.node === node)!;
    const one = started(1);
    process.kill(one.pid as number, 'SIGKILL');
    process.kill(one.fmsPid as number, 'SIGKILL');
    // Only once every member has its state back: stopping node 2 while the spare still fetches
    // slot 1's replica from it would lose both copies of slot 1 (a double fault with no shared disk).
    evs = await waitEvents(nodes, (e) => e.filter((x) => x.event === 'program_resumed' && x.generation === 1).length === MEMBERS, 'the first recovery');
    process.kill(started(2).pid as number, 'SIGSTOP');

    const exits = await Promise.all(nodes.map((n) => n.exit));
    evs = nodes.flatMap((n) => readEvents(n.events));
    // Node 1 lost its FMS: its runner reports it; node 2 was fenced by its own FMS.
    assert.equal(exits[1]!.code, 1, nodes[1]!.err);
    assert.equal(exits[2]!.code, 3, nodes[2]!.err);
    assert.match(nodes[2]!.err, /declared failed/);
    for (const i of [0, 3, 4, 5]) {
      assert.equal(exits[i]!.code, 0, `node ${i}: ${nodes[i]!.err}\n${nodes.map((n) => `node ${n.node}: ${n.err}`).join("\n")}`);
      assert.deepEqual(result(nodes[i]!), reference, `node ${i} printed the fault-free result`);
    }
    const detected = (node: number): Ev | undefined => evs.find((e) => e.event === 'fault_detected' && (e.failed as number[]).includes(node));
    // Its kernel lives on and resets the connections, so the peers' proxies usually see it first.
    assert.ok(['connection', 'heartbeat'].includes(detected(1)?.cause as string), `cause ${String(detected(1)?.cause)}`);
    assert.ok(detected(2), 'the hung program was detected');
    for (const e of evs.filter((x) => x.event === 'node_started')) {
      assert.equal(e.bind, hostsOf()[e.node as number]!.address, 'each node bound its own host address');
    }
    // The merged log from the store holds every node's events.
    const merged = await new Promise<string>((resolve) => {
      const argv = hostsOf()[0]!.argv([process.execPath, ROLLCALL, 'events', '--store', store, '--job', job]);
      const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('exit', () => resolve(out));
    });
    const mergedEvs = merged.trim().split('\n').map((l) => JSON.parse(l) as Ev);
    assert.deepEqual(new Set(mergedEvs.filter((e) => e.event === 'node_started').map((e) => e.node)), new Set([0, 1, 2, 3, 4, 5]));
    assert.ok(mergedEvs.some((e) => e.event === 'membership_updated' && e.generation === 2), 'both recoveries are in the merged log');
    // No launcher saw every event; the recovery times are computed from the merged log.
    for (const g of [1, 2]) {
      const rec = mergedEvs.find((e) => e.event === 'recovered' && e.generation === g);
      assert.ok(rec && typeof rec.ms === 'number' && rec.ms > 0 && rec.ms < 5000, `recovery of generation ${g}: ${JSON.stringify(rec)}`);
    }
  });

  it('a host cut off from the network: it fences itself, the majority replaces it and finishes bit-identically', async () => {
    const job = `partition-${Date.now()}`;
    const runDir = mkdtempSync(join(dir, 'partition-'));
    const nodes = hostsOf().map((h, i) => startNode(h, i, store, job, runDir));
    running.push(...nodes);
    await waitEvents(nodes, (e) => e.some((x) => x.event === 'version_interval_chosen'), 'training to start');
    const cut = hostsOf()[3]!;
    cut.partition();
    const exits = await Promise.all(nodes.map((n) => n.exit));
    cut.heal();
    const evs = nodes.flatMap((n) => readEvents(n.events));
    assert.equal(exits[3]!.code, 3, `the cut-off node fenced itself: ${nodes[3]!.err}`);
    assert.match(nodes[3]!.err, /could not reach the store|claim on the store expired/);
    for (const i of [0, 1, 2, 4]) {
      assert.equal(exits[i]!.code, 0, `node ${i}: ${nodes[i]!.err}\n${nodes.map((n) => `node ${n.node}: ${n.err}`).join("\n")}`);
      assert.deepEqual(result(nodes[i]!), reference, `node ${i} printed the fault-free result`);
    }
    const updates = evs.filter((e) => e.event === 'membership_updated');
    assert.ok(updates.length >= 1);
    assert.ok(updates.every((u) => u.node !== 3), 'the cut-off node wrote no membership');
    assert.deepEqual(updates[0]!.removed, [3], 'only the cut-off node was removed');
    // Nothing the cut-off node did after the cut reached the job: it made no new generation and
    // resumed in none.
    assert.ok(!evs.some((e) => e.event === 'program_resumed' && e.node === 3));
    // Back on the network and started again, it is refused: it was declared failed, its state is stale.
    const again = startNode(cut, 3, store, job, mkdtempSync(join(dir, 'rejoin-')));
    running.push(again);
    assert.equal((await again.exit).code, 2, again.err);
    assert.match(again.err, /node 3 was declared failed .* cannot rejoin/);
  });
});

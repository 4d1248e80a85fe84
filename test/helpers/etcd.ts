import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { connectEtcdStore } from '../../src/store/etcd-store.js';

/**
 * Real etcd members for tests, from Debian's etcd-server (.ci/run installs it). A machine
 * without the binary fails the test that needs it, loudly, instead of skipping it.
 */
export const ETCD_BIN = process.env.ROLLCALL_ETCD_BIN ?? 'etcd';

export function requireEtcd(): void {
  const r = spawnSync(ETCD_BIN, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`the etcd binary (${ETCD_BIN}) is not available: ${r.error?.message ?? r.stderr}; install Debian's etcd-server (as .ci/run does)`);
  }
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface EtcdMember {
  name: string;
  clientUrl: string;
  /** host:port as the etcd:// URL lists it. */
  endpoint: string;
  proc: ChildProcess | undefined;
  log: string;
}

export interface EtcdCluster {
  /** `etcd://a:p,b:q,…` for openStore. */
  url: string;
  members: EtcdMember[];
  /** The member that is leader now, by asking each member's status. */
  leader(): Promise<EtcdMember>;
  /** SIGKILL one member (it stays down). */
  kill(m: EtcdMember): void;
  /** Compacts history below `revision`. */
  compact(revision: number): Promise<void>;
  stop(): Promise<void>;
}

export interface StartEtcdOptions {
  members?: number;
  /** Address every member listens on and advertises; loopback unless a test made a namespace. */
  host?: string;
  heartbeatMs?: number;
  electionMs?: number;
  /** Wraps the etcd command line, for example to run it inside a network namespace. */
  wrap?: (argv: string[]) => string[];
}

export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  requireEtcd();
  const n = opts.members ?? 1;
  const host = opts.host ?? '127.0.0.1';
  const dir = mkdtempSync(join(tmpdir(), 'rollcall-etcd-'));
  const ports: number[] = [];
  // In a namespace of its own every port is free; on this machine's loopback, ask for free ones.
  for (let i = 0; i < 2 * n; i++) ports.push(opts.wrap ? 2379 + i : await freePort(host));
  const fmt = (p: number): string => `http://${host.includes(':') ? `[${host}]` : host}:${p}`;
  const peers = Array.from({ length: n }, (_, i) => `e${i}=${fmt(ports[2 * i + 1]!)}`).join(',');
  const members: EtcdMember[] = [];
  for (let i = 0; i < n; i++) {
    const clientUrl = fmt(ports[2 * i]!);
    const peerUrl = fmt(ports[2 * i + 1]!);
    const argv = [
      ETCD_BIN,
      '--name', `e${i}`,
      '--data-dir', join(dir, `e${i}`),
      '--listen-client-urls', clientUrl,
      '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', peers,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', `rollcall-test-${process.pid}`,
      '--heartbeat-interval', String(opts.heartbeatMs ?? 100),
      '--election-timeout', String(opts.electionMs ?? 1000),
      '--log-level', 'error',
    ];
    const full = opts.wrap ? opts.wrap(argv) : argv;
    const m: EtcdMember = { name: `e${i}`, clientUrl, endpoint: clientUrl.slice('http://'.length), proc: undefined, log: '' };
    const proc = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => (m.log = (m.log + d.toString()).slice(-4000)));
    proc.on('exit', () => (m.proc = undefined));
    m.proc = proc;
    members.push(m);
  }
  const url = `etcd://${members.map((m) => m.endpoint).join(',')}`;
  const stop = async (): Promise<void> => {
    await Promise.all(
      members.map(
        (m) =>
          new Promise<void>((resolve) => {
            if (!m.proc) return resolve();
            m.proc.once('exit', () => resolve());
            m.proc.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  // Up once a quorum answers a linearizable read; each try has its own deadline. Members in a
  // namespace are out of this process's reach, so etcdctl asks from inside it.
  const probe = async (): Promise<void> => {
    if (!opts.wrap) return void (await (await connectEtcdStore(url, { requestTimeoutMs: 1000 })).close());
    const argv = opts.wrap(['etcdctl', '--endpoints', members.map((m) => m.endpoint).join(','), '--dial-timeout', '1s', 'endpoint', 'health']);
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 5000 });
    if (r.status !== 0) throw new Error(`etcdctl endpoint health: ${r.stderr || r.stdout || r.error?.message}`);
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await probe();
      break;
    } catch (e) {
      if (Date.now() > deadline || members.some((m) => !m.proc)) {
        const logs = members.map((m) => `${m.name}: ${m.log}`).join('\n');
        await stop();
        throw new Error(`etcd did not come up: ${(e as Error).message}\n${logs}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const admin = (m: EtcdMember[] = members): Etcd3 => new Etcd3({ hosts: m.map((x) => x.clientUrl), dialTimeout: 2000 });
  return {
    url,
    members,
    async leader() {
      for (const m of members) {
        if (!m.proc) continue;
        const c = admin([m]);
        try {
          const st = await c.maintenance.status({});
          if (st.leader === st.header.member_id) return m;
        } finally {
          c.close();
        }
      }
      throw new Error('no etcd member says it is the leader');
    },
    kill(m) {
      m.proc?.kill('SIGKILL');
    },
    async compact(revision) {
      const c = admin(members.filter((m) => m.proc));
      try {
        await c.kv.compact({ revision, physical: true });
      } finally {
        c.close();
      }
    },
    stop,
  };
}

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ETCD_BIN, freePort, requireEtcd } from './etcd.js';

/**
 * One etcd member that demands TLS with client certificates and a password: certificates made
 * by `openssl` in a temporary directory, a user `rollcall` allowed to read and write `rollcall/`
 * only, then `auth enable`. A second CA that signed nothing of this member's is made too, for the
 * test of a certificate that does not verify.
 */
export interface SecureEtcd {
  /** `etcds://127.0.0.1:port`. */
  url: string;
  dir: string;
  files: { ca: string; cert: string; key: string; otherCa: string };
  user: string;
  password: string;
  stop(): Promise<void>;
}

function run(argv: string[], what: string, env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 15_000, env: env ?? process.env });
  if (r.error || r.status !== 0) throw new Error(`${what}: ${r.error?.message ?? ''} ${r.stderr ?? ''} ${r.stdout ?? ''}`);
  return r.stdout;
}

/** A CA, and a certificate it signs for `cn` with the given extensions. EC keys: fast to make. */
function makeCerts(dir: string): SecureEtcd['files'] & { serverCert: string; serverKey: string } {
  const p = (f: string): string => join(dir, f);
  const key = (f: string): string => (run(['openssl', 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p(f)], `openssl key ${f}`), p(f));
  for (const ca of ['ca', 'other-ca']) {
    key(`${ca}.key`);
    run(['openssl', 'req', '-x509', '-new', '-key', p(`${ca}.key`), '-out', p(`${ca}.crt`), '-days', '2', '-subj', `/CN=rollcall-test-${ca}`], `openssl ${ca}`);
  }
  const sign = (name: string, cn: string, ext: string): void => {
    key(`${name}.key`);
    run(['openssl', 'req', '-new', '-key', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${cn}`], `openssl csr ${name}`);
    writeFileSync(p(`${name}.ext`), ext);
    run(['openssl', 'x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p(`${name}.crt`), '-days', '2', '-extfile', p(`${name}.ext`)], `openssl sign ${name}`);
  };
  sign('server', 'etcd', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  sign('client', 'rollcall-client', 'extendedKeyUsage=clientAuth\n');
  return { ca: p('ca.crt'), cert: p('client.crt'), key: p('client.key'), otherCa: p('other-ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key') };
}

export async function startSecureEtcd(): Promise<SecureEtcd> {
  requireEtcd();
  const dir = mkdtempSync(join(tmpdir(), 'rollcall-etcd-tls-'));
  const files = makeCerts(dir);
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const clientUrl = `https://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  let log = '';
  let proc: ChildProcess | undefined = spawn(
    ETCD_BIN,
    [
      '--name', 'tls0',
      '--data-dir', join(dir, 'data'),
      '--listen-client-urls', clientUrl,
      '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `tls0=${peerUrl}`,
      '--initial-cluster-state', 'new',
      '--cert-file', files.serverCert,
      '--key-file', files.serverKey,
      '--trusted-ca-file', files.ca,
      '--client-cert-auth',
      '--heartbeat-interval', '100',
      '--election-timeout', '1000',
      '--log-level', 'error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  proc.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  proc.on('exit', () => (proc = undefined));
  const stop = async (): Promise<void> => {
    const p = proc;
    if (p) await new Promise<void>((resolve) => (p.once('exit', () => resolve()), p.kill('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  };
  const ctl = (args: string[], what: string, user?: string): string =>
    run(['etcdctl', '--endpoints', clientUrl, '--cacert', files.ca, '--cert', files.cert, '--key', files.key, '--dial-timeout', '2s', ...(user ? ['--user', user] : []), ...args], what, {
      ...process.env,
      ETCDCTL_API: '3',
    });
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        ctl(['endpoint', 'health'], 'etcdctl endpoint health');
        break;
      } catch (e) {
        if (Date.now() > deadline || !proc) throw new Error(`secure etcd did not come up: ${(e as Error).message}\n${log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const password = 'rollcall-store-password-9f3a';
    ctl(['user', 'add', 'root:root-password-71c2'], 'user add root');
    ctl(['role', 'add', 'rollcall'], 'role add');
    ctl(['role', 'grant-permission', 'rollcall', '--prefix=true', 'readwrite', 'rollcall/'], 'grant');
    ctl(['user', 'add', `rollcall:${password}`], 'user add rollcall');
    ctl(['user', 'grant-role', 'rollcall', 'rollcall'], 'grant-role');
    ctl(['auth', 'enable'], 'auth enable');
    return { url: `etcds://127.0.0.1:${clientPort}`, dir, files, user: 'rollcall', password, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

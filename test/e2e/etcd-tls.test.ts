import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startSecureEtcd, type SecureEtcd } from '../helpers/etcd-tls.js';
import { ROLLCALL, TRAIN_PROGRAM, completedResults, first, runJob, type JobRun } from '../helpers/job.js';
import { openStore } from '../../src/store/open-store.js';

/**
 * `--store etcds://...`: etcd started by the test with TLS (certificates made by openssl in its
 * temporary directory), client certificates required, and password authentication for a user
 * that may touch `rollcall/` only. A job runs through it with a fault, so its recovery too goes
 * through the secured store; a wrong CA and a wrong password each fail before the store's
 * request deadline (5 s) with their typed error.
 */
const STEPS = 40;
const train = ['--', process.execPath, TRAIN_PROGRAM, '--steps', String(STEPS), '--step-ms', '10'];
/** The launcher's store request deadline: failing "fast" means failing well before it. */
const DEADLINE_MS = 5000;

describe('etcd over TLS with a user', { timeout: 240_000 }, () => {
  let etcd: SecureEtcd;
  let tlsFlags: string[];
  let passwordFile: string;
  /** No password in the environment the children inherit, unless a test puts one there. */
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({ ...process.env, ROLLCALL_STORE_PASSWORD: undefined, ...extra });

  before(async () => {
    etcd = await startSecureEtcd();
    tlsFlags = ['--store-ca', etcd.files.ca, '--store-cert', etcd.files.cert, '--store-key', etcd.files.key];
    passwordFile = join(etcd.dir, 'password');
    writeFileSync(passwordFile, `${etcd.password}\n`, { mode: 0o600 });
  });
  after(() => etcd?.stop());

  it('a launch --store etcds:// job with a fault completes, its runtime environment in the secured etcd', async () => {
    const job = `tls-${Date.now()}`;
    const run = await runJob(
      ['--store', etcd.url, ...tlsFlags, '--store-user', etcd.user, '--store-password-file', passwordFile, '--job', job, '--nodes', '2', '--spares', '1', '--chaos', 'kill:node=1@step=15', ...train],
      { env: env(), timeoutMs: 120_000 },
    );
    const { results } = completedResults<{ steps: number }>(run);
    assert.deepEqual(Object.values(results).map((r) => r.steps), [STEPS, STEPS]);
    assert.ok(first(run.events, 'recovered'), 'the fault was recovered through the secured store');
    assert.equal(first(run.events, 'auth_refused'), undefined);
    assert.deepEqual(run.events.filter((e) => e.event === 'fms_error'), []);
    // The job's keys are in this etcd, readable with the same credentials.
    const r = (f: string): string => readFileSync(f, 'utf8');
    const store = await openStore(etcd.url, { access: { ca: r(etcd.files.ca), cert: r(etcd.files.cert), key: r(etcd.files.key), user: etcd.user, password: etcd.password } });
    try {
      const { kvs } = await store.list(`rollcall/${job}/`);
      assert.ok(kvs.some((kv) => kv.key === `rollcall/${job}/membership`), `keys: ${kvs.map((kv) => kv.key).join(', ')}`);
    } finally {
      await store.close();
    }
  });

  /**
   * How long a rollcall process takes here to start, connect with good credentials and exit,
   * measured just before: under load (seen: a load average of 17 on 2 cores) that alone took
   * seconds, which is not time spent waiting on the store's deadline.
   */
  const startupMs = (): number => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [ROLLCALL, 'events', '--store', etcd.url, ...tlsFlags, '--store-user', etcd.user, '--job', 'no-such-job'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: env({ ROLLCALL_STORE_PASSWORD: etcd.password }),
    });
    assert.equal(r.status, 0, r.stderr);
    return Date.now() - t0;
  };

  /** A launch that must fail on the store's credentials without waiting for the request deadline (DEADLINE_MS) on top of its start. */
  const failFast = async (args: string[], extraEnv: Record<string, string>): Promise<{ run: JobRun; ms: number; budget: number }> => {
    const budget = DEADLINE_MS + startupMs();
    const t0 = Date.now();
    const run = await runJob([...args, '--nodes', '2', ...train], { env: env(extraEnv), timeoutMs: 30_000 });
    return { run, ms: Date.now() - t0, budget };
  };

  it('a CA that did not sign the members\' certificates: ERR_TLS naming the verification failure, before the deadline', async () => {
    const { run, ms, budget } = await failFast(['--store', etcd.url, '--store-ca', etcd.files.otherCa, '--store-cert', etcd.files.cert, '--store-key', etcd.files.key, '--store-user', etcd.user], { ROLLCALL_STORE_PASSWORD: etcd.password });
    assert.equal(run.code, 1, run.err);
    assert.match(run.err, /rollcall: ERR_TLS: .*certificate does not verify against the CA given: UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    assert.ok(ms < budget, `failed after ${ms} ms (start-up here and the request deadline: ${budget} ms)`);
    assert.equal(first(run.events, 'program_started'), undefined, 'no program started');
  });

  it('a wrong password (from ROLLCALL_STORE_PASSWORD): ERR_AUTH naming the authentication failure, before the deadline', async () => {
    const { run, ms, budget } = await failFast(['--store', etcd.url, ...tlsFlags, '--store-user', etcd.user], { ROLLCALL_STORE_PASSWORD: 'not-the-password' });
    assert.equal(run.code, 1, run.err);
    assert.match(run.err, /rollcall: ERR_AUTH: .*authentication failed, invalid user ID or password/);
    assert.ok(ms < budget, `failed after ${ms} ms (start-up here and the request deadline: ${budget} ms)`);
  });

  it('no client certificate where the cluster requires one: ERR_TLS saying the member refused it', async () => {
    const { run, ms, budget } = await failFast(['--store', etcd.url, '--store-ca', etcd.files.ca, '--store-user', etcd.user], { ROLLCALL_STORE_PASSWORD: etcd.password });
    assert.equal(run.code, 1, run.err);
    assert.match(run.err, /rollcall: ERR_TLS: .*refused our client certificate \(none was given\)/);
    assert.ok(ms < budget, `failed after ${ms} ms (start-up here and the request deadline: ${budget} ms)`);
  });

  it('`rollcall node` and `rollcall events` take the same flags: good credentials connect, a wrong CA is ERR_TLS', () => {
    const cli = (args: string[], extraEnv: Record<string, string> = {}): { status: number | null; stderr: string } => {
      const r = spawnSync(process.execPath, [ROLLCALL, ...args], { encoding: 'utf8', timeout: 30_000, env: env(extraEnv) });
      return { status: r.status, stderr: r.stderr };
    };
    const events = cli(['events', '--store', etcd.url, ...tlsFlags, '--store-user', etcd.user, '--job', 'no-such-job'], { ROLLCALL_STORE_PASSWORD: etcd.password });
    assert.equal(events.status, 0, events.stderr);
    assert.match(events.stderr, /no events of job no-such-job/);
    const badEvents = cli(['events', '--store', etcd.url, ...tlsFlags, '--store-user', etcd.user, '--store-password-file', join(etcd.dir, 'nope'), '--job', 'x']);
    assert.equal(badEvents.status, 2, 'a password file that cannot be read is a usage error');
    assert.match(badEvents.stderr, /--store-password-file .*nope/);
    const node = cli(
      ['node', '--store', etcd.url, '--store-ca', etcd.files.otherCa, '--store-cert', etcd.files.cert, '--store-key', etcd.files.key, '--store-user', etcd.user, '--store-password-file', passwordFile, '--job', 'tls-node', '--node', '0', '--nodes', '1', ...train],
      { ROLLCALL_SECRET: 'tls-node-secret-0123456789abcdef' },
    );
    assert.equal(node.status, 1, node.stderr);
    assert.match(node.stderr, /ERR_TLS: .*does not verify/);
    const plain = cli(['events', '--store', etcd.url.replace('etcds://', 'etcd://'), ...tlsFlags, '--job', 'x']);
    assert.equal(plain.status, 2);
    assert.match(plain.stderr, /for etcd over TLS only/);
  });
});

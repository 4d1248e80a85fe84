import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, describe, it, type TestContext } from 'node:test';
import { startStoreServer } from '../../src/store/tcp-store-server.js';
import type { ParentMessage, RankConfig, RankMessage } from './fixtures/rank.js';

/**
 * Real rank processes over real TCP, faulted with real signals. The in-memory tests in
 * test/unit simulate death and silence; these check that the kernel's view of a dead or frozen
 * process (RST/FIN, or nothing at all) turns into the typed error on every survivor.
 *
 * Every wait has its own deadline, so a broken fault path fails with a description of what
 * each rank did instead of hanging until the runner's timeout.
 */

const RANK_JS = fileURLToPath(new URL('./fixtures/rank.js', import.meta.url));
const WORLD = 4;
/** Far above any kill-detection bound, so a kill can only pass if it is seen without the timeout. */
const KILL_TUNING = { timeoutMs: 10_000, heartbeatMs: 1_000 };
const STOP_TUNING = { timeoutMs: 1_000, heartbeatMs: 100 };
const KILL_BOUND_MS = 1_000;
const STOP_MARGIN_MS = 1_000;

type ErrorMsg = Extract<RankMessage, { error: unknown }>;

/** Every child ever forked, for the last-resort cleanup in after(). */
const everyChild = new Set<ChildProcess>();
let jobCounter = 0;

class RankProc {
  ready = false;
  lastStep = 0;
  result: ErrorMsg | undefined;
  fatal: string | undefined;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  output = '';
  /** Set by the test when it kills or stops this rank, so its silence is not a failure. */
  faulted = false;

  constructor(
    readonly rank: number,
    readonly child: ChildProcess,
  ) {}

  describe(): string {
    const exit = this.exit ? `exited ${this.exit.code ?? this.exit.signal}` : 'running';
    const res = this.result ? `rejected (comm ${this.result.state}) ${this.result.code} ${JSON.stringify(this.result.failedRanks)} ${this.result.reason}: ${String(this.result.error.message)}` : 'no error';
    const out = this.output.trim() ? `\n    output: ${this.output.trim().slice(-800)}` : '';
    return `rank ${this.rank} (pid ${this.child.pid}): ready=${this.ready} step=${this.lastStep} ${res}, ${exit}${this.fatal ? `, fatal: ${this.fatal}` : ''}${out}`;
  }
}

class Cluster extends EventEmitter {
  readonly ranks: RankProc[] = [];

  constructor(
    store: string,
    secret: string,
    tuning: { timeoutMs: number; heartbeatMs: number },
    mode: RankConfig['mode'],
    readonly waitForGo: boolean,
  ) {
    super();
    const job = `e2e-${process.pid}-${jobCounter++}`;
    // Small ops finish ~100x faster; report progress at a similar wall-clock rate.
    const stepEvery = mode === 'small' ? 500 : 20;
    for (let rank = 0; rank < WORLD; rank++) {
      const child = fork(RANK_JS, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      everyChild.add(child);
      const p = new RankProc(rank, child);
      this.ranks.push(p);
      // Drained so a chatty child never blocks on a full pipe; kept for the failure report.
      child.stdout!.on('data', (d: Buffer) => (p.output += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (p.output += d.toString()));
      child.on('message', (m: RankMessage) => {
        if ('ready' in m) p.ready = true;
        else if ('step' in m) p.lastStep = m.step;
        else if ('error' in m) p.result = m;
        else if ('fatal' in m) p.fatal = m.fatal;
        this.emit('change');
      });
      // 'close', not 'exit': it comes after the IPC channel is drained, so a rank's last report
      // is always seen before its exit.
      child.on('close', (code, signal) => {
        p.exit = { code, signal };
        this.emit('change');
      });
      // A send to a child that died at once would otherwise throw asynchronously.
      child.on('error', (e) => {
        p.fatal ??= `child process error: ${e.message}`;
        this.emit('change');
      });
      send(child, { store, secret, job, rank, world: WORLD, ...tuning, mode, stepEvery, waitForGo, hardExitMs: 20_000 });
    }
  }

  describe(): string {
    return this.ranks.map((r) => `  ${r.describe()}`).join('\n');
  }

  /**
   * Resolves when `done()` holds. Rejects at the deadline, or (if `strict`) at once when a rank
   * reports a fatal error or dies without having reported anything and without being faulted.
   */
  waitUntil(what: string, timeoutMs: number, done: () => boolean, strict = true): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const broken = strict ? this.ranks.find((r) => r.fatal !== undefined || (r.exit && !r.faulted && !r.result)) : undefined;
        if (broken) return finish(new Error(`while waiting for ${what}, rank ${broken.rank} failed:\n${this.describe()}`));
        if (done()) finish();
      };
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${this.describe()}`)), timeoutMs);
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        this.off('change', check);
        if (err) reject(err);
        else resolve();
      };
      this.on('change', check);
      check();
    });
  }

  /** Kills whatever is still running (stopped ones too) and returns the ranks that would not die. */
  async shutdown(): Promise<number[]> {
    for (const r of this.ranks) {
      if (!r.exit) r.child.kill('SIGKILL');
    }
    await this.waitUntil('every rank to exit after SIGKILL', 5_000, () => this.ranks.every((r) => r.exit), false).catch(() => undefined);
    return this.ranks.filter((r) => !r.exit || isAlive(r.child.pid)).map((r) => r.rank);
  }
}

function send(child: ChildProcess, m: ParentMessage): void {
  child.send(m);
}

function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

async function withCluster(
  tuning: { timeoutMs: number; heartbeatMs: number },
  mode: RankConfig['mode'],
  body: (c: Cluster) => Promise<void>,
  waitForGo = true,
): Promise<void> {
  const secret = randomBytes(16).toString('hex');
  const server = await startStoreServer({ host: '127.0.0.1', port: 0, secret });
  let cluster: Cluster | undefined;
  let failure: unknown;
  try {
    cluster = new Cluster(server.address, secret, tuning, mode, waitForGo);
    await body(cluster);
  } catch (e) {
    failure = e;
  }
  const leftover = (await cluster?.shutdown()) ?? [];
  await server.close();
  if (failure !== undefined) throw failure;
  assert.deepEqual(leftover, [], `rank processes still running after the test: ${leftover.join(',')}`);
}

/** Waits until the loop is demonstrably turning: every rank reports a step beyond the furthest seen so far. */
async function startAndRun(c: Cluster): Promise<void> {
  await c.waitUntil('all ranks ready', 15_000, () => c.ranks.every((r) => r.ready));
  if (c.waitForGo) for (const r of c.ranks) send(r.child, { go: true });
  const first = Math.max(...c.ranks.map((r) => r.lastStep));
  await c.waitUntil('allreduce progress on every rank', 15_000, () => c.ranks.every((r) => r.lastStep > first));
}

/** Waits for every survivor's error, then for its clean exit, and returns the errors. */
async function survivorErrors(c: Cluster, victim: number, deadlineMs: number, fault: string): Promise<{ rank: number; err: ErrorMsg }[]> {
  const survivors = c.ranks.filter((r) => r.rank !== victim);
  await c.waitUntil(`every survivor to reject after ${fault} of rank ${victim}`, deadlineMs, () => survivors.every((r) => r.result));
  await c.waitUntil('survivors to exit after reporting', 5_000, () => survivors.every((r) => r.exit));
  for (const r of survivors) assert.equal(r.exit!.code, 0, `rank ${r.rank} should exit 0 after reporting:\n${c.describe()}`);
  return survivors.map((r) => ({ rank: r.rank, err: r.result! }));
}

function logDelays(t: TestContext, label: string, faultAt: number, errs: { rank: number; err: ErrorMsg }[]): number[] {
  const delays = errs.map(({ err }) => err.at - faultAt);
  const detail = errs.map(({ rank, err }) => `r${rank}=${err.at - faultAt}ms/${err.reason}/by${err.detectedBy}`).join(' ');
  t.diagnostic(`${label} delays: max=${Math.max(...delays)}ms ${detail}`);
  return delays;
}

async function killScenario(t: TestContext, mode: RankConfig['mode']): Promise<void> {
  const victim = 2;
  await withCluster(KILL_TUNING, mode, async (c) => {
    await startAndRun(c);
    c.ranks[victim]!.faulted = true;
    const killedAt = Date.now();
    assert.ok(c.ranks[victim]!.child.kill('SIGKILL'), 'SIGKILL could not be sent');
    // The deadline is well below timeoutMs: only reset/EOF detection can meet it.
    const errs = await survivorErrors(c, victim, KILL_BOUND_MS + 3_000, 'SIGKILL');
    const delays = logDelays(t, `SIGKILL ${mode}`, killedAt, errs);
    for (const [i, { rank, err }] of errs.entries()) {
      const ctx = `rank ${rank}: ${JSON.stringify(err)}`;
      assert.equal(err.code, 'ERR_PEER_FAILED', ctx);
      // Exactly the victim: a survivor that tears down its links after the failure must not get
      // itself blamed by another survivor that has not heard of the failure yet.
      assert.deepEqual(err.failedRanks, [victim], ctx);
      assert.equal(err.state, 'broken', ctx);
      assert.ok(['reset', 'closed', 'reported'].includes(err.reason!), ctx);
      assert.notEqual(err.detectedBy, victim, ctx);
      assert.ok(delays[i]! < KILL_BOUND_MS, `${ctx}: rejected ${delays[i]} ms after the kill, bound ${KILL_BOUND_MS} ms`);
    }
    // The kernel told every survivor directly; at least one must have acted on that itself.
    assert.ok(
      errs.some(({ rank, err }) => err.detectedBy === rank),
      `no survivor detected the death itself: ${JSON.stringify(errs)}`,
    );
    // The survivors can report before this process has seen the victim's exit: wait for it.
    await c.waitUntil('the killed rank to exit', 5_000, () => c.ranks[victim]!.exit !== undefined);
    assert.equal(c.ranks[victim]!.exit?.signal, 'SIGKILL');
  });
}

async function stopScenario(t: TestContext, checkResumed: (resumed: RankProc) => void): Promise<void> {
  const victim = 1;
  const { timeoutMs, heartbeatMs } = STOP_TUNING;
  await withCluster(STOP_TUNING, 'large', async (c) => {
    await startAndRun(c);
    const v = c.ranks[victim]!;
    v.faulted = true;
    const stoppedAt = Date.now();
    assert.ok(v.child.kill('SIGSTOP'), 'SIGSTOP could not be sent');
    const errs = await survivorErrors(c, victim, timeoutMs + STOP_MARGIN_MS + 3_000, 'SIGSTOP');
    const delays = logDelays(t, 'SIGSTOP large', stoppedAt, errs);
    for (const [i, { rank, err }] of errs.entries()) {
      const ctx = `rank ${rank}: ${JSON.stringify(err)}`;
      assert.equal(err.code, 'ERR_PEER_FAILED', ctx);
      assert.deepEqual(err.failedRanks, [victim], ctx);
      assert.equal(err.state, 'broken', ctx);
      // Whoever times out first tells the rest; the relayed error keeps the original cause.
      assert.equal(err.reason, 'timeout', ctx);
      // The frozen rank was chatty right up to the stop (data, or a ping every ~2 heartbeats),
      // so declaring it failed well before timeoutMs would be a false positive.
      assert.ok(delays[i]! >= timeoutMs - 4 * heartbeatMs, `${ctx}: declared failed only ${delays[i]} ms after the stop`);
      assert.ok(delays[i]! < timeoutMs + STOP_MARGIN_MS, `${ctx}: rejected ${delays[i]} ms after the stop, bound ${timeoutMs + STOP_MARGIN_MS} ms`);
    }
    assert.ok(
      errs.some(({ rank, err }) => err.detectedBy === rank && err.reason === 'timeout'),
      `no survivor timed the frozen rank out itself: ${JSON.stringify(errs)}`,
    );
    assert.ok(v.child.kill('SIGCONT'), 'SIGCONT could not be sent');
    await c.waitUntil('the resumed rank to reject and exit', 5_000, () => v.exit !== undefined);
    t.diagnostic(`SIGSTOP resumed rank: ${v.describe()}`);
    checkResumed(v);
  });
}

describe('e2e: real rank processes, real signals', { concurrency: false }, () => {
  after(() => {
    for (const ch of everyChild) if (ch.exitCode === null && ch.signalCode === null) ch.kill('SIGKILL');
  });

  it('SIGKILL of a rank mid-allreduce (4 MiB ring): every survivor gets ERR_PEER_FAILED [2] at once', { timeout: 60_000 }, async (t) => {
    await killScenario(t, 'large');
  });

  it('SIGKILL of a rank mid-allreduce (1 MiB halving-doubling): every survivor gets ERR_PEER_FAILED [2] at once', { timeout: 60_000 }, async (t) => {
    await killScenario(t, 'medium');
  });

  it('SIGKILL of a rank mid-allreduce (1 KiB recursive doubling): every survivor gets ERR_PEER_FAILED [2] at once', { timeout: 60_000 }, async (t) => {
    await killScenario(t, 'small');
  });

  it('SIGSTOP of a rank: every survivor times it out, naming it, within timeoutMs + margin', { timeout: 60_000 }, async (t) => {
    await stopScenario(t, (resumed) => {
      // Woken up, the frozen rank finds its links gone: it must fail with a typed error too
      // (its writes fail: that is a peer failure, not a raw socket error), not hang or carry on.
      assert.equal(resumed.exit!.code, 0, resumed.describe());
      assert.equal(resumed.result?.code, 'ERR_PEER_FAILED', resumed.describe());
      assert.equal(resumed.result?.state, 'broken', resumed.describe());
    });
  });

  // Frames that reach a rank between its handshake and the moment its communicator attaches
  // must be kept: a rank whose rendezvous ends first starts the collective at once.
  it('ranks that start collectives as soon as their own rendezvous ends make progress', { timeout: 60_000 }, async () => {
    await withCluster(KILL_TUNING, 'small', async (c) => {
      await c.waitUntil('all ranks ready', 15_000, () => c.ranks.every((r) => r.ready));
      await c.waitUntil('allreduce progress on every rank', 3_000, () => c.ranks.every((r) => r.lastStep > 0));
    }, false);
  });
});

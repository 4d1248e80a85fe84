import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CorruptionDetectedError, CorruptionUnresolvedError, InvalidArgumentError, MembershipChangedError, NoCommonStateError } from '../../src/errors.js';
import { newProgramStats } from '../../src/protocol/program-ipc.js';
import { voteOnDigests } from '../../src/sdk/digest-vote.js';
import { SnapshotPool } from '../../src/sdk/snapshot-pool.js';
import { replicatedNames, State, type Keeper, type StateHost, type StateOptions } from '../../src/sdk/state.js';
import { chooseVerifyPlan, EXCHANGE_ALLOWANCE_MS, VERIFY_COST_SHARE } from '../../src/sdk/state-verifier.js';
import { MAX_EVERY, retained } from '../../src/state/replica-cadence.js';
import { replicaPeers } from '../../src/state/replica-peers.js';
import type { StateVersion } from '../../src/state/version-format.js';

/**
 * State declared replicated: the digest vote, the rollback to the version whose digests last
 * agreed, restore from any member, and where replicas go. Members run in one process; their
 * allreduces and Rollcall's own exchanges meet in one sequence per generation, as they do on one
 * proxy, and a member whose calls go out of step with the others' fails the test.
 */
type Op = 'max' | 'min' | 'sum';

class Generation {
  private readonly rounds = new Map<number, { op: Op; len: number; bufs: Float64Array[]; done: ((r: Float64Array) => void)[]; fail: ((e: Error) => void)[] }>();
  private readonly calls = new Map<number, number>();
  /** Allreduces and exchanges issued, per member. */
  count(rank: number): number {
    return this.calls.get(rank) ?? 0;
  }
  constructor(
    readonly n: number,
    readonly number = 0,
  ) {}

  call(rank: number, buf: Float64Array, op: Op): Promise<Float64Array> {
    const i = this.count(rank);
    this.calls.set(rank, i + 1);
    return new Promise((resolve, reject) => {
      let r = this.rounds.get(i);
      if (!r) this.rounds.set(i, (r = { op, len: buf.length, bufs: [], done: [], fail: [] }));
      if (r.op !== op || r.len !== buf.length) return reject(new Error(`collective ${i}: rank ${rank} calls ${op}[${buf.length}], others ${r.op}[${r.len}]`));
      r.bufs.push(Float64Array.from(buf));
      r.done.push(resolve);
      r.fail.push(reject);
      if (r.bufs.length === this.n) {
        const f = op === 'max' ? Math.max : op === 'min' ? Math.min : (a: number, b: number) => a + b;
        const out = r.bufs.reduce((a, b) => a.map((v, j) => f(v, b[j] as number)));
        for (const d of r.done) d(Float64Array.from(out));
      }
    });
  }

  /** A fault: every call waiting fails, as the program's would on a broken communicator. */
  break(): void {
    for (const r of this.rounds.values()) if (r.bufs.length < this.n) for (const f of r.fail) f(new MembershipChangedError(this.number + 1, 0, this.n));
  }
}

/** A node's keeper in memory, holding every version; `any` fetches look through every keeper of the job. */
class FakeKeeper {
  readonly buffers = new SnapshotPool();
  readonly ready = Promise.resolve();
  readonly held = new Map<number, StateVersion>();
  readonly pacing = { keep: 3, base: 10, targetMs: undefined, versionMs: undefined, versionEvery: 1 };
  pinned: number[] = [];
  constructor(private readonly all: FakeKeeper[]) {
    all.push(this);
  }
  setCadence(): void {}
  peers(): void {}
  pin(v: number[]): void {
    this.pinned = v;
  }
  due(): boolean {
    return true;
  }
  commit(m: { meta: StateVersion['meta']; data: Uint8Array[] }): void {
    this.held.set(m.meta.version, { meta: m.meta, data: m.data.map((d) => Uint8Array.from(d)) });
  }
  post(): void {}
  request(m: { type: string; version?: number; after?: number; any?: boolean }): Promise<unknown> {
    if (m.type === 'list') return Promise.resolve({ versions: [...this.held.values()].map((v) => ({ version: v.meta.version, step: v.meta.step })) });
    if (m.type === 'fetch') {
      const own = this.held.get(m.version as number);
      const v = own ?? (m.any ? this.all.map((k) => k.held.get(m.version as number)).find((x) => x) : undefined);
      // As the real keeper: another member's copy of state replicated in full is held as this slot's from now on.
      if (v && !own) this.held.set(v.meta.version, v);
      return v ? Promise.resolve({ version: v }) : Promise.reject(new Error(`version ${m.version} not held`));
    }
    if (m.type === 'truncate') for (const v of [...this.held.keys()]) if (v > (m.after as number)) this.held.delete(v);
    return Promise.resolve({});
  }
}

const N = 8;
interface Member {
  s: State<{ weights: Float32Array; data: { position: number } }>;
  keeper: FakeKeeper;
  rank: number;
  /** Set when the member asked its FMS to fail it. */
  failed?: string;
}

/** A job: members' hosts follow `gen`, which a test replaces to make the next generation. */
class Job {
  gen: Generation;
  readonly keepers: FakeKeeper[] = [];
  readonly events: { event: string; fields: Record<string, unknown> }[] = [];
  constructor(
    n: number,
    /** Spares in the record, as every member's host reports them. */
    public spares = 0,
  ) {
    this.gen = new Generation(n);
  }

  member(rank: number, opts: StateOptions = { replicated: true }, verifyEvery: number | undefined = 5): Member {
    const keeper = new FakeKeeper(this.keepers);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const job = this;
    const m = { rank } as Member;
    const host: StateHost = {
      node: rank,
      slot: rank,
      get generation() {
        return job.gen.number;
      },
      get rank() {
        return m.rank;
      },
      get world() {
        return job.gen.n;
      },
      buddies: [],
      get spares() {
        return job.spares;
      },
      stats: newProgramStats(),
      verifyEvery,
      allreduce: <T extends Float64Array | Int32Array>(buf: T, op: Op) => job.gen.call(m.rank, Float64Array.from(buf), op) as unknown as Promise<T>,
      exchange: (buf, op) => job.gen.call(m.rank, buf, op),
      now: () => 0,
      report: (event, fields) => job.events.push({ event, fields: fields as Record<string, unknown> }),
      resumed: () => undefined,
      failCorrupt: (detail) => {
        m.failed = detail;
        return new Promise<never>(() => undefined);
      },
    };
    m.keeper = keeper;
    m.s = new State({ weights: new Float32Array(new SharedArrayBuffer(N * 4)).fill(0.5), data: { position: 0 } }, host, keeper as unknown as Keeper, opts);
    return m;
  }
}

/** One data-parallel step on every member: a gradient from the weights and the rank, averaged, applied, committed. */
async function step(job: Job, ms: Member[], flip?: Member): Promise<void> {
  const grads = ms.map((m) => {
    const w = m.s.values.weights;
    return Float64Array.from(w, (x, i) => Math.sin(x * 3 + m.s.values.data.position * 0.01 + m.rank * 0.1 + i * 1e-3));
  });
  const sums = await Promise.all(ms.map((m, i) => job.gen.call(m.rank, grads[i] as Float64Array, 'sum')));
  if (flip) flip.s.corruptNextCommit();
  ms.forEach((m, i) => {
    const w = m.s.values.weights;
    const g = sums[i] as Float64Array;
    for (let j = 0; j < N; j++) w[j] = (w[j] as number) - (0.05 * (g[j] as number)) / ms.length;
    m.s.values.data = { position: m.s.values.data.position + 1 };
    m.s.step += 1;
  });
  // Every member commits; a commit that finds a disagreement throws on every member alike.
  const thrown = ms.map((m) => {
    try {
      m.s.commit();
      return undefined;
    } catch (e) {
      return e;
    }
  });
  if (thrown.some((e) => e !== undefined)) {
    assert.ok(thrown.every((e) => e instanceof CorruptionDetectedError), `every member throws at the same commit: ${thrown.map(String).join(' | ')}`);
    throw thrown[0];
  }
}

/** Steps until `to`, syncing after a CorruptionDetectedError as Job.run() does; the flip goes in at step `flipAt`. */
async function train(job: Job, ms: Member[], to: number, flips: { at: number; m: Member }[] = []): Promise<number> {
  let detections = 0;
  const pending = [...flips];
  for (;;) {
    try {
      while ((ms[0] as Member).s.step < to) {
        const s = (ms[0] as Member).s.step + 1;
        const i = pending.findIndex((f) => f.at === s);
        const flip = i >= 0 ? pending.splice(i, 1)[0]?.m : undefined;
        await step(job, ms, flip);
      }
      return detections;
    } catch (e) {
      if (!(e instanceof CorruptionDetectedError)) throw e;
      detections++;
      await syncAll(job, ms);
    }
  }
}

async function syncAll(job: Job, ms: Member[]): Promise<void> {
  await Promise.all(ms.map((m) => m.s.sync()));
}

/** A job of `n` members (and `spares` in its record) past its first sync. */
async function started(n: number, spares = 0): Promise<{ job: Job; ms: Member[] }> {
  const job = new Job(n, spares);
  const ms = Array.from({ length: n }, (_, r) => job.member(r));
  await syncAll(job, ms);
  return { job, ms };
}

/** The same job without faults, trained to `steps`: what a recovered one must end as. */
async function faultFree(n: number, steps = 30): Promise<Member[]> {
  const { job, ms } = await started(n);
  await train(job, ms, steps);
  return ms;
}

function weightsOf(m: Member): number[] {
  return [...m.s.values.weights];
}

describe('registerState({ replicated })', () => {
  it('true declares every entry; a list declares those named; an unknown name is a clear error', () => {
    assert.deepEqual(replicatedNames(['params', 'adamM', 'meta'], true), ['params', 'adamM', 'meta']);
    assert.deepEqual(replicatedNames(['params', 'adamM', 'meta'], ['adamM', 'params']), ['params', 'adamM']);
    assert.deepEqual(replicatedNames(['params'], undefined), []);
    assert.throws(() => replicatedNames(['params', 'adamM'], ['params', 'adamV']), (e: Error) => e instanceof InvalidArgumentError && /"adamV".*entries: params, adamM/.test(e.message));
    const job = new Job(1);
    assert.throws(() => job.member(0, { replicated: ['weights', 'bias'] }), /"bias"/);
  });
});

describe('the digest vote', () => {
  /** `digests[r]` is rank r's; returns each member's result and the allreduces each made. */
  async function vote(digests: number[]) {
    const g = new Generation(digests.length);
    const rs = await Promise.all(digests.map((d, r) => voteOnDigests(d, digests.length, (b, op) => g.call(r, b, op))));
    return { results: rs, calls: g.count(0) };
  }

  it('one member differs: the majority is found in two rounds, whatever the job size', async () => {
    for (const n of [3, 4, 9, 64]) {
      for (const odd of [7, 1e12]) {
        const digests = Array.from({ length: n }, (_, r) => (r === n - 1 ? odd : 1000));
        const { results, calls } = await vote(digests);
        for (const r of results) assert.equal(r.majority, 1000);
        assert.ok(calls <= 4, `${calls} allreduces at ${n} members`);
      }
    }
  });

  it('no strict majority: none, and every digest with its count', async () => {
    const two = await vote([5, 9]);
    for (const r of two.results) assert.deepEqual(r, { majority: undefined, tallies: [{ digest: 9, members: 1 }, { digest: 5, members: 1 }] });
    const halves = await vote([5, 5, 9, 9]);
    for (const r of halves.results) assert.equal(r.majority, undefined);
  });
});

describe('corruption: the members compare digests and roll back to the version that last agreed', () => {
  it('three members, a bit flipped in one: it alone is failed, the others roll back, and with its replacement the job ends as without the fault', async () => {
    const rm = await faultFree(3);

    const { job, ms } = await started(3);
    // Verified at 5, 10, ...: the flip at step 7 is in version 10, whose disagreement the commit
    // of 15 acts on.
    const before = train(job, ms, 30, [{ at: 7, m: ms[2] as Member }]);
    before.catch(() => undefined);
    // The members come to the sync: member 2 asks to be failed, the others wait for the next generation.
    for (let i = 0; i < 1000 && !ms[2]?.failed; i++) await new Promise((r) => setImmediate(r));
    assert.ok(ms[2]?.failed && /differs from the majority/.test(ms[2].failed), `member 2 failed: ${ms[2]?.failed}`);
    assert.equal(ms[0]?.failed, undefined);
    assert.equal(ms[1]?.failed, undefined);
    const detected = job.events.find((e) => e.event === 'corruption_detected');
    assert.ok(detected, 'corruption_detected');
    assert.equal(detected.fields.version, 10);
    assert.equal(detected.fields.rollback_to, 5);
    assert.equal(detected.fields.action, 'replace');
    assert.deepEqual((detected.fields.digests as { members: number }[]).map((d) => d.members).sort(), [1, 2]);

    // The FMS replaces member 2: a spare with an empty keeper takes its rank and slot.
    job.gen.break();
    await before.catch(() => undefined);
    job.gen = new Generation(3, 1);
    const spare = job.member(2);
    const next = [ms[0] as Member, ms[1] as Member, spare];
    await syncAll(job, next);
    const selected = job.events.filter((e) => e.event === 'common_state_selected').at(-1);
    assert.equal(selected?.fields.version, 5, 'the version whose digests last agreed, though 6-14 are held');
    await train(job, next, 30);
    for (const [i, m] of next.entries()) assert.deepEqual(weightsOf(m), weightsOf(rm[i] as Member), `member ${i} ends as without the fault`);
  });

  it('two members: no majority, so both roll back and recompute; a flip that does not come back ends as without it', async () => {
    const rm = await faultFree(2);

    const { job, ms } = await started(2);
    const detections = await train(job, ms, 30, [{ at: 7, m: ms[1] as Member }]);
    assert.equal(detections, 1);
    assert.deepEqual(
      job.events.filter((e) => e.event === 'corruption_detected').map((e) => [e.fields.action, e.fields.rollback_to]),
      [['retry', 5]],
    );
    assert.equal(ms[1]?.failed, undefined, 'nobody failed');
    for (const [i, m] of ms.entries()) assert.deepEqual(weightsOf(m), weightsOf(rm[i] as Member));
  });

  it('two members and no spare, the same corruption again after the retry: the job ends, saying nothing tells which member is wrong', async () => {
    const { job, ms } = await started(2);
    const run = train(job, ms, 30, [
      { at: 7, m: ms[1] as Member },
      // Step 7 again, after the rollback to 5.
      { at: 7, m: ms[1] as Member },
    ]);
    await assert.rejects(run, (e: Error) => e instanceof CorruptionUnresolvedError && /no majority, a second time since version 5 .*: no spare to tell which member is corrupt/.test(e.message));
    assert.deepEqual(
      job.events.filter((e) => e.event === 'corruption_detected').map((e) => e.fields.action),
      ['retry', 'fail_job'],
    );
  });

  /** Until `cond` holds, a turn of the event loop at a time (the members' calls are promises, no timers). */
  async function turnsUntil(what: string, cond: () => boolean): Promise<void> {
    for (let i = 0; i < 5000 && !cond(); i++) await new Promise((r) => setImmediate(r));
    assert.ok(cond(), what);
  }

  /** The FMS's part: the member that asked to be failed is replaced by a spare in its rank and slot, in the next generation. */
  async function replace(job: Job, ms: Member[], running: Promise<unknown>, rank: number): Promise<Member[]> {
    job.gen.break();
    await running.catch(() => undefined);
    job.spares--;
    job.gen = new Generation(ms.length, job.gen.number + 1);
    const next = [...ms];
    next[rank] = job.member(rank);
    await syncAll(job, next);
    return next;
  }

  const actions = (job: Job): unknown[] => job.events.filter((e) => e.event === 'corruption_detected').map((e) => e.fields.action);

  it('two members and a spare, the corruption back on rank 1 after the retry: rank 1 steps out, rank 0 and the spare agree, and the job ends as without the fault', async () => {
    const rm = await faultFree(2);

    const { job, ms } = await started(2, 1);
    const running = train(job, ms, 30, [
      { at: 7, m: ms[1] as Member },
      { at: 7, m: ms[1] as Member },
    ]);
    running.catch(() => undefined);
    await turnsUntil('rank 1 asked to step out', () => ms[1]?.failed !== undefined);
    assert.match(ms[1]!.failed!, /differs from its partner's a second time since version 5: this member steps out so that a spare can tell/);
    assert.equal(ms[0]?.failed, undefined);
    assert.deepEqual(actions(job), ['retry', 'arbitrate']);

    const next = await replace(job, ms, running, 1);
    assert.equal(job.events.filter((e) => e.event === 'common_state_selected').at(-1)?.fields.version, 5);
    await train(job, next, 30);
    assert.deepEqual(actions(job), ['retry', 'arbitrate'], 'rank 0 and the spare agree');
    for (const [i, m] of next.entries()) assert.deepEqual(weightsOf(m), weightsOf(rm[i] as Member), `member ${i} ends as without the fault`);
  });

  it('two members and two spares, the corruption back on rank 0: rank 1 steps out (a guess), rank 0 disagrees with the spare too and is failed, and the job ends as without the fault', async () => {
    const rm = await faultFree(2);

    const { job, ms } = await started(2, 2);
    let running = train(job, ms, 30, [
      { at: 7, m: ms[0] as Member },
      { at: 7, m: ms[0] as Member },
    ]);
    running.catch(() => undefined);
    await turnsUntil('rank 1 asked to step out', () => ms[1]?.failed !== undefined);
    let next = await replace(job, ms, running, 1);

    running = train(job, next, 30, [{ at: 7, m: next[0] as Member }]);
    running.catch(() => undefined);
    await turnsUntil('rank 0 failed', () => next[0]?.failed !== undefined);
    assert.match(next[0]!.failed!, /differs from its partner's again since version 5, as it did with the partner that stepped out/);
    assert.equal(next[1]?.failed, undefined, 'the spare is not blamed');
    assert.deepEqual(actions(job), ['retry', 'arbitrate', 'replace']);

    next = await replace(job, next, running, 0);
    await train(job, next, 30);
    assert.equal(actions(job).length, 3, 'the two spares agree');
    for (const [i, m] of next.entries()) assert.deepEqual(weightsOf(m), weightsOf(rm[i] as Member), `member ${i} ends as without the fault`);
  });

  it('members that start from different values of state declared replicated: the first sync ends the job saying so, on every member', async () => {
    const job = new Job(3);
    const ms = [0, 1, 2].map((r) => job.member(r));
    ms[2]!.s.values.weights[3] = 0.25;
    const results = await Promise.allSettled(ms.map((m) => m.s.sync()));
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(r.reason instanceof CorruptionUnresolvedError && /initial values of the state declared replicated differ/.test((r.reason as Error).message), String(r.reason));
    }
  });

  it('a flip due at the initial commit goes into the state after version 0, never into it: the rollback to 0 undoes it', async () => {
    const rm = await faultFree(2);
    const job = new Job(2);
    const ms = [0, 1].map((r) => job.member(r));
    ms[1]!.s.corruptNextCommit();
    await syncAll(job, ms);
    assert.equal(await train(job, ms, 30), 1, 'found at the first comparison');
    assert.deepEqual(job.events.filter((e) => e.event === 'corruption_detected').map((e) => [e.fields.action, e.fields.rollback_to]), [['retry', 0]]);
    for (const [i, m] of ms.entries()) assert.deepEqual(weightsOf(m), weightsOf(rm[i] as Member));
  });

  it('the versions being compared and the agreed one are pinned: the keepers keep them whatever their age', async () => {
    const { job, ms } = await started(2);
    await train(job, ms, 12);
    // Verified at 5 and 10; 10 answered by now (a step's collective went by since).
    assert.deepEqual(ms[0]?.keeper.pinned, [10]);
    assert.deepEqual([...retained([4, 5, 9, 10, 11, 12, 13], { keep: 2, base: 100, every: 100, pinned: [5] })].sort((a, b) => a - b), [5, 12, 13]);
  });
});

describe('the default verification cadence', () => {
  it('costs at most 0.25 % of the step time, at least a second apart, and starts a whole interval after the exchange', () => {
    for (const stepMs of [0.5, 2, 7, 40, 300, 5000]) {
      for (const digestMs of [0, 0.2, 3, 50]) {
        const exchangedAt = 30;
        const p = chooseVerifyPlan(10, stepMs, 1000, digestMs, exchangedAt);
        const capped = p.every === MAX_EVERY;
        assert.ok(capped || (digestMs + EXCHANGE_ALLOWANCE_MS) / (p.every * stepMs) <= VERIFY_COST_SHARE, JSON.stringify({ stepMs, digestMs, p }));
        assert.ok(capped || p.every * stepMs >= 1000, JSON.stringify({ stepMs, p }));
        // The smallest such: half the interval would be too often.
        assert.ok(p.every === 10 || (p.every / 2) * stepMs < Math.max(1000, (digestMs + EXCHANGE_ALLOWANCE_MS) / VERIFY_COST_SHARE), JSON.stringify({ stepMs, digestMs, p }));
        assert.ok(p.from % p.every === 0 && p.from > exchangedAt + p.every, JSON.stringify(p));
      }
    }
  });
});

describe('double faults: replicated state from any member, the rest at K peers', () => {
  it('a node lost with every copy of its own versions: state declared replicated comes from any member', async () => {
    const job = new Job(3);
    const ms = [0, 1, 2].map((r) => job.member(r, { replicated: true }, 0));
    await syncAll(job, ms);
    await train(job, ms, 9);
    job.gen = new Generation(3, 1);
    // Node 2 and every copy of its slot gone (its buddies' replicas too): the spare holds nothing.
    const spare = job.member(2, { replicated: true }, 0);
    const next = [ms[0] as Member, ms[1] as Member, spare];
    await syncAll(job, next);
    assert.equal(spare.s.version, 9);
    assert.deepEqual(weightsOf(spare), weightsOf(ms[0] as Member));
  });

  it('the same loss with state not declared replicated: no common state, a NoCommonStateError on every member', async () => {
    const job = new Job(3);
    const ms = [0, 1, 2].map((r) => job.member(r, { replicated: ['weights'] }, 0));
    await syncAll(job, ms);
    await train(job, ms, 9);
    job.gen = new Generation(3, 1);
    const spare = job.member(2, { replicated: ['weights'] }, 0);
    const r = await Promise.allSettled([ms[0] as Member, ms[1] as Member, spare].map((m) => m.s.sync()));
    for (const x of r) assert.ok(x.status === 'rejected' && x.reason instanceof NoCommonStateError, String(x.status === 'rejected' ? x.reason : 'resolved'));
  });

  it('a node lost with its version 0 before it left the node, nothing newer committed: the others restore theirs, its replacement makes its own, and the job ends as without the fault', async () => {
    const job = new Job(3);
    const ms = [0, 1, 2].map((r) => job.member(r, { replicated: ['weights'] }, 0));
    await syncAll(job, ms);
    // The first step is under way on the survivors (their values changed, nothing committed) when
    // node 2 is lost with every copy of its version 0: its spare, new to the job, holds nothing.
    for (const m of ms.slice(0, 2)) m.s.values.weights.fill(9);
    job.gen = new Generation(3, 1);
    const spare = job.member(2, { replicated: ['weights'] }, 0);
    const next = [ms[0] as Member, ms[1] as Member, spare];
    await syncAll(job, next);
    assert.deepEqual(next.map((m) => m.s.version), [0, 0, 0]);
    assert.ok(job.events.some((e) => e.event === 'common_state_selected' && e.fields.version === 0 && e.fields.generation === 1));
    await train(job, next, 30);
    const reference = await faultFree(3);
    for (const [i, m] of next.entries()) assert.deepEqual(weightsOf(m), weightsOf(reference[i] as Member), `rank ${i}`);
  });

  it('the same loss once a member has gone past version 0: no start again, a NoCommonStateError on every member', async () => {
    const job = new Job(3);
    const ms = [0, 1, 2].map((r) => job.member(r, { replicated: ['weights'] }, 0));
    await syncAll(job, ms);
    await train(job, ms, 3);
    job.gen = new Generation(3, 1);
    // Node 2's versions are all lost, and its replacement is not new to the job: a member that
    // restored or committed before (here one that lost its own slot's files) must not restart.
    const spare = job.member(2, { replicated: ['weights'] }, 0);
    spare.s.commits = 5;
    for (const m of ms.slice(0, 2)) for (const v of [...m.keeper.held.keys()]) if (v > 0) m.keeper.held.delete(v);
    const r = await Promise.allSettled([ms[0] as Member, ms[1] as Member, spare].map((m) => m.s.sync()));
    for (const x of r) assert.ok(x.status === 'rejected' && x.reason instanceof NoCommonStateError, String(x.status === 'rejected' ? x.reason : 'resolved'));
  });

  it('replicas at the next K members: with K = 2 any two nodes lost at once leave every lost slot a replica', () => {
    assert.deepEqual(replicaPeers([10, 11, 12, 13, 14], 4, 2), [10, 11]);
    assert.deepEqual(replicaPeers([10, 11], 0, 2), [11], 'fewer peers than K: every other member');
    assert.deepEqual(replicaPeers([10], 0, 2), []);
    const survives = (members: number[], k: number): boolean => {
      for (const a of members) {
        for (const b of members) {
          if (a === b) continue;
          for (const lost of [a, b]) {
            const holders = replicaPeers(members, members.indexOf(lost), k);
            if (!holders.some((h) => h !== a && h !== b)) return false;
          }
        }
      }
      return true;
    };
    for (let n = 3; n <= 9; n++) {
      const members = Array.from({ length: n }, (_, i) => i);
      assert.ok(survives(members, 2), `K=2, ${n} members`);
      assert.ok(!survives(members, 1), `K=1 loses a slot when two adjacent members go (${n} members)`);
    }
  });
});

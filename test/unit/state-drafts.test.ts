import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidArgumentError } from '../../src/errors.js';
import { SnapshotPool } from '../../src/sdk/snapshot-pool.js';
import { State, type Keeper, type StateHost } from '../../src/sdk/state.js';
import { newProgramStats } from '../../src/protocol/program-ipc.js';
import type { StateVersion } from '../../src/state/version-format.js';

/**
 * The keeper as the program's side sees it, in memory: it holds the newest `keep` versions and
 * gives their buffers back to the pool when it forgets them, as the real one does.
 */
class FakeKeeper {
  readonly buffers = new SnapshotPool();
  readonly ready = Promise.resolve();
  readonly held = new Map<number, StateVersion>();
  /** What each held version's bytes were at its commit: a buffer reused too early changes them. */
  readonly expected = new Map<number, number[][]>();
  readonly pacing: { keep: number; base: number; targetMs: number | undefined; versionMs: number | undefined; versionEvery: number };
  /** Buffers taken from the pool: a commit that makes no version takes none. */
  taken = 0;
  /** Takes the pool could not serve: new shared memory, which costs ten times a copy. */
  allocated = 0;
  constructor(
    private readonly keep: number,
    /** Commits that make a version: every Nth, as a chosen cadence would. */
    private readonly versionEvery = 1,
  ) {
    this.pacing = { keep, base: 10, targetMs: undefined, versionMs: undefined, versionEvery };
    const take = this.buffers.take.bind(this.buffers);
    this.buffers.take = (bytes) => {
      this.taken++;
      const free = (this.buffers as unknown as { free: Map<number, unknown[]> }).free.get(bytes)?.length ?? 0;
      if (free === 0) this.allocated++;
      return take(bytes);
    };
  }

  setCadence(): void {}
  peers(): void {}

  pin(): void {}

  due(c: number): boolean {
    return c % this.versionEvery === 0;
  }

  commit(m: { meta: StateVersion['meta']; data: Uint8Array[] }): void {
    this.held.set(m.meta.version, { meta: m.meta, data: m.data });
    this.expected.set(m.meta.version, m.data.map((d) => [...d]));
    for (const v of [...this.held.keys()].sort((a, b) => a - b).slice(0, -this.keep)) this.forget(v);
  }

  forget(v: number): void {
    const sv = this.held.get(v) as StateVersion;
    this.assertIntact(v);
    this.held.delete(v);
    this.expected.delete(v);
    for (const d of sv.data) this.buffers.give(v, d);
  }

  assertIntact(v: number): void {
    const sv = this.held.get(v) as StateVersion;
    assert.deepEqual(sv.data.map((d) => [...d]), this.expected.get(v), `version ${v} changed after its commit`);
  }

  post(): void {}

  request(m: { type: string; version?: number; after?: number }): Promise<unknown> {
    if (m.type === 'list') return Promise.resolve({ versions: [...this.held.values()].map((v) => ({ version: v.meta.version, step: v.meta.step })) });
    if (m.type === 'fetch') return Promise.resolve({ version: this.held.get(m.version as number) });
    if (m.type === 'durable') return Promise.resolve({});
    for (const v of [...this.held.keys()]) if (v > (m.after as number)) this.forget(v);
    return Promise.resolve({});
  }
}

/** A world of one: the reductions of the common-state selection return their input. */
const host: StateHost = {
  node: 0,
  stats: newProgramStats(),
  generation: 0,
  rank: 0,
  slot: 0,
  world: 1,
  buddies: [],
  verifyEvery: undefined,
  failCorrupt: () => Promise.reject(new Error('no corruption expected')),
  allreduce: (buf) => Promise.resolve(buf),
  exchange: (buf) => Promise.resolve(buf),
  now: () => 0,
  report: () => undefined,
  resumed: () => undefined,
};

function state(keep = 3, n = 8, versionEvery = 1) {
  const keeper = new FakeKeeper(keep, versionEvery);
  // Two entries of one byte size, with different contents: a buffer reused while the program
  // reads it shows up as the other entry's bytes in what it reads.
  const s = new State({ weights: new Float32Array(new SharedArrayBuffer(n * 4)).fill(1), moments: new Float64Array(n / 2).fill(7), data: { position: 0 } }, host, keeper as unknown as Keeper);
  return { s, keeper };
}

describe('state drafts: commits without a copy', () => {
  it('the commit takes the draft itself as the version, and makes it the current value', () => {
    const { s, keeper } = state();
    const before = s.values.weights;
    const d = s.draft('weights');
    assert.equal(s.draft('weights'), d, 'the same draft until the commit');
    assert.notEqual(d, before);
    d.fill(2);
    s.step = 1;
    const v = s.commit();
    assert.equal(s.values.weights, d);
    const held = keeper.held.get(v) as StateVersion;
    assert.equal(held.data[0]?.buffer, d.buffer, 'no copy: the version holds the draft');
    // The entry not drafted is copied, as before.
    assert.notEqual(held.data[1]?.buffer, s.values.moments.buffer);
    assert.notEqual(s.draft('weights'), d, 'a new draft after the commit');
  });

  it('drafts are for registered typed arrays only', () => {
    const { s } = state();
    // Both are compile errors too; a program in JavaScript gets the error at run time.
    assert.throws(() => (s as unknown as State<Record<string, Float32Array>>).draft('data'), InvalidArgumentError);
    assert.throws(() => (s as unknown as State<Record<string, Float32Array>>).draft('nope'), InvalidArgumentError);
  });

  it('a commit that fails on a bad entry adopts no draft', () => {
    const { s, keeper } = state();
    const before = s.values.weights;
    s.draft('weights').fill(5);
    (s.values as Record<string, unknown>).moments = new Uint8Array(32);
    assert.throws(() => s.commit(), InvalidArgumentError);
    assert.equal(s.values.weights, before);
    assert.equal(keeper.held.size, 0);
  });

  it('no buffer is reused while a held version or the program still reads it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }), (keep, every, drafts) => {
        const { s, keeper } = state(keep, 8, every);
        s.commit();
        drafts.forEach((drafted, i) => {
          const cur = s.values.weights;
          if (drafted) {
            const d = s.draft('weights');
            for (let j = 0; j < d.length; j++) d[j] = (cur[j] as number) + i + 1;
          }
          const seen = [...cur];
          s.step += 1;
          s.commit();
          // What the program reads was not written by anyone but itself.
          if (!drafted) assert.deepEqual([...s.values.weights], seen);
          for (const v of keeper.held.keys()) keeper.assertIntact(v);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('a rollback restores into a new array: the drafted one belongs to a version', async () => {
    const { s, keeper } = state(3);
    s.commit();
    for (let i = 1; i <= 3; i++) {
      const d = s.draft('weights');
      d.fill(10 * i);
      s.step = i;
      s.commit();
    }
    // Version 3 is lost (as if corrupt everywhere): the common one is 2.
    keeper.held.delete(3);
    const adopted = s.values.weights;
    await s.sync();
    assert.equal(s.version, 2);
    assert.equal(s.step, 2);
    assert.notEqual(s.values.weights, adopted);
    assert.notEqual(s.values.weights.buffer, keeper.held.get(2)?.data[0]?.buffer);
    assert.deepEqual([...s.values.weights], new Array(8).fill(20));
    keeper.assertIntact(2);
    // And the loop goes on with drafts from there.
    s.draft('weights').fill(30);
    s.step = 3;
    s.commit();
    assert.deepEqual([...s.values.weights], new Array(8).fill(30));
    keeper.assertIntact(2);
  });

  it('a commit that makes no version copies nothing, and its draft becomes the current value', () => {
    const { s, keeper } = state(3, 8, 4);
    s.commit(); // version 0
    const taken = keeper.taken;
    for (let i = 1; i <= 3; i++) {
      const d = s.draft('weights');
      d.fill(i);
      s.step = i;
      assert.equal(s.commit(), i);
      assert.equal(s.values.weights, d);
    }
    assert.deepEqual([...keeper.held.keys()], [0], 'commits 1-3 made no version');
    assert.equal(s.version, 0);
    // Two arrays take turns as draft and current value: after the first, no new buffer.
    assert.ok(keeper.taken - taken <= 2, `${keeper.taken - taken} buffers taken by three commits without a version`);
    s.step = 4;
    assert.equal(s.commit(), 4);
    assert.deepEqual([...keeper.held.keys()], [0, 4]);
    assert.deepEqual([...(keeper.held.get(4)?.data[0] as Uint8Array)], [...new Uint8Array(new Float32Array(8).fill(3).buffer)]);
  });

  it('drafts every step, a version every 4th: after a warm-up no new memory, the arrays go round', () => {
    const { s, keeper } = state(2, 8, 4);
    s.commit();
    const run = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const cur = s.values.weights;
        const d = s.draft('weights');
        for (let j = 0; j < d.length; j++) d[j] = (cur[j] as number) + 1;
        s.step += 1;
        s.commit();
      }
    };
    run(20);
    const warm = keeper.allocated;
    run(80);
    assert.equal(keeper.allocated, warm, `${keeper.allocated - warm} new buffers in 80 commits`);
    assert.deepEqual([...s.values.weights], new Array(8).fill(101));
  });
});

/**
 * Members of one job, each with its own state and keeper, whose allreduces meet: the search for
 * the newest common version runs the same rounds on every member.
 */
function group(n: number, versionEvery: number) {
  const rounds = new Map<number, { bufs: Float64Array[]; done: ((r: Float64Array) => void)[] }>();
  const members = Array.from({ length: n }, (_, rank) => {
    let calls = 0;
    const h: StateHost = {
      ...host,
      node: rank,
      rank,
      slot: rank,
      allreduce: <T extends Float64Array | Int32Array>(buf: T, op: 'max' | 'min'): Promise<T> =>
        new Promise((resolve) => {
          const i = calls++;
          let r = rounds.get(i);
          if (!r) rounds.set(i, (r = { bufs: [], done: [] }));
          r.bufs.push(Float64Array.from(buf));
          r.done.push((x) => resolve((buf instanceof Int32Array ? Int32Array.from(x) : x) as T));
          if (r.bufs.length === n) {
            const out = r.bufs.reduce((a, b) => a.map((v, j) => (op === 'max' ? Math.max(v, b[j] as number) : Math.min(v, b[j] as number))));
            for (const d of r.done) d(out);
          }
        }),
    };
    const keeper = new FakeKeeper(10, versionEvery);
    return { keeper, s: new State({ weights: new Float32Array(new SharedArrayBuffer(16)) }, h, keeper as unknown as Keeper) };
  });
  return members;
}

describe('state: the newest common version, with versions numbered by commit', () => {
  it('every member agrees on the newest version all of them hold, however sparse their versions', async () => {
    const g = group(3, 4);
    await Promise.all(g.map((m) => m.s.sync()));
    for (let c = 1; c <= 20; c++) {
      for (const m of g) {
        m.s.step = c;
        m.s.commit();
      }
    }
    // Held: 0, 4, ..., 20 everywhere; then member 1 lost 20 and 16, member 2 lost 12.
    g[1]?.keeper.held.delete(20);
    g[1]?.keeper.held.delete(16);
    g[2]?.keeper.held.delete(12);
    await Promise.all(g.map((m) => m.s.sync()));
    for (const m of g) {
      assert.equal(m.s.version, 8);
      assert.equal(m.s.step, 8);
      assert.equal(m.s.commits, 8, 'commits count on from the restored version');
    }
  });

  it('no version in common: every member gets NoCommonStateError, none hangs', async () => {
    const g = group(2, 1);
    await Promise.all(g.map((m) => m.s.sync()));
    for (const m of g) {
      m.s.step = 1;
      m.s.commit();
    }
    g[0]?.keeper.held.delete(1);
    g[1]?.keeper.held.delete(0);
    const r = await Promise.allSettled(g.map((m) => m.s.sync()));
    for (const x of r) assert.ok(x.status === 'rejected' && /no version of the state is held intact/.test((x.reason as Error).message));
  });
});

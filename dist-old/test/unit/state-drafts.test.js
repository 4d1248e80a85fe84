import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidArgumentError } from '../../src/errors.js';
import { SnapshotPool } from '../../src/sdk/snapshot-pool.js';
import { State } from '../../src/sdk/state.js';
/**
 * The keeper as the program's side sees it, in memory: it holds the newest `keep` versions and
 * gives their buffers back to the pool when it forgets them, as the real one does.
 */
class FakeKeeper {
    keep;
    buffers = new SnapshotPool();
    ready = Promise.resolve();
    held = new Map();
    /** What each held version's bytes were at its commit: a buffer reused too early changes them. */
    expected = new Map();
    constructor(keep) {
        this.keep = keep;
    }
    commit(m) {
        this.held.set(m.meta.version, { meta: m.meta, data: m.data });
        this.expected.set(m.meta.version, m.data.map((d) => [...d]));
        for (const v of [...this.held.keys()].sort((a, b) => a - b).slice(0, -this.keep))
            this.forget(v);
    }
    forget(v) {
        const sv = this.held.get(v);
        this.assertIntact(v);
        this.held.delete(v);
        this.expected.delete(v);
        for (const d of sv.data)
            this.buffers.give(v, d);
    }
    assertIntact(v) {
        const sv = this.held.get(v);
        assert.deepEqual(sv.data.map((d) => [...d]), this.expected.get(v), `version ${v} changed after its commit`);
    }
    post() { }
    request(m) {
        if (m.type === 'list')
            return Promise.resolve({ versions: [...this.held.values()].map((v) => ({ version: v.meta.version, step: v.meta.step })) });
        if (m.type === 'fetch')
            return Promise.resolve({ version: this.held.get(m.version) });
        for (const v of [...this.held.keys()])
            if (v > m.after)
                this.forget(v);
        return Promise.resolve({});
    }
}
/** A world of one: the reductions of the common-state selection return their input. */
const host = {
    node: 0,
    generation: 0,
    rank: 0,
    slot: 0,
    buddy: undefined,
    allreduce: (buf) => Promise.resolve(buf),
    report: () => undefined,
    resumed: () => undefined,
};
function state(keep = 3, n = 8) {
    const keeper = new FakeKeeper(keep);
    // Two entries of one byte size, with different contents: a buffer reused while the program
    // reads it shows up as the other entry's bytes in what it reads.
    const s = new State({ weights: new Float32Array(new SharedArrayBuffer(n * 4)).fill(1), moments: new Float64Array(n / 2).fill(7), data: { position: 0 } }, host, keeper);
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
        const held = keeper.held.get(v);
        assert.equal(held.data[0]?.buffer, d.buffer, 'no copy: the version holds the draft');
        // The entry not drafted is copied, as before.
        assert.notEqual(held.data[1]?.buffer, s.values.moments.buffer);
        assert.notEqual(s.draft('weights'), d, 'a new draft after the commit');
    });
    it('drafts are for registered typed arrays only', () => {
        const { s } = state();
        // Both are compile errors too; a program in JavaScript gets the error at run time.
        assert.throws(() => s.draft('data'), InvalidArgumentError);
        assert.throws(() => s.draft('nope'), InvalidArgumentError);
    });
    it('a commit that fails on a bad entry adopts no draft', () => {
        const { s, keeper } = state();
        const before = s.values.weights;
        s.draft('weights').fill(5);
        s.values.moments = new Uint8Array(32);
        assert.throws(() => s.commit(), InvalidArgumentError);
        assert.equal(s.values.weights, before);
        assert.equal(keeper.held.size, 0);
    });
    it('no buffer is reused while a held version or the program still reads it', () => {
        fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }), (keep, drafts) => {
            const { s, keeper } = state(keep);
            s.commit();
            drafts.forEach((drafted, i) => {
                const cur = s.values.weights;
                if (drafted) {
                    const d = s.draft('weights');
                    for (let j = 0; j < d.length; j++)
                        d[j] = cur[j] + i + 1;
                }
                const seen = [...cur];
                s.step += 1;
                s.commit();
                // What the program reads was not written by anyone but itself.
                if (!drafted)
                    assert.deepEqual([...s.values.weights], seen);
                for (const v of keeper.held.keys())
                    keeper.assertIntact(v);
            });
        }), { numRuns: 300 });
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
});
//# sourceMappingURL=state-drafts.test.js.map
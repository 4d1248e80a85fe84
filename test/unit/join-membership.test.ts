import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAILED_KEPT } from '../../src/fms/membership-record.js';
import { initMembership, membershipKey, readMembership } from '../../src/fms/membership.js';
import { resolveLaunchOptions } from '../../src/launch/launch-options.js';
import { joinMembership } from '../../src/launch/node-runner.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { MemoryStore } from '../../src/store/memory-store.js';

/**
 * A host joining a job that has lost more nodes than its record names (issue 26: the record
 * keeps FAILED_KEPT failed ids and counts the rest): the job's size is still recognised, and a
 * failed node may not rejoin whether its id is still named or long dropped.
 */
const JOB = 'join-compacted';

async function compactedJob(): Promise<MemoryStore> {
  const store = new MemoryStore();
  const nodes = [0, 1, 2, 3];
  const spares = Array.from({ length: 300 }, (_, i) => 4 + i);
  await initMembership(store, JOB, { nodes, spares, minNodes: 4, policy: 'replace' });
  const r = (await readMembership(store, JOB))!;
  // 296 spares used up in 296 faults of member 0's successive replacements: the 40 oldest
  // failed ids are only counted.
  const failed = [0, ...spares.slice(0, 295)];
  const record = { ...r, generation: 296, members: [spares[295]!, 1, 2, 3], spares: spares.slice(296), failed: failed.slice(-FAILED_KEPT), failedDropped: failed.length - FAILED_KEPT };
  await store.put(membershipKey(JOB), JSON.stringify(record));
  return store;
}

const opts = (spares = 300) => ({ ...resolveLaunchOptions({ nodes: 4, spares, command: ['node', 'p.js'] }), job: JOB });
const refused = (pattern: RegExp) => (e: unknown): boolean => e instanceof InvalidArgumentError && pattern.test(e.message);

describe('joining a job whose record has dropped old failed ids', () => {
  it('a member and a spare join; a failed node named or dropped may not; another job size is refused', async () => {
    const store = await compactedJob();
    const r = (await readMembership(store, JOB))!;
    assert.equal(r.failedDropped, 40, 'the premise: ids dropped from the record');
    assert.equal((await joinMembership(store, opts(), 2)).generation, 296, 'a member');
    assert.equal((await joinMembership(store, opts(), 302)).generation, 296, 'a spare');
    await assert.rejects(joinMembership(store, opts(), r.failed[0]!), refused(/was declared failed/), 'a failed node still named');
    assert.ok(!r.failed.includes(5) && !r.members.includes(5) && !r.spares.includes(5));
    await assert.rejects(joinMembership(store, opts(), 5), refused(/was declared failed/), 'a failed node no longer named');
    await assert.rejects(joinMembership(store, opts(299), 2), refused(/this node was started with --nodes 4 --spares 299/));
    await store.close();
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AddressBook, nodeAddressKey } from '../../src/comm/roster.js';
import { AbortedError, RendezvousTimeoutError, StoreUnavailableError, AuthError } from '../../src/errors.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { deadlineIn, retryUntil } from '../../src/util/deadline.js';

// The waits below hold no timer of their own (unref'd, as in the product): this one keeps the loop up.
let keepAlive: NodeJS.Timeout | undefined;
before(() => (keepAlive = setInterval(() => {}, 1_000)));
after(() => clearInterval(keepAlive));

describe('address book', () => {
  it('a node that never published is named by its rank in the generation (what the FMS maps back to a node), and by id in the message', async () => {
    const store = new MemoryStore();
    const book = new AddressBook(store, 'j');
    // Generation after node 1 was replaced by spare 7: rank 1 is node 7.
    for (const n of [0, 2, 3]) await store.put(nodeAddressKey('j', n), `10.0.0.${n}:1`);
    const err = await book.roster([0, 7, 2, 3], deadlineIn(50)).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof RendezvousTimeoutError, String(err));
    assert.deepEqual(err.missingRanks, [1]);
    assert.match(err.message, /node\(s\) 7 never published a listening address/);
    await store.put(nodeAddressKey('j', 7), '10.0.0.7:1');
    assert.deepEqual(await book.roster([0, 7, 2, 3], deadlineIn(50)), ['10.0.0.0:1', '10.0.0.7:1', '10.0.0.2:1', '10.0.0.3:1']);
  });

  it('a spare follows the book: nodes published before and after are known, one moved is re-read, and being brought in reads nothing more', async () => {
    const store = new MemoryStore();
    const book = new AddressBook(store, 'j');
    await store.put(nodeAddressKey('j', 0), '10.0.0.0:1');
    const w = await book.follow(() => undefined);
    for (const n of [1, 2, 3]) await store.put(nodeAddressKey('j', n), `10.0.0.${n}:1`);
    await store.put(nodeAddressKey('j', 2), '10.0.0.2:2');
    // A record that does not parse is left for the roster to read and report.
    await store.put(nodeAddressKey('j', 9), 'not an address');
    assert.equal(book.reads, 1, 'the follow: one list and one watch');
    assert.deepEqual(await book.roster([0, 1, 2, 3], deadlineIn(50)), ['10.0.0.0:1', '10.0.0.1:1', '10.0.0.2:2', '10.0.0.3:1']);
    assert.equal(book.reads, 1, 'brought in: no store read');
    await assert.rejects(book.roster([0, 9], deadlineIn(50)), /not an address|node 9/);
    w.close();
  });
});

describe('retryUntil', () => {
  it('retries a retryable failure until it succeeds; gives up at once on one that is not, and before the deadline on one that is', async () => {
    let calls = 0;
    const got = await retryUntil(async () => {
      if (++calls < 3) throw new StoreUnavailableError('busy');
      return 'ok';
    }, deadlineIn(5000), { baseMs: 1, capMs: 5 });
    assert.equal(got, 'ok');
    assert.equal(calls, 3);

    calls = 0;
    await assert.rejects(
      retryUntil(async () => {
        calls++;
        throw new AuthError('wrong password');
      }, deadlineIn(5000)),
      AuthError,
    );
    assert.equal(calls, 1, 'a wrong password is not tried again');

    const t0 = Date.now();
    await assert.rejects(
      retryUntil(() => Promise.reject(new StoreUnavailableError('down')), deadlineIn(200), { baseMs: 10, capMs: 40 }),
      StoreUnavailableError,
    );
    assert.ok(Date.now() - t0 < 400, `gave up after ${Date.now() - t0} ms`);

    // Closing the job aborts the retries: no waiting out the deadline.
    const ac = new AbortController();
    const t1 = Date.now();
    const aborted = retryUntil(() => Promise.reject(new StoreUnavailableError('down')), deadlineIn(60_000), { baseMs: 500, capMs: 500, signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await assert.rejects(aborted, AbortedError);
    assert.ok(Date.now() - t1 < 400, `aborted after ${Date.now() - t1} ms`);
  });
});

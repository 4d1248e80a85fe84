import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClosedError } from '../../src/errors.js';
import { FrameType } from '../../src/comm/frame.js';
import { Link } from '../../src/comm/link.js';
import { MemoryTransport } from '../../src/comm/memory-transport.js';
import { realClock } from '../../src/util/clock.js';
import { deadlineIn } from '../../src/util/deadline.js';

const secret = 's3cret';
const me = (rank: number) => ({ job: 'j', generation: 0, rank, world: 2, secret, maxFrameBytes: 1 << 20 });

/** A dialed and an accepted link of rank 0 to rank 1 over memory, and the dialer's writes counted. */
async function pair(): Promise<{ dialer: Link; acceptor: Link; writes: () => number }> {
  const a = new MemoryTransport();
  const b = new MemoryTransport({}, a.network);
  let accepted!: Promise<Link>;
  const listener = await b.listen((conn) => {
    accepted = Link.accept(conn, () => Promise.resolve({ me: me(1), isWanted: () => true }), deadlineIn(2000), realClock, 1 << 20);
  });
  const conn = await a.dial(listener.address, deadlineIn(2000));
  let writes = 0;
  const write = conn.write.bind(conn);
  conn.write = (chunks, onFlushed) => {
    writes++;
    write(chunks, onFlushed);
  };
  const dialer = await Link.dial(conn, me(0), 1, deadlineIn(2000), realClock);
  return { dialer, acceptor: await accepted, writes: () => writes };
}

describe('a link that failed', () => {
  it('writes nothing more into its connection, and says so to whoever sends', async () => {
    const { dialer, acceptor, writes } = await pair();
    try {
      const before = writes();
      dialer.send(FrameType.Data, { seq: 1 }, new Uint8Array(64), (err) => assert.equal(err, undefined));
      assert.equal(writes(), before + 1, 'a live link writes');
      dialer.destroy();
      const big = new Uint8Array(64 * 1024); // past the packing limit: the caller waits for the flush
      const flushed = await new Promise<Error | undefined>((resolve) => dialer.send(FrameType.Data, { seq: 2 }, big, resolve));
      assert.ok(flushed instanceof ClosedError, `the sender learns the link is closed: ${String(flushed)}`);
      dialer.send(FrameType.Abort, {}, new Uint8Array(8));
      assert.equal(writes(), before + 1, 'no write after the link failed');
    } finally {
      dialer.destroy();
      acceptor.destroy();
    }
  });
});

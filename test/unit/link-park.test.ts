import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameType, type FrameHeader } from '../../src/comm/frame.js';
import { Link, type GroupIdentity } from '../../src/comm/link.js';
import { LinkPark } from '../../src/comm/link-park.js';
import { MemoryTransport } from '../../src/comm/memory-transport.js';
import { realClock } from '../../src/util/clock.js';
import { deadlineIn } from '../../src/util/deadline.js';

const secret = 's3cret';
const me = (rank: number, generation: number): GroupIdentity => ({ job: 'j', generation, rank, world: 2, secret, maxFrameBytes: 1 << 20 });
const admitAs = (generation: number) => () => Promise.resolve({ me: me(1, generation), isWanted: () => true });

/** What a link hands up, in order: the frames' types and sequence numbers. */
function recorder(): { seen: string[]; handler: { frame: (h: FrameHeader) => void; lost: () => void } } {
  const seen: string[] = [];
  return { seen, handler: { frame: (h) => seen.push(`${FrameType[h.type]}#${h.seq}`), lost: () => seen.push('lost') } };
}

async function until(what: string, ok: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('a link kept across generations', () => {
  it('carries the next generation after both final words; old frames still in flight are dropped, not taken for the new ones', async () => {
    const a = new MemoryTransport();
    const b = new MemoryTransport({}, a.network);
    let acceptedOld!: Promise<Link>;
    const listener = await b.listen((conn) => (acceptedOld = Link.accept(conn, admitAs(0), deadlineIn(2000), realClock, 1 << 20)));
    const conn = await a.dial(listener.address, deadlineIn(2000));
    const dialer = await Link.dial(conn, me(0, 0), 1, deadlineIn(2000), realClock);
    dialer.dialedAddress = listener.address;
    await until('the acceptor', () => acceptedOld !== undefined);
    const acceptor = await acceptedOld;

    // The acceptor's side: a communicator of generation 0 that, hearing the dialer's final word,
    // says its own and parks the link (what Peer.release does).
    let acceptedNew: Promise<Link> | undefined;
    const acceptorPark = new LinkPark((link, h, p) => (acceptedNew = link.acceptAgain(admitAs(1), deadlineIn(2000), h, p)));
    acceptor.attach({
      frame: (h) => {
        if (h.type !== FrameType.Abort) return;
        acceptor.sayFinal(new Uint8Array(8));
        acceptorPark.put(acceptor);
      },
      lost: () => undefined,
    });
    const dialerPark = new LinkPark(() => assert.fail('a dialed link hears no HELLO'));
    const old = recorder();
    dialer.attach(old.handler);

    // Generation 0's last data is on its way to the dialer when the dialer ends the generation
    // and, at once, opens generation 1 on the same link.
    for (const seq of [1, 2, 3]) acceptor.send(FrameType.Data, { seq }, new Uint8Array(16));
    dialer.sayFinal(new Uint8Array(8));
    dialerPark.put(dialer);
    const taken = dialerPark.take(listener.address);
    assert.equal(taken, dialer, 'the parked link is found by the address it was dialed at');
    const redialed = await dialer.redial(me(0, 1), 1, deadlineIn(2000));
    await until('the acceptor side of generation 1', () => acceptedNew !== undefined);
    const acceptorNew = await acceptedNew!;
    assert.equal(redialed, dialer);
    assert.equal(acceptorNew, acceptor, 'the same connection, on both sides');
    assert.equal(acceptorNew.rank, 0);

    const next = recorder();
    dialer.attach(next.handler);
    acceptorNew.send(FrameType.Data, { seq: 7 }, new Uint8Array(16));
    await until('generation 1 data', () => next.seen.length > 0);
    assert.deepEqual(next.seen, ['Data#7'], 'only generation 1 frames reach generation 1');
    assert.ok(!old.seen.some((s) => s.startsWith('Data#')), `generation 0 frames that came after the final word were not handed up: ${old.seen.join(' ')}`);
    assert.equal(a.dialed.length, 1, 'one connection for both generations');
    assert.equal(dialerPark.reused + acceptorPark.reused, 2);
    dialer.destroy();
    acceptor.destroy();
    listener.close();
  });

  it('a parked link unused is closed after the park time, and one whose remote went away is not handed out', async () => {
    const a = new MemoryTransport();
    const b = new MemoryTransport({}, a.network);
    let accepted!: Promise<Link>;
    const listener = await b.listen((conn) => (accepted = Link.accept(conn, admitAs(0), deadlineIn(2000), realClock, 1 << 20)));
    const dial = async (): Promise<[Link, Link]> => {
      const d = await Link.dial(await a.dial(listener.address, deadlineIn(2000)), me(0, 0), 1, deadlineIn(2000), realClock);
      d.dialedAddress = listener.address;
      await until('the acceptor', () => accepted !== undefined);
      return [d, await accepted];
    };
    const park = new LinkPark(() => undefined, 50);
    const [d1, a1] = await dial();
    d1.sayFinal(new Uint8Array(8));
    park.put(d1);
    await until('the park time', () => park.size === 0, 2000);
    await until('the close to reach the remote', () => a1.state === 'failed');
    assert.equal(park.take(listener.address), undefined);

    accepted = undefined as unknown as Promise<Link>;
    const [d2, a2] = await dial();
    d2.sayFinal(new Uint8Array(8));
    const park2 = new LinkPark(() => undefined);
    park2.put(d2);
    a2.destroy(new Error('remote gone'));
    await until('the parked link to notice', () => park2.size === 0);
    assert.equal(park2.take(listener.address), undefined, 'a link that closed while parked is not handed out');
    listener.close();
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthError, CollectiveMismatchError, InvalidArgumentError, PeerFailedError, ProtocolError, RendezvousTimeoutError } from '../../src/index.js';
import { encodeHeader, EMPTY_HEADER, FrameType, HEADER_BYTES } from '../../src/comm/frame.js';
import { SMALL_TUNING, closeAll, makeGroup } from '../helpers/group.js';

const FAST = { ...SMALL_TUNING, timeoutMs: 2000, heartbeatMs: 100 };

async function errors(ps: Promise<unknown>[]): Promise<unknown[]> {
  return Promise.all(ps.map((p) => p.then(() => undefined, (e: unknown) => e)));
}

describe('mismatched calls are caught, never reduced', () => {
  for (const [label, n] of [['direct', 10], ['ring', 500]] as const) {
    it(`${label}: a rank with a different length`, async () => {
      const { comms } = await makeGroup(4, { tuning: FAST });
      try {
        const bufs = comms.map((_, r) => new Float32Array(r === 2 ? n + 1 : n).fill(1));
        const errs = await errors(comms.map((c, r) => c.allreduce(bufs[r]!)));
        for (const e of errs) assert.ok(e instanceof CollectiveMismatchError, `got ${String(e)}`);
        assert.match(String((errs[0] as Error).message), /Allreduce/);
        // Nobody's buffer was touched by a partial reduction of mismatched data.
        for (const b of bufs) assert.ok(b.every((v) => v === 1 || v === 2 || v === 3 || v === 4));
      } finally {
        closeAll(comms);
      }
    });
  }

  it('a rank with a different dtype', async () => {
    const { comms } = await makeGroup(3, { tuning: FAST });
    try {
      const errs = await errors(comms.map((c, r) => (r === 1 ? c.allreduce(new Int32Array(8)) : c.allreduce(new Float32Array(8)))));
      for (const e of errs) assert.ok(e instanceof CollectiveMismatchError, `got ${String(e)}`);
      assert.match((errs[0] as Error).message, /int32/);
    } finally {
      closeAll(comms);
    }
  });

  it('calls made out of order', async () => {
    const { comms } = await makeGroup(3, { tuning: FAST });
    try {
      const errs = await errors(comms.map((c, r) => (r === 0 ? c.barrier() : c.allreduce(new Float32Array(4)))));
      for (const e of errs) assert.ok(e instanceof CollectiveMismatchError, `got ${String(e)}`);
    } finally {
      closeAll(comms);
    }
  });

  it('a broadcast root that needs nothing back learns of a mismatch on its next call', async () => {
    const { comms } = await makeGroup(3, { tuning: FAST });
    try {
      const errs = await errors(comms.map((c, r) => (r === 0 ? c.broadcast(new Float32Array(4), 0) : c.allreduce(new Float32Array(4)))));
      assert.equal(errs[0], undefined, 'the root sent and finished');
      for (const e of errs.slice(1)) assert.ok(e instanceof CollectiveMismatchError, `got ${String(e)}`);
      await assert.rejects(comms[0]!.barrier(), CollectiveMismatchError);
    } finally {
      closeAll(comms);
    }
  });

  it('a recv whose length differs from the message', async () => {
    const { comms } = await makeGroup(2, { tuning: FAST });
    try {
      const [, e] = await errors([comms[0]!.send(new Float32Array(5), 1), comms[1]!.recv(new Float32Array(6), 0)]);
      assert.ok(e instanceof CollectiveMismatchError, `got ${String(e)}`);
      assert.match((e as Error).message, /5 float32.*6 float32/);
    } finally {
      closeAll(comms);
    }
  });
});

describe('malformed frames', () => {
  const cases: [string, () => Uint8Array, RegExp][] = [
    ['bad magic', () => Buffer.alloc(HEADER_BYTES, 0x41), /magic/],
    [
      'wrong protocol version',
      () => {
        const h = encodeHeader({ ...EMPTY_HEADER, type: FrameType.Ping, length: 0 });
        h[2] = 99;
        return h;
      },
      /version 99/,
    ],
    ['oversized frame', () => encodeHeader({ ...EMPTY_HEADER, type: FrameType.Data, length: 0x7fffffff }), /exceeds the limit/],
    ['unknown frame type', () => { const h = encodeHeader({ ...EMPTY_HEADER, type: FrameType.Ping, length: 0 }); h[3] = 200; return h; }, /unknown frame type/],
    ['handshake frame after the handshake', () => encodeHeader({ ...EMPTY_HEADER, type: FrameType.Hello, length: 0 }), /unexpected Hello/],
    ['malformed ABORT', () => Buffer.concat([encodeHeader({ ...EMPTY_HEADER, type: FrameType.Abort, length: 3 }), Buffer.from('{{{')]), /malformed ABORT/],
  ];
  for (const [label, bytes, message] of cases) {
    it(`${label} breaks the communicator with a ProtocolError`, async () => {
      const { comms, transports } = await makeGroup(3, { tuning: FAST });
      try {
        // Connections are made on first use: one collective first, so rank 0 has links.
        await Promise.all(comms.map((c) => c.allreduce(new Float32Array(4))));
        const pending = errors([comms[0]!.allreduce(new Float32Array(4))]);
        transports[0]!.conns[0]!.injectRaw(bytes());
        const [e] = await pending;
        assert.ok(e instanceof ProtocolError, `got ${String(e)}`);
        assert.match((e as Error).message, message);
        assert.equal((e as ProtocolError).code, 'ERR_PROTOCOL');
      } finally {
        closeAll(comms);
      }
    });
  }
});

describe('authentication and arguments', () => {
  it('a peer without the job secret is refused; the others name it', async () => {
    // Connections are made on first use, so the refusal comes with the first collective.
    const { comms } = await makeGroup(3, { tuning: FAST, secret: (r) => (r === 2 ? 'wrong' : 'right'), extra: { rendezvousTimeoutMs: 600 } });
    try {
      const res = await errors(comms.map((c) => c.allreduce(new Float32Array(4))));
      for (const e of res) assert.ok(e instanceof AuthError || e instanceof PeerFailedError || e instanceof RendezvousTimeoutError, `got ${String(e)}`);
      const auth = res.filter((e): e is AuthError => e instanceof AuthError);
      assert.ok(auth.length > 0, `no rank saw an AuthError: ${res.map(String).join('; ')}`);
      for (const e of auth) assert.match(e.message, /secret/);
      // The ranks holding the secret name rank 2.
      for (const e of res.slice(0, 2)) assert.equal((e as AuthError | PeerFailedError).rank, 2, String(e));
    } finally {
      closeAll(comms);
    }
  });

  it('bad arguments get clear errors', async () => {
    const { comms } = await makeGroup(2, { tuning: FAST });
    try {
      const c = comms[0]!;
      assert.throws(() => c.allreduce([1, 2, 3] as never), (e: Error) => e instanceof InvalidArgumentError && /Float32Array/.test(e.message));
      assert.throws(() => c.allreduce(new Float32Array(1), 'median' as never), /unknown reduce op/);
      assert.throws(() => c.broadcast(new Float32Array(1), 5), /out of range/);
      assert.throws(() => c.send(new Float32Array(1), 0), /this rank itself/);
      assert.throws(() => c.allgather(new Float32Array(2), new Float32Array(3)), /4 elements/);
    } finally {
      closeAll(comms);
    }
    await assert.rejects(makeGroup(2, { extra: { rank: 5 } }), (e: Error) => e instanceof InvalidArgumentError && /rank/.test(e.message));
  });
});

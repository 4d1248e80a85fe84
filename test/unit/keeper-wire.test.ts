import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../src/errors.js';
import { frame, MessageReader, type WireMessage } from '../../src/protocol/keeper-wire.js';

function wire(...msgs: [Record<string, unknown>, Uint8Array?][]): Buffer {
  return Buffer.concat(msgs.flatMap(([h, b]) => frame(h, b)));
}

/** Feeds `bytes` in chunks of the given sizes (cycled), collecting the messages. */
function read(bytes: Buffer, sizes: number[]): WireMessage[] {
  const r = new MessageReader();
  const out: WireMessage[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length] as number;
    r.push(bytes.subarray(at, at + n), (m) => out.push({ head: m.head, body: Uint8Array.from(m.body) }));
    at += n;
  }
  return out;
}

describe('keeper wire: MessageReader', () => {
  const body = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31) & 0xff);
  const stream = wire([{ op: 'push', version: 3 }], [{ op: 'push_data', slot: 1 }, body], [{ ok: true }, new Uint8Array(0)]);

  for (const sizes of [[stream.length], [1], [3, 7], [4096], [5, 1, 64]]) {
    it(`parses messages split into chunks of ${sizes.join(',')} bytes`, () => {
      const got = read(stream, sizes);
      assert.deepEqual(
        got.map((m) => m.head),
        [{ op: 'push', version: 3 }, { op: 'push_data', slot: 1 }, { ok: true }],
      );
      assert.equal(got[0]?.body.byteLength, 0);
      assert.deepEqual(got[1]?.body, body);
      assert.equal(got[2]?.body.byteLength, 0);
    });
  }

  it('joins the chunks of a large message once, not once per chunk', () => {
    const big = new Uint8Array(4 << 20).fill(7);
    const bytes = wire([{ op: 'push_data' }, big]);
    const concat = Buffer.concat;
    let calls = 0;
    Buffer.concat = ((list: readonly Uint8Array[], n?: number) => {
      calls += 1;
      return concat(list, n);
    }) as typeof Buffer.concat;
    try {
      const got = read(bytes, [64 * 1024]);
      assert.equal(got.length, 1);
      assert.equal(got[0]?.body.byteLength, big.byteLength);
    } finally {
      Buffer.concat = concat;
    }
    // The head is joined once it is whole, the body once it is whole: 65 chunks, 2 joins.
    assert.ok(calls <= 2, `Buffer.concat called ${calls} times`);
  });

  it('refuses a header length beyond the limit, and a header that is not JSON', () => {
    const huge = Buffer.alloc(8);
    huge.writeUInt32LE(64 << 20, 0);
    assert.throws(() => new MessageReader().push(huge, () => undefined), ProtocolError);
    const notJson = Buffer.concat([Buffer.from([3, 0, 0, 0]), Buffer.from('{{{'), Buffer.alloc(4)]);
    assert.throws(() => new MessageReader().push(notJson, () => undefined), /not JSON/);
  });
});

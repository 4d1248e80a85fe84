import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeHeader, EMPTY_HEADER, FrameType, padOf } from '../../src/comm/frame.js';
import { FrameDecoder } from '../../src/comm/frame-decoder.js';
import { decodeJson, HelloAckSchema, HelloSchema } from '../../src/comm/handshake.js';
import { AuthError, ProtocolError } from '../../src/errors.js';
import { cachingDecoder, decodeDatagram, encodeDatagram, type Datagram } from '../../src/protocol/datagram.js';
import { frame, MessageReader } from '../../src/protocol/keeper-wire.js';
import { FromProgramSchema, ToProgramSchema } from '../../src/protocol/program-ipc.js';
import { LineSplitter, parseServerMessage, RequestSchema } from '../../src/store/wire.js';
import { bytes, chunking, chunks, fuzzParams, mutated, typedOrNothing } from '../helpers/fuzz.js';

/**
 * Every decoder that reads bytes from the network or another process, fed random bytes and
 * mutated valid messages cut into random reads: it accepts them, or refuses them with a typed
 * error (ProtocolError, AuthError for a bad MAC). Never another exception, never a hang (each
 * call is synchronous and bounded: a hang would time the test out). The servers built on them
 * are fuzzed in fuzz-servers.test.ts.
 */
const MAX_PAYLOAD = 1 << 16;

const frameBytes = fc
  .record({
    type: fc.integer({ min: FrameType.Hello, max: FrameType.Bye }),
    payload: fc.uint8Array({ maxLength: 300 }),
    seq: fc.nat(),
    count: fc.nat(),
    tag: fc.nat(),
  })
  .map(({ type, payload, seq, count, tag }) => {
    const h = encodeHeader({ ...EMPTY_HEADER, type, length: payload.byteLength, seq, count, tag });
    return Uint8Array.from([...h, ...payload, ...new Uint8Array(padOf(payload.byteLength))]);
  });
const frameStream = fc.array(frameBytes, { minLength: 1, maxLength: 4 }).map((fs) => Uint8Array.from(fs.flatMap((f) => [...f])));

describe('fuzz: communicator frames (FrameDecoder)', () => {
  const feed = (data: Uint8Array, sizes: number[], viaReadBuffer: boolean): void => {
    // A small buffer, so frames take the large-frame path too.
    const dec = new FrameDecoder(MAX_PAYLOAD, 'fuzz', (h, payload) => {
      assert.equal(payload.byteLength, h.length);
      assert.ok(h.length <= MAX_PAYLOAD);
    }, 256);
    typedOrNothing(() => {
      for (const c of chunks(data, sizes)) {
        if (!viaReadBuffer) dec.data(c);
        else {
          // The TCP path: the decoder says where bytes go, in pieces no larger than it offers.
          for (let at = 0; at < c.byteLength; ) {
            const target = dec.readBuffer();
            const k = Math.min(target.byteLength, c.byteLength - at);
            target.set(c.subarray(at, at + k));
            at += k;
            dec.filled(k);
          }
        }
      }
    }, [ProtocolError]);
  };

  it('random bytes and mutated frame streams: frames or ProtocolError', () => {
    fc.assert(fc.property(fc.oneof(bytes(2048), mutated(frameStream)), chunking, fc.boolean(), (data, sizes, via) => feed(data, sizes, via)), fuzzParams(400));
  });

  it('a valid stream, whatever the reads, gives back exactly its frames', () => {
    fc.assert(
      fc.property(fc.array(frameBytes, { minLength: 1, maxLength: 4 }), chunking, (frames, sizes) => {
        const got: number[] = [];
        const dec = new FrameDecoder(MAX_PAYLOAD, 'fuzz', (h) => got.push(h.length), 256);
        for (const c of chunks(Uint8Array.from(frames.flatMap((f) => [...f])), sizes)) dec.data(c);
        assert.deepEqual(got, frames.map((f) => new DataView(f.buffer).getUint32(4, true)));
      }),
      fuzzParams(200),
    );
  });

  it('handshake payloads (HELLO, HELLO_ACK): parsed or ProtocolError', () => {
    const hello = fc
      .record({ job: fc.string({ minLength: 1 }), generation: fc.nat(), from: fc.nat(), to: fc.nat(), world: fc.integer({ min: 1 }), nonce: fc.stringMatching(/^[0-9a-f]{32}$/) })
      .map((h) => Buffer.from(JSON.stringify(h)));
    fc.assert(
      fc.property(fc.oneof(bytes(), mutated(hello), fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? ''))), (payload) => {
        typedOrNothing(() => decodeJson(HelloSchema, payload, 'HELLO', 'fuzz'), [ProtocolError]);
        typedOrNothing(() => decodeJson(HelloAckSchema, payload, 'HELLO_ACK', 'fuzz'), [ProtocolError]);
      }),
      fuzzParams(400),
    );
  });
});

describe('fuzz: FMS datagrams', () => {
  const JOB = 'fuzz-job';
  const SECRET = 'fuzz-secret-0123456789';
  const heartbeat: Datagram = { type: 'heartbeat', node: 3 };
  const valid = fc.constant(new Uint8Array(encodeDatagram(JOB, SECRET, heartbeat)));

  it('random and mutated datagrams: decoded, or ProtocolError / AuthError', () => {
    const decodeCached = cachingDecoder(JOB, SECRET);
    fc.assert(
      fc.property(fc.oneof(bytes(5000), mutated(valid)), (d) => {
        const buf = Buffer.from(d);
        typedOrNothing(() => decodeDatagram(JOB, SECRET, buf), [ProtocolError, AuthError]);
        typedOrNothing(() => decodeCached(buf), [ProtocolError, AuthError]);
      }),
      fuzzParams(400),
    );
  });

  it('bodies signed with the secret (past the MAC) but not datagrams: ProtocolError', () => {
    // encodeDatagram signs whatever it is given: here any JSON value, or a near-datagram.
    const signed = (v: unknown): Buffer => encodeDatagram(JOB, SECRET, v as Datagram);
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.record({ type: fc.constantFrom('heartbeat', 'fault', 'program_heartbeat', 'ack', 'probe'), node: fc.jsonValue({ maxDepth: 1 }) })), (v) => {
        const buf = signed(v);
        typedOrNothing(() => decodeDatagram(JOB, SECRET, buf), [ProtocolError]);
      }),
      fuzzParams(300),
    );
  });
});

describe('fuzz: keeper wire (MessageReader)', () => {
  const message = fc
    .tuple(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }), fc.uint8Array({ maxLength: 64 }))
    .map(([head, body]) => Uint8Array.from(Buffer.concat(frame(head, body))));
  // A head that is JSON but not an object: `null`, a number, an array.
  const oddHead = fc.jsonValue({ maxDepth: 1 }).map((v) => {
    const h = Buffer.from(JSON.stringify(v) ?? 'null');
    const a = Buffer.alloc(4);
    a.writeUInt32LE(h.length);
    return Uint8Array.from(Buffer.concat([a, h, Buffer.alloc(4)]));
  });

  it('random bytes, mutated messages and odd heads: messages with an object head, or ProtocolError', () => {
    fc.assert(
      fc.property(fc.oneof(bytes(1024), mutated(message), oddHead), chunking, (data, sizes) => {
        const r = new MessageReader();
        typedOrNothing(() => {
          for (const c of chunks(data, sizes)) {
            r.push(Buffer.from(c), (m) => {
              assert.ok(typeof m.head === 'object' && m.head !== null && !Array.isArray(m.head), `head ${JSON.stringify(m.head)}`);
              // What keeper-core.ts reads off a head before anything else.
              void m.head.op;
            });
          }
        }, [ProtocolError]);
      }),
      fuzzParams(400),
    );
  });
});

describe('fuzz: store wire (lines, server messages, requests)', () => {
  const reply = fc
    .oneof(
      fc.record({ hello: fc.record({ nonce: fc.string(), version: fc.nat(), auth: fc.boolean() }) }),
      fc.record({ id: fc.nat(), ok: fc.constant(true), kv: fc.record({ key: fc.string(), value: fc.string(), modRevision: fc.nat(), lease: fc.nat() }) }),
      fc.record({ id: fc.oneof(fc.nat(), fc.constant(null)), ok: fc.constant(false), error: fc.record({ code: fc.string(), message: fc.string() }) }),
      fc.record({ watch: fc.nat(), event: fc.record({ type: fc.constantFrom('put', 'delete'), key: fc.string() }) }),
    )
    .map((m) => Buffer.from(`${JSON.stringify(m)}\n`));

  it("the client's reader: lines, each a server message or ProtocolError", () => {
    fc.assert(
      fc.property(fc.oneof(bytes(1024), mutated(reply), fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(`${JSON.stringify(v)}\n`))), chunking, (data, sizes) => {
        const splitter = new LineSplitter(256);
        typedOrNothing(() => {
          for (const c of chunks(data, sizes)) {
            for (const line of splitter.push(Buffer.from(c))) {
              // As tcp-store-client.ts reads a line: not JSON is its own ProtocolError there.
              let raw: unknown;
              try {
                raw = JSON.parse(line);
              } catch {
                continue;
              }
              parseServerMessage(raw);
            }
          }
        }, [ProtocolError]);
      }),
      fuzzParams(400),
    );
  });

  it("the server's request schema never throws on any JSON value", () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.record({ id: fc.jsonValue({ maxDepth: 1 }), op: fc.constantFrom('get', 'put', 'cas', 'watch', 'auth', 'grant'), key: fc.jsonValue({ maxDepth: 1 }) })), (v) => {
        RequestSchema.safeParse(v);
      }),
      fuzzParams(400),
    );
  });
});

describe('fuzz: program IPC messages', () => {
  const validFrom = fc.constantFrom<unknown>(
    { type: 'hello', pid: 42, version: 1 },
    { type: 'progress', step: 3, stats: { commits: 1, replicaBytes: 0, persistBytes: 0, allreduceBytes: 0, allreduceSeconds: 0 } },
    { type: 'event', event: 'state_error', fields: { message: 'x' } },
    { type: 'compute', generation: 0, computeMs: 1, medianMs: 1, world: 2, spanMs: 1 },
    { type: 'result', value: { a: 1 } },
  );
  /** A valid message with one field replaced by any JSON value (or removed). */
  const fieldMutated = fc.tuple(validFrom, fc.string({ maxLength: 8 }), fc.option(fc.jsonValue({ maxDepth: 2 }))).map(([m, k, v]) => {
    const o = { ...(m as Record<string, unknown>) };
    const keys = Object.keys(o);
    const key = keys[k.length % keys.length] ?? k;
    if (v === null) delete o[key];
    else o[key] = v;
    return o;
  });

  it('any JSON value from a program or an FMS: parsed or refused, never a throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 4 }), fieldMutated), (v) => {
        const from = FromProgramSchema.safeParse(v);
        const to = ToProgramSchema.safeParse(v);
        // What is accepted is what the schema says: a message parses to the same thing twice.
        if (from.success) assert.deepEqual(FromProgramSchema.parse(from.data), from.data);
        if (to.success) assert.deepEqual(ToProgramSchema.parse(to.data), to.data);
      }),
      fuzzParams(400),
    );
  });
});

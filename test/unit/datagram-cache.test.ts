import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CACHED_PACKETS, cachingDecoder, cachingEncoder, encodeDatagram } from '../../src/protocol/datagram.js';

/**
 * The decode cache skips HMAC, JSON and schema for a heartbeat seen before. A hit returns the
 * very object decoded the first time, which is how these tests tell a hit from a miss.
 */
describe('datagram caches', () => {
  it('heartbeats from 64 peers in turn are all hits after the first lap (a ring of 16 missed every one)', () => {
    const decode = cachingDecoder('j', 's');
    const packets = Array.from({ length: 64 }, (_, node) => encodeDatagram('j', 's', { type: 'heartbeat', node }));
    const first = packets.map((p) => decode(p));
    for (let lap = 0; lap < 3; lap++) packets.forEach((p, i) => assert.equal(decode(Buffer.from(p)), first[i], `peer ${i}, lap ${lap}`));
  });

  it('probes and faults are never cached, so they cannot push the heartbeats out', () => {
    const decode = cachingDecoder('j', 's');
    const beat = encodeDatagram('j', 's', { type: 'heartbeat', node: 1 });
    const d = decode(beat);
    for (let seq = 0; seq < 2 * CACHED_PACKETS; seq++) {
      const probe = encodeDatagram('j', 's', { type: 'probe', from: 2, seq, reply: 'h:1' });
      assert.notEqual(decode(probe), decode(probe), 'a probe is decoded in full each time');
    }
    assert.equal(decode(beat), d);
  });

  it('the cache is bounded: past CACHED_PACKETS distinct heartbeats the oldest goes first', () => {
    const decode = cachingDecoder('j', 's');
    const packets = Array.from({ length: CACHED_PACKETS + 1 }, (_, node) => encodeDatagram('j', 's', { type: 'heartbeat', node }));
    const first = packets.map((p) => decode(p));
    assert.notEqual(decode(packets[0]!), first[0], 'the oldest was dropped');
    assert.equal(decode(packets[CACHED_PACKETS]!), first[CACHED_PACKETS], 'the newest is kept');
  });

  it('the encoder signs a heartbeat once and anything else each time', () => {
    const encode = cachingEncoder('j', 's');
    assert.equal(encode({ type: 'heartbeat', node: 3 }), encode({ type: 'heartbeat', node: 3 }));
    const ack = { type: 'ack', node: 3, from: 1, seq: 7 } as const;
    assert.notEqual(encode(ack), encode(ack));
    assert.deepEqual(encode(ack), encodeDatagram('j', 's', ack));
  });
});

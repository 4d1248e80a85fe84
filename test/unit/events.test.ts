import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KnownEventSchema, parseEvent } from '../../src/protocol/events.js';

describe('typed events', () => {
  it('a known event parses into its typed form; extra fields are for people and dropped', () => {
    const e = parseEvent({ ts: 5, event: 'fault_detected', node: 1, by: 1, failed: [1], cause: 'exit', generation: 0, detail: 'killed' });
    assert.ok(e && e.event === 'fault_detected');
    assert.deepEqual(e.failed, [1]);
    assert.equal((e as Record<string, unknown>).detail, undefined);
  });

  it('a known event with wrong fields, or an unknown one, is not a typed event', () => {
    assert.equal(parseEvent({ ts: 5, event: 'fault_detected', failed: 'node 1', cause: 'exit', generation: 0 }), undefined);
    assert.equal(parseEvent({ ts: 5, event: 'recovered', generation: -1, ms: 3 }), undefined);
    assert.equal(parseEvent({ ts: 5, event: 'state_error', message: 'x' }), undefined);
    assert.equal(parseEvent({ event: 'recovered', generation: 1, ms: 3 }), undefined, 'no ts');
    assert.equal(parseEvent(null), undefined);
    assert.equal(parseEvent('recovered'), undefined);
  });

  it('every event name appears once in the schema', () => {
    const names = KnownEventSchema.options.map((o) => o.shape.event.value);
    assert.equal(new Set(names).size, names.length);
  });
});

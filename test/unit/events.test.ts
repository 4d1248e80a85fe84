import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EVENT_NAMES, EventSchema, logEvent, parseEvent, programEventMessage, ProgramEventMessageSchema } from '../../src/protocol/events.js';
import { FromProgramSchema } from '../../src/protocol/program-ipc.js';

describe('typed events', () => {
  it('an event parses into its typed form; fields not in the schema are dropped', () => {
    const e = parseEvent({ ts: 5, event: 'fault_detected', node: 1, by: 1, failed: [1], cause: 'exit', generation: 0, detail: 'killed', note: 'x' });
    assert.ok(e && e.event === 'fault_detected');
    assert.deepEqual(e.failed, [1]);
    assert.equal(e.detail, 'killed');
    assert.equal((e as Record<string, unknown>).note, undefined);
  });

  it('an event with wrong or missing fields, or an unknown one, is not a typed event', () => {
    assert.equal(parseEvent({ ts: 5, event: 'fault_detected', node: 1, by: 1, failed: 'node 1', cause: 'exit', generation: 0, detail: '' }), undefined);
    assert.equal(parseEvent({ ts: 5, event: 'fault_detected', node: 1, by: 1, failed: [1], cause: 'bad luck', generation: 0, detail: '' }), undefined);
    assert.equal(parseEvent({ ts: 5, event: 'recovered', generation: -1, ms: 3, from: 'fault_detected', faultTs: 2 }), undefined);
    assert.equal(parseEvent({ ts: 5, event: 'recovered', generation: 1, ms: 3 }), undefined, 'no from, no faultTs');
    assert.equal(parseEvent({ ts: 5, event: 'no_such_event', message: 'x' }), undefined);
    assert.equal(parseEvent({ event: 'program_idle', node: 1, generation: 1 }), undefined, 'no ts');
    assert.equal(parseEvent(null), undefined);
    assert.equal(parseEvent('recovered'), undefined);
  });

  it('every event name appears once in the schema', () => {
    assert.equal(new Set(EVENT_NAMES).size, EVENT_NAMES.length);
    assert.equal(EVENT_NAMES.length, EventSchema.options.length);
  });

  it('a writer names a known event and gives its fields, or does not compile', () => {
    const e = logEvent('program_idle', { node: 2, generation: 3 }, 7);
    assert.deepEqual(e, { ts: 7, event: 'program_idle', node: 2, generation: 3 });
    assert.deepEqual(parseEvent(e), e);
    // @ts-expect-error an unknown event
    logEvent('program_dozing', { node: 2 });
    // @ts-expect-error a missing field
    logEvent('program_idle', { node: 2 });
    // @ts-expect-error a mistyped field
    logEvent('program_idle', { node: 2, generation: '3' });
  });
});

describe("a program's events, forwarded by its FMS", () => {
  const issues = (m: unknown): string[] => {
    const r = FromProgramSchema.safeParse(m);
    assert.ok(!r.success, `accepted: ${JSON.stringify(m)}`);
    return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('each, with the node and time the FMS adds, is an event of the log', () => {
    const sent = [
      programEventMessage('common_state_selected', { generation: 1, version: 40, step: 40 }),
      programEventMessage('replica_interval_chosen', { generation: 1, every: 4, from_version: 44, step_ms: 12.5, target_ms: 50 }),
      programEventMessage('version_interval_chosen', { generation: 1, every: 2, from_commit: 42, step_ms: 12.5, target_ms: null, cost_ms: 0.3 }),
      programEventMessage('state_corrupt', { slot: 1, version: 7, source: 'memory', message: 'entries 0 fail their checksum' }),
      programEventMessage('verify_interval_chosen', { generation: 0, every: 160, from_commit: 320, digest_ms: 0.4 }),
      programEventMessage('corruption_detected', { generation: 0, version: 480, rollback_to: 320, digests: [{ digest: '0a1b2c3d4e5f60', members: 3 }, { digest: '0a1b2c3d4e5f61', members: 1 }], action: 'replace' }),
      programEventMessage('state_error', { message: 'could not persist' }),
      programEventMessage('program_error', { code: 'TIMEOUT', message: 'no answer' }),
      programEventMessage('auth_refused', { service: 'keeper', peer: '10.0.0.7:51234', reason: 'auth MAC does not match', unlogged: 3 }),
      programEventMessage('comm_listening', { address: '10.0.0.7:41234', socket: null, no_socket: 'not asked for' }),
    ];
    const names = ProgramEventMessageSchema.options.map((o) => o.shape.event.value);
    assert.deepEqual(new Set(sent.map((m) => m.event)), new Set(names), 'one of each');
    for (const n of names) assert.ok(EVENT_NAMES.includes(n), `${n} is an event of the log`);
    for (const m of sent) {
      const r = FromProgramSchema.safeParse(m);
      assert.ok(r.success && r.data.type === 'event', JSON.stringify(m));
      assert.ok(parseEvent({ ts: 1, event: r.data.event, node: 3, ...r.data.fields }), `${m.event} as logged does not parse`);
    }
  });

  it('an unknown event, one a program may not write, or a bad field is refused, saying which', () => {
    assert.match(issues({ type: 'event', event: 'state_lost', fields: {} }).join(), /^event: .*'common_state_selected'/);
    assert.match(issues({ type: 'event', event: 'recovered', fields: { generation: 1, ms: 3, from: 'fault_detected', faultTs: 1 } }).join(), /^event: /);
    assert.match(issues({ type: 'event', event: 'state_corrupt', fields: { slot: 1, version: 'seven', source: 'memory', message: '' } }).join(), /^fields\.version: /);
    assert.match(issues({ type: 'event', event: 'common_state_selected', fields: { generation: 1, version: 4 } }).join(), /^fields\.step: /);
  });
});

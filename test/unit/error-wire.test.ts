import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AbortedError,
  AlreadyExistsError,
  AuthError,
  ClosedError,
  CollectiveMismatchError,
  CorruptRecordError,
  CorruptStateError,
  InvalidArgumentError,
  JobFailedError,
  LeaseExpiredError,
  MembershipChangedError,
  NoCommonStateError,
  CorruptionDetectedError,
  CorruptionUnresolvedError,
  JobStoppedError,
  PeerFailedError,
  ProtocolError,
  RendezvousTimeoutError,
  StoreUnavailableError,
  TimeoutError,
  TlsError,
  type ErrorCode,
  type RollcallError,
} from '../../src/errors.js';
import { SerializedErrorSchema, reviveError, serializeError } from '../../src/protocol/error-wire.js';

/** One of every error, with the fields its class carries: a new ErrorCode fails to compile here until it has one. */
const SAMPLES: { [C in ErrorCode]: RollcallError } = {
  ERR_PEER_FAILED: new PeerFailedError([2, 1], 'timeout', 0, 'no frame for 1000 ms', { node: 4 }),
  ERR_ABORTED: new AbortedError('aborted by the caller', { rank: 1 }),
  ERR_CLOSED: new ClosedError('communicator closed', { rank: 0, node: 3 }),
  ERR_COLLECTIVE_MISMATCH: new CollectiveMismatchError('rank 1 called broadcast, rank 0 allreduce', { rank: 1 }),
  ERR_PROTOCOL: new ProtocolError('bad frame', { rank: 2 }),
  ERR_AUTH: new AuthError('wrong secret', { node: 1 }),
  ERR_TLS: new TlsError('etcd at https://10.0.0.1:2379: certificate does not verify: SELF_SIGNED_CERT_IN_CHAIN', { node: 1 }),
  ERR_TIMEOUT: new TimeoutError('deadline passed', { rank: 3 }),
  ERR_RENDEZVOUS_TIMEOUT: new RendezvousTimeoutError([3, 5], 'rank(s) 3,5 never published an address', { node: 2 }),
  ERR_INVALID_ARGUMENT: new InvalidArgumentError('bad size'),
  ERR_STORE_UNAVAILABLE: new StoreUnavailableError('etcd at http://10.0.0.1:2379: no answer', { node: 0 }),
  ERR_LEASE_EXPIRED: new LeaseExpiredError('lease 7 has expired', { node: 1 }),
  ERR_JOB_FAILED: new JobFailedError('train-1', 'no spare left', 4, { node: 2 }),
  ERR_ALREADY_EXISTS: new AlreadyExistsError('rollcall/j/claim/0', 'node 0 is already run by pid 12', { node: 0 }),
  ERR_CORRUPT_RECORD: new CorruptRecordError('rollcall/j/membership', 'not JSON'),
  ERR_MEMBERSHIP_CHANGED: new MembershipChangedError(3, 1, 4, { node: 5 }),
  ERR_CORRUPT_STATE: new CorruptStateError('node:2', 'checksum mismatch', { node: 1, rank: 0 }),
  ERR_NO_COMMON_STATE: new NoCommonStateError('no version is held by every member', { node: 1, rank: 2 }),
  ERR_CORRUPTION_DETECTED: new CorruptionDetectedError('digests of version 40 differ', { node: 1, rank: 1 }),
  ERR_CORRUPTION_UNRESOLVED: new CorruptionUnresolvedError('digests differ twice with no majority', { node: 0, rank: 0 }),
  ERR_JOB_STOPPED: new JobStoppedError('stopped by SIGTERM'),
};

describe('errors across a process or thread boundary', () => {
  for (const [code, original] of Object.entries(SAMPLES)) {
    it(`${code} comes back as ${original.constructor.name} with its fields`, () => {
      // Through JSON, as over IPC, and validated as the receiver does.
      const wire = SerializedErrorSchema.parse(JSON.parse(JSON.stringify(serializeError(original))));
      const back = reviveError(wire);
      assert.equal(back.constructor, original.constructor);
      assert.equal(back.code, code);
      assert.equal(back.message, original.message);
      assert.equal(back.rank, original.rank);
      assert.equal(back.node, original.node);
      assert.equal(back.retryable, original.retryable);
      assert.deepEqual(back.toJSON(), original.toJSON());
    });
  }

  it('class-specific fields survive', () => {
    const p = reviveError(serializeError(SAMPLES.ERR_PEER_FAILED)) as PeerFailedError;
    assert.deepEqual([p.failedRanks, p.reason, p.detectedBy, p.detail], [[1, 2], 'timeout', 0, 'no frame for 1000 ms']);
    assert.deepEqual((reviveError(serializeError(SAMPLES.ERR_RENDEZVOUS_TIMEOUT)) as RendezvousTimeoutError).missingRanks, [3, 5]);
    assert.equal((reviveError(serializeError(SAMPLES.ERR_ALREADY_EXISTS)) as AlreadyExistsError).key, 'rollcall/j/claim/0');
    assert.equal((reviveError(serializeError(SAMPLES.ERR_CORRUPT_STATE)) as CorruptStateError).source, 'node:2');
    const m = reviveError(serializeError(SAMPLES.ERR_MEMBERSHIP_CHANGED)) as MembershipChangedError;
    assert.deepEqual([m.generation, m.rank, m.world], [3, 1, 4]);
  });

  it('an error that is not ours keeps its name and message, as a ClosedError of that side', () => {
    const back = reviveError(serializeError(new RangeError('index 9 out of range')), 'proxy');
    assert.ok(back instanceof ClosedError);
    assert.match(back.message, /^proxy failed: RangeError: index 9 out of range$/);
    const odd = reviveError({ name: 'X', code: 'toString', message: 'm' });
    assert.ok(odd instanceof ClosedError, 'a code that is a property of every object is not a code');
  });
});

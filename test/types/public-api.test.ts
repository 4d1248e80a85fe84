import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as rollcall from '../../src/index.js';
import {
  AbortedError,
  connect,
  connectStore,
  createCommunicator,
  DEFAULT_TUNING,
  MembershipChangedError,
  PeerFailedError,
  type Collectives,
  type Communicator,
  type Job,
  type PutOptions,
  type StateOptions,
  type StoreServer,
  type WatchOptions,
} from '../../src/index.js';
import { MemoryStore, MemoryTransport, type MemoryTransportOptions } from '../../src/testing.js';
import { averageGradients, trackModel, type TfLike, type TrackedState } from '../../src/tfjs.js';

/**
 * The public API at the type level: this file is compiled by `tsc` with the rest (`npm test`
 * builds first), so the code below compiles as the README shows it, and each `@ts-expect-error`
 * is a trap that must stay closed (tsc fails on an expectation that no longer errs). The
 * functions are never called; the runtime checks at the end cover what types cannot.
 * Imports are from src/ (what `rollcall`, `rollcall/testing` and `rollcall/tfjs` map to, checked
 * below against package.json's exports).
 */

// README, "Writing a program".
export async function writingAProgram(params: Float32Array, grad: Float32Array, steps: number): Promise<void> {
  const job = await connect();
  const state = job.registerState({ params, data: { epoch: 0, index: 0 } }, { replicated: ['params'] } satisfies StateOptions);
  await job.run(state, async (s) => {
    while (s.step < steps) {
      await job.allreduce(grad, 'avg');
      s.step += 1;
      s.commit();
      job.progress(s.step);
    }
  });
  job.result({ digest: 'x' });
  await job.close();
}

// README, "Running a job": MembershipChangedError around the program's own loop.
export async function sdkLoop(computeGradient: () => Float32Array): Promise<void> {
  const job = await connect();
  try {
    await job.allreduce(computeGradient(), 'avg');
  } catch (e) {
    if (!(e instanceof MembershipChangedError)) throw e;
    void [job.rank, job.world, job.generation];
  }
}

// README, "The communication library".
export async function library(secret: string, rank: number, weights: Float64Array, mine: Int32Array, halo: Float32Array, ghost: Float32Array): Promise<void> {
  const store = await connectStore('127.0.0.1:7000', { secret });
  const comm = await createCommunicator({ job: 'train', generation: 0, rank, world: 4, secret, store });
  await comm.allreduce(new Float32Array(1 << 20), 'avg');
  await comm.broadcast(weights, 0);
  const all: Int32Array = await comm.allgather(mine);
  await comm.send(halo, (rank + 1) % 4);
  await comm.recv(ghost, (rank + 3) % 4);
  void all;
  try {
    await comm.barrier();
  } catch (e) {
    if (e instanceof PeerFailedError) void e.failedRanks;
  }
}

// Job and Communicator offer the same collectives, with the same signatures: code written for
// one runs on the other.
export async function halo(c: Collectives, row: Float32Array): Promise<Float32Array> {
  await c.send(row, c.rank + 1, { tag: 1 });
  const got = await c.recv(new Float32Array(row.length), c.rank - 1, { tag: 1 });
  await c.allgather(row);
  return got;
}
export function bothAreCollectives(job: Job, comm: Communicator): Collectives[] {
  const sent: Promise<void> = job.send(new Float32Array(1), 1);
  void sent;
  return [job, comm];
}

// The subpath entries: the doubles, and the tfjs adapter with the types of its arguments and results.
export function testing(opts: MemoryTransportOptions): [MemoryTransport, MemoryStore] {
  return [new MemoryTransport(opts), new MemoryStore()];
}
export async function tfjs(job: Job, comm: Communicator, tf: TfLike, model: Parameters<typeof trackModel>[2], optimizer: Parameters<typeof trackModel>[3]): Promise<TrackedState<Record<never, never>>> {
  await averageGradients(comm, tf, {});
  return trackModel(job, tf, model, optimizer);
}
export type Named = [PutOptions, WatchOptions, StoreServer];

// The traps, closed.
export function traps(): void {
  // @ts-expect-error Job is made by connect(): its constructor takes an internal IPC type and starts threads.
  new rollcall.Job({});
  // @ts-expect-error Communicator is made by createCommunicator()/openCommunicator(): its constructor needs a Peer map.
  new rollcall.Communicator();
  // @ts-expect-error the defaults are frozen, for every caller.
  DEFAULT_TUNING.timeoutMs = 1;
  // @ts-expect-error the in-memory doubles live in rollcall/testing.
  void rollcall.MemoryTransport;
  // @ts-expect-error the tfjs adapter lives in rollcall/tfjs.
  void rollcall.trackModel;
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

describe('public API', () => {
  it("package.json's exports map rollcall, rollcall/testing and rollcall/tfjs to the modules this file compiles against", async () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { exports: Record<string, { types: string; default: string }> };
    assert.deepEqual(Object.keys(pkg.exports).sort(), ['.', './testing', './tfjs']);
    for (const [sub, file] of [['.', 'index'], ['./testing', 'testing'], ['./tfjs', 'tfjs']] as const) {
      assert.equal(pkg.exports[sub]?.default, `./dist/src/${file}.js`);
      assert.equal(pkg.exports[sub]?.types, `./dist/src/${file}.d.ts`);
    }
    const [root, test, tf] = await Promise.all([import(`${ROOT}dist/src/index.js`), import(`${ROOT}dist/src/testing.js`), import(`${ROOT}dist/src/tfjs.js`)]) as Record<string, unknown>[];
    for (const internal of ['Job', 'Communicator', 'MemoryTransport', 'MemoryStore', 'trackModel', 'averageGradients']) assert.equal(root![internal], undefined, `${internal} is not a value of rollcall`);
    assert.equal(typeof root!.connect, 'function');
    assert.equal(typeof test!.MemoryTransport, 'function');
    assert.equal(typeof tf!.trackModel, 'function');
  });

  it('DEFAULT_TUNING is frozen', () => {
    assert.ok(Object.isFrozen(DEFAULT_TUNING));
    assert.throws(() => {
      (DEFAULT_TUNING as { timeoutMs: number }).timeoutMs = 1;
    }, TypeError);
  });

  it('one cancellation class: an aborted rendezvous is AbortedError with the signal\'s reason as its cause', async () => {
    const ac = new AbortController();
    const reason = new Error('the user pressed stop');
    ac.abort(reason);
    const store = new MemoryStore();
    const err = await createCommunicator({ job: 'cancel', generation: 0, rank: 0, world: 2, secret: 's3cret', store, transport: new MemoryTransport(), signal: ac.signal }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof AbortedError, String(err));
    assert.equal(err.cause, reason);
    await store.close();
  });
});

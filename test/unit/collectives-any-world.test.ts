import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { finishAvg, reduceInto, type DType, type NumericArray, type ReduceOp } from '../../src/comm/dtype.js';
import { OpKind } from '../../src/comm/frame.js';
import { DEFAULT_TUNING } from '../../src/comm/communicator.js';
import { Fold, FoldRole } from '../../src/comm/algorithms/fold.js';
import type { RunContext, RunSignature } from '../../src/comm/algorithms/collective-run.js';
import { allgatherRun, allreduceRun, barrierRun, broadcastRun, reduceScatterRun, type AlgorithmTuning } from '../../src/comm/algorithms/select.js';
import { runHarness, type HarnessResult } from '../helpers/run-harness.js';
import { closeAll, makeGroup, rng } from '../helpers/group.js';
import { exactInputs as sharedInputs, exactReference, type Ctor } from '../helpers/exact-reduce.js';

/** ±1, 2 (and 1 twice as often) for prod: the inputs this file was written with. */
const exactInputs = (ctor: Ctor, world: number, n: number, op: ReduceOp, seed: number): NumericArray[] => sharedInputs(ctor, world, n, op, seed, [1, -1, 2, 1]);

/**
 * Every collective's algorithms on worlds of 1 to 33 ranks (and, for the partner sets, up to
 * 4,096), run on simulated ranks (test/helpers/run-harness.ts) whose frames move in a random
 * order, and then through real communicators on the in-memory transport.
 */
const CTORS: Ctor[] = [Float32Array, Float64Array, Int32Array];
const OPS: ReduceOp[] = ['sum', 'avg', 'min', 'max', 'prod'];
const WORLDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17, 33];
/** Small thresholds so that small buffers take every path: recursive doubling, halving-doubling, the ring. */
const TUNING: AlgorithmTuning = { smallBytes: 256, doublingMaxBytes: 512, halvingMaxBytes: 2048 };
const CHUNK_BYTES = 64;
/** Elements (of 4 or 8 bytes) on each side of every threshold. */
const SIZES = [0, 1, 7, 64, 100, 300, 1000];

function dtypeOf(ctor: Ctor): DType {
  return ctor === Float32Array ? 'float32' : ctor === Float64Array ? 'float64' : 'int32';
}

let seq = 0;
function sig(kind: OpKind, dtype: DType, redop: ReduceOp | undefined, count: number, tag = 0): RunSignature {
  return { seq: seq++, kind, dtype, redop, count, tag };
}

function assertOk(res: HarnessResult, what: string): void {
  if (res.errors.size > 0) {
    const [rank, err] = [...res.errors][0]!;
    assert.fail(`${what}: rank ${rank}: ${err.message}`);
  }
}


/**
 * Recursive doubling's fixed order: each host's (host op spare), then a balanced tree over the
 * core ranks in rank order ((c0 op c1) op (c2 op c3)) ..., then avg divides once.
 */
function doublingReference(ins: NumericArray[], op: ReduceOp): NumericArray {
  const world = ins.length;
  const fold = new Fold(0, world);
  let level = Array.from({ length: fold.core }, (_, c) => {
    const r = fold.rankOf(c);
    const v = ins[r]!.slice();
    if (c < fold.extra) reduceInto(v, ins[r - 1]!, op);
    return v;
  });
  while (level.length > 1) {
    level = Array.from({ length: level.length / 2 }, (_, i) => {
      const v = level[2 * i]!.slice();
      reduceInto(v, level[2 * i + 1]!, op);
      return v;
    });
  }
  const out = level[0]!;
  if (op === 'avg') finishAvg(out, world);
  return out;
}

function sameBits(a: NumericArray, b: NumericArray): boolean {
  return Buffer.compare(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), new Uint8Array(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

function harnessAllreduce(ins: NumericArray[], op: ReduceOp, seed: number, tuning = TUNING): { outs: NumericArray[]; res: HarnessResult } {
  const outs = ins.map((a) => a.slice());
  const s = sig(OpKind.Allreduce, dtypeOf(ins[0]!.constructor as Ctor), op, ins[0]!.length);
  const res = runHarness(ins.length, (ctx) => allreduceRun(ctx, s, outs[ctx.rank]!, op, tuning), { seed, chunkBytes: CHUNK_BYTES });
  return { outs, res };
}

describe('algorithms on any world (simulated ranks, random frame order)', () => {
  for (const world of WORLDS) {
    it(`world ${world}: allreduce, every dtype, op and path, equals the reference on every rank`, () => {
      let s = world * 1000;
      for (const ctor of CTORS) {
        for (const op of OPS) {
          for (const n of SIZES) {
            const ins = exactInputs(ctor, world, n, op, s);
            const expect = exactReference(ins, op);
            const { outs, res } = harnessAllreduce(ins, op, s++);
            assertOk(res, `${ctor.name} ${op} n=${n}`);
            for (const [r, o] of outs.entries()) assert.deepEqual(Array.from(o), Array.from(expect), `${ctor.name} ${op} n=${n}, rank ${r}`);
          }
        }
      }
    });

    it(`world ${world}: inexact floats give the same bits on every rank and in any frame order; recursive doubling's are the reference's`, () => {
      const r = rng(world + 77);
      const specials = [NaN, -0, 0, Infinity, -Infinity];
      for (const ctor of [Float32Array, Float64Array]) {
        for (const n of SIZES.slice(1)) {
          const ins = Array.from({ length: world }, () => {
            const a = new ctor(n);
            for (let i = 0; i < n; i++) a[i] = i % 29 === 5 ? specials[Math.floor(r() * specials.length)]! : (r() - 0.5) * 1e3 * r();
            return a;
          });
          const doubling = n * ctor.BYTES_PER_ELEMENT <= TUNING.smallBytes || world === 1 || (world >= 4 && n * ctor.BYTES_PER_ELEMENT <= TUNING.doublingMaxBytes);
          for (const op of ['sum', 'avg', 'min', 'max', 'prod'] as const) {
            const a = harnessAllreduce(ins, op, 1);
            const b = harnessAllreduce(ins, op, 2);
            assertOk(a.res, `${op} n=${n}`);
            assertOk(b.res, `${op} n=${n}`);
            const want = doubling ? doublingReference(ins, op) : a.outs[0]!;
            for (const o of [...a.outs, ...b.outs]) assert.ok(sameBits(o, want), `${ctor.name} ${op} n=${n}: bits differ${doubling ? ' from the reference' : ''}`);
          }
        }
      }
    });

    it(`world ${world}: broadcast from several roots, allgather, reduce-scatter, barrier`, () => {
      const roots = [...new Set([0, 1 % world, Math.floor(world / 2), world - 1])];
      for (const n of [0, 1, 17, 60, 300]) {
        for (const root of roots) {
          const bufs = Array.from({ length: world }, (_, r) => Float64Array.from({ length: n }, (_, i) => (r === root ? i * 1.5 + root : -1)));
          const s = sig(OpKind.Broadcast, 'float64', undefined, n, root);
          const res = runHarness(world, (ctx) => broadcastRun(ctx, s, bufs[ctx.rank]!, root, TUNING), { seed: n + root, chunkBytes: CHUNK_BYTES });
          assertOk(res, `broadcast n=${n} root ${root}`);
          for (const b of bufs) assert.deepEqual(Array.from(b), Array.from({ length: n }, (_, i) => i * 1.5 + root), `broadcast n=${n} root ${root}`);
        }
        const ins = Array.from({ length: world }, (_, r) => Int32Array.from({ length: n }, (_, i) => r * 1000 + i));
        const outs = ins.map(() => new Int32Array(n * world));
        const ag = sig(OpKind.Allgather, 'int32', undefined, n);
        const res = runHarness(world, (ctx) => allgatherRun(ctx, ag, ins[ctx.rank]!, outs[ctx.rank]!, TUNING), { seed: n, chunkBytes: CHUNK_BYTES });
        assertOk(res, `allgather n=${n}`);
        const expect = ins.flatMap((a) => Array.from(a));
        for (const o of outs) assert.deepEqual(Array.from(o), expect, `allgather n=${n}`);
      }
      for (const n of [0, 1, world + 2, 50, 150]) {
        for (const op of ['sum', 'avg', 'max'] as const) {
          const ins = exactInputs(Int32Array, world, n, op, n);
          const full = exactReference(ins, op);
          const bufs = ins.map((a) => a.slice());
          const rs = sig(OpKind.ReduceScatter, 'int32', op, n);
          const res = runHarness(world, (ctx) => reduceScatterRun(ctx, rs, bufs[ctx.rank]!, op, TUNING), { seed: n, chunkBytes: CHUNK_BYTES });
          assertOk(res, `reduce-scatter ${op} n=${n}`);
          const segs = bufs.map((b, r) => Array.from(b.subarray(Math.floor((r * n) / world), Math.floor(((r + 1) * n) / world))));
          assert.deepEqual(segs.flat(), Array.from(full), `reduce-scatter ${op} n=${n}`);
        }
      }
      for (const late of [0, world - 1]) {
        const b = sig(OpKind.Barrier, 'int32', undefined, 0);
        const res = runHarness(world, (ctx) => barrierRun(ctx, b), { seed: late, late });
        assertOk(res, `barrier, rank ${late} late`);
        assert.equal(res.finishedBeforeLate, 0, `barrier: ranks left it before rank ${late} entered`);
      }
    });
  }
});

/** log2 of the world, rounded up. */
function lg(world: number): number {
  return Math.ceil(Math.log2(world));
}

/** The ranks each rank exchanged frames with: with lazy connections, the connections it opens. */
function partners(res: HarnessResult, rank: number): Set<number> {
  return new Set([...res.sentTo[rank]!, ...res.heardFrom[rank]!]);
}

describe('partners: O(log R) per rank on any world, 2 for the ring, no R² frames', () => {
  const worlds = [...Array.from({ length: 32 }, (_, i) => i + 2), 63, 64, 65, 100, 1000, 4096];
  const tuning: AlgorithmTuning = DEFAULT_TUNING;
  const small = new Float32Array(4);

  /** Runs `make` on a world and checks every rank's partner set against `bound` and the frame total. */
  function check(world: number, what: string, bound: number, make: (ctx: RunContext) => ReturnType<typeof barrierRun>): void {
    const res = runHarness(world, make, { seed: world });
    assertOk(res, `${what} at ${world}`);
    let most = 0;
    for (let r = 0; r < world; r++) most = Math.max(most, partners(res, r).size);
    assert.ok(most <= bound, `${what} at ${world} ranks: a rank talked to ${most} others, more than ${bound}`);
    // Sent to and received from each partner about once (halving-doubling: twice).
    assert.ok(res.frames <= 2 * world * bound, `${what} at ${world} ranks: ${res.frames} frames, more than ${2 * world * bound}`);
  }

  for (const world of worlds) {
    it(`world ${world}`, () => {
      const fold = new Fold(0, world);
      // Recursive doubling and halving-doubling: log2 of the core, plus a spare or host.
      check(world, 'small allreduce', lg(fold.core) + 1, (ctx) => allreduceRun(ctx, sig(OpKind.Allreduce, 'float32', 'sum', 4), small.slice(), 'sum', tuning));
      check(world, 'barrier', 2 * lg(world), (ctx) => barrierRun(ctx, sig(OpKind.Barrier, 'int32', undefined, 0)));
      check(world, 'small broadcast', lg(world) + 1, (ctx) => broadcastRun(ctx, sig(OpKind.Broadcast, 'float32', undefined, 4, world - 1), small.slice(), world - 1, tuning));
      // Kept to 1,000 ranks for time: at 4,096 each rank gathers 16 KiB in 12 rounds (the same code).
      if (world > 1000) return;
      check(world, 'small allgather', 2 * lg(world), (ctx) =>
        allgatherRun(ctx, sig(OpKind.Allgather, 'float32', undefined, 1), new Float32Array(1), new Float32Array(world), tuning),
      );
      check(world, 'small reduce-scatter', lg(fold.core) + 1, (ctx) => reduceScatterRun(ctx, sig(OpKind.ReduceScatter, 'float32', 'sum', 4), small.slice(), 'sum', tuning));
      if (world >= 4 && world <= 100) {
        const mid = new Float32Array(64 * 1024);
        check(world, 'medium allreduce', lg(fold.core) + 1, (ctx) => allreduceRun(ctx, sig(OpKind.Allreduce, 'float32', 'sum', mid.length), mid.slice(), 'sum', tuning));
      }
      if (world <= 100) {
        // The ring and the chain: both neighbours, exactly, on every rank.
        const n = 4 * world;
        const ringTuning = { ...tuning, smallBytes: 4, doublingMaxBytes: 4, halvingMaxBytes: 4 };
        const s = sig(OpKind.Allreduce, 'float32', 'sum', n);
        for (const [what, make] of [
          ['ring allreduce', (ctx: RunContext) => allreduceRun(ctx, s, new Float32Array(n), 'sum', ringTuning)],
          ['chain broadcast', (ctx: RunContext) => broadcastRun(ctx, sig(OpKind.Broadcast, 'float32', undefined, n, 1 % world), new Float32Array(n), 1 % world, ringTuning)],
        ] as const) {
          const res = runHarness(world, make, { seed: 3 });
          assertOk(res, what);
          for (let r = 0; r < world; r++) {
            const neighbours = new Set([(r + 1) % world, (r + world - 1) % world]);
            const got = partners(res, r);
            // The ring uses both neighbours; the chain's ends use one.
            if (what === 'ring allreduce') assert.deepEqual(got, neighbours, `${what} at ${world}: rank ${r}'s partners`);
            else assert.ok([...got].every((p) => neighbours.has(p)) && got.size > 0, `${what} at ${world}: rank ${r}'s partners ${[...got].join(',')}`);
          }
        }
      }
    });
  }

  it('the fold: spares, hosts and core ranks as MPICH lays them out', () => {
    const f = (r: number): Fold => new Fold(r, 6);
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((r) => f(r).role), [FoldRole.Spare, FoldRole.Host, FoldRole.Spare, FoldRole.Host, FoldRole.Core, FoldRole.Core]);
    assert.deepEqual([0, 1, 2, 3].map((c) => f(0).rankOf(c)), [1, 3, 4, 5]);
    assert.deepEqual([f(0).core, f(0).extra, f(1).coreRank, f(4).coreRank], [4, 2, 0, 2]);
  });
});

describe('through communicators on the in-memory transport, worlds 9 to 17 (33 and more above: the full mesh of the rendezvous takes seconds there)', () => {
  for (const world of [9, 12, 17]) {
    it(`world ${world}: every collective at small and large sizes`, async () => {
      const { comms } = await makeGroup(world, { tuning: { ...TUNING, chunkBytes: CHUNK_BYTES } });
      try {
        let s = world;
        for (const ctor of CTORS) {
          for (const op of OPS) {
            for (const n of [3, 100, 300, 700]) {
              const ins = exactInputs(ctor, world, n, op, s++);
              const expect = exactReference(ins, op);
              const outs = await Promise.all(comms.map((c, r) => c.allreduce(ins[r]!.slice(), op)));
              for (const o of outs) assert.deepEqual(Array.from(o), Array.from(expect), `${ctor.name} ${op} n=${n}`);
            }
          }
        }
        for (const n of [5, 200]) {
          for (const root of [0, world - 1, 5]) {
            const bufs = comms.map((_, r) => Float32Array.from({ length: n }, (_, i) => (r === root ? i + root : 0)));
            await Promise.all(comms.map((c, r) => c.broadcast(bufs[r]!, root)));
            for (const b of bufs) assert.deepEqual(Array.from(b), Array.from({ length: n }, (_, i) => i + root));
          }
          const ins = comms.map((_, r) => Int32Array.from({ length: n }, (_, i) => r * 1000 + i));
          const outs = await Promise.all(comms.map((c, r) => c.allgather(ins[r]!)));
          for (const o of outs) assert.deepEqual(Array.from(o), ins.flatMap((a) => Array.from(a)));
          const rsIns = exactInputs(Int32Array, world, n, 'sum', n);
          const segs = await Promise.all(comms.map((c, r) => c.reduceScatter(rsIns[r]!.slice(), 'sum')));
          assert.deepEqual(segs.flatMap((x) => Array.from(x)), Array.from(exactReference(rsIns, 'sum')));
        }
        await Promise.all(comms.map((c) => c.barrier()));
      } finally {
        closeAll(comms);
      }
    });
  }
});


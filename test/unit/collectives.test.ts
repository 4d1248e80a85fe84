import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { NumericArray, ReduceOp } from '../../src/comm/dtype.js';
import { exactInputs as inputs, exactReference as reference, type Ctor } from '../helpers/exact-reduce.js';
import { SMALL_TUNING, closeAll, makeGroup, rng } from '../helpers/group.js';

const CTORS: Ctor[] = [Float32Array, Float64Array, Int32Array];
const OPS: ReduceOp[] = ['sum', 'avg', 'min', 'max', 'prod'];


function sameBits(a: NumericArray, b: NumericArray): boolean {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return Buffer.compare(x, y) === 0;
}

describe('allreduce matches a reference', () => {
  it('default tuning: between smallBytes and doublingMaxBytes (recursive doubling in worlds of 4 and 8; else the ring)', async () => {
    for (const world of [2, 3, 4, 8]) {
      const { comms } = await makeGroup(world);
      try {
        for (const n of [(32 * 1024) / 4 + 1, (48 * 1024) / 4 + 3, (64 * 1024) / 4]) {
          const ins = inputs(Int32Array, world, n, 'sum', world * 7 + n);
          const expect = reference(ins, 'sum');
          const outs = await Promise.all(comms.map((c, r) => c.allreduce(ins[r]!.slice(), 'sum')));
          for (const o of outs) assert.ok(sameBits(o, expect), `world ${world} n=${n}`);
        }
      } finally {
        closeAll(comms);
      }
    }
  });

  for (let world = 1; world <= 8; world++) {
    it(`world ${world}: every dtype, op and awkward size`, async () => {
      const { comms } = await makeGroup(world, { tuning: SMALL_TUNING });
      try {
        let seed = world * 1000;
        for (const ctor of CTORS) {
          for (const op of OPS) {
            // 0, 1, not multiples of world or chunk, and sizes on both sides of smallBytes.
            for (const n of [0, 1, world + 1, 63, 64, 65, 257, 1000]) {
              const ins = inputs(ctor, world, n, op, seed++);
              const expect = reference(ins, op);
              const outs = await Promise.all(comms.map((c, r) => c.allreduce(ins[r]!.slice(), op)));
              for (const o of outs) assert.deepEqual(Array.from(o), Array.from(expect), `${ctor.name} ${op} n=${n}`);
            }
          }
        }
      } finally {
        closeAll(comms);
      }
    });
  }

  it('random sizes, worlds and ops (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 700 }),
        fc.constantFrom(...OPS),
        fc.constantFrom(...CTORS),
        fc.integer(),
        async (world, n, op, ctor, seed) => {
          const { comms } = await makeGroup(world, { tuning: SMALL_TUNING });
          try {
            const ins = inputs(ctor, world, n, op, seed);
            const expect = reference(ins, op);
            const outs = await Promise.all(comms.map((c, r) => c.allreduce(ins[r]!.slice(), op)));
            for (const o of outs) assert.deepEqual(Array.from(o), Array.from(expect));
          } finally {
            closeAll(comms);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('determinism', () => {
  for (const [label, tuning] of [['ring', SMALL_TUNING], ['direct', {}]] as const) {
    it(`${label}: every rank gets the same bits, and every run too`, async () => {
      const world = 5;
      const r = rng(7);
      const ins = Array.from({ length: world }, () => Float32Array.from({ length: 999 }, () => (r() - 0.5) * 1e3 * r()));
      const runOnce = async (): Promise<Float32Array[]> => {
        const { comms } = await makeGroup(world, { tuning });
        try {
          return await Promise.all(comms.map((c, k) => c.allreduce(ins[k]!.slice(), 'sum')));
        } finally {
          closeAll(comms);
        }
      };
      const a = await runOnce();
      const b = await runOnce();
      for (const o of [...a, ...b]) assert.ok(sameBits(o, a[0]!), 'all results bit-identical');
    });
  }
});

describe('determinism of recursive doubling (power-of-two worlds, small buffers)', () => {
  for (const world of [4, 8]) {
    it(`world ${world}: same bits on every rank and run, for inexact sums and min/max with NaN and ±0`, async () => {
      const r = rng(world);
      const specials = [NaN, -0, 0, Infinity, -Infinity];
      const ins = Array.from({ length: world }, () =>
        Float32Array.from({ length: 777 }, (_, i) => (i % 50 === 0 ? specials[Math.floor(r() * specials.length)]! : (r() - 0.5) * 1e3 * r())),
      );
      for (const op of ['sum', 'min', 'max', 'avg'] as const) {
        const runOnce = async (): Promise<Float32Array[]> => {
          const { comms } = await makeGroup(world);
          try {
            return await Promise.all(comms.map((c, k) => c.allreduce(ins[k]!.slice(), op)));
          } finally {
            closeAll(comms);
          }
        };
        const a = await runOnce();
        const b = await runOnce();
        for (const o of [...a, ...b]) assert.ok(sameBits(o, a[0]!), `${op}: all results bit-identical`);
      }
    });
  }
});

describe('other collectives', () => {
  for (const world of [1, 2, 3, 4, 7]) {
    it(`world ${world}: broadcast from every root, small and chained`, async () => {
      const { comms } = await makeGroup(world, { tuning: SMALL_TUNING });
      try {
        for (const n of [0, 1, 17, 300]) {
          for (let root = 0; root < world; root++) {
            const bufs = comms.map((_, r) => Float64Array.from({ length: n }, (_, i) => (r === root ? i * 1.5 + root : -1)));
            await Promise.all(comms.map((c, r) => c.broadcast(bufs[r]!, root)));
            for (const b of bufs) assert.deepEqual(Array.from(b), Array.from({ length: n }, (_, i) => i * 1.5 + root));
          }
        }
      } finally {
        closeAll(comms);
      }
    });

    it(`world ${world}: allgather and reduce-scatter`, async () => {
      const { comms } = await makeGroup(world, { tuning: SMALL_TUNING });
      try {
        for (const n of [0, 1, 5, 100]) {
          const ins = comms.map((_, r) => Int32Array.from({ length: n }, (_, i) => r * 1000 + i));
          const outs = await Promise.all(comms.map((c, r) => c.allgather(ins[r]!)));
          const expect = ins.flatMap((a) => Array.from(a));
          for (const o of outs) assert.deepEqual(Array.from(o), expect);
        }
        for (const n of [0, 1, world + 2, 150]) {
          const ins = inputs(Int32Array, world, n, 'sum', n);
          const full = reference(ins, 'sum');
          const segs = await Promise.all(comms.map((c, r) => c.reduceScatter(ins[r]!.slice(), 'sum')));
          assert.deepEqual(segs.flatMap((s) => Array.from(s)), Array.from(full));
        }
      } finally {
        closeAll(comms);
      }
    });
  }

  it('barrier waits for every rank', async () => {
    const { comms } = await makeGroup(4);
    try {
      let arrived = 0;
      const late = new Promise<void>((res) => setTimeout(res, 30));
      const done = comms.map(async (c, r) => {
        if (r === 3) await late;
        arrived++;
        await c.barrier();
        return arrived;
      });
      for (const seen of await Promise.all(done)) assert.equal(seen, 4);
    } finally {
      closeAll(comms);
    }
  });

  it('send/recv: ordered, chunked, tagged, with ring halo exchange', async () => {
    const world = 4;
    const { comms } = await makeGroup(world, { tuning: SMALL_TUNING });
    try {
      await Promise.all(
        comms.map(async (c, r) => {
          const right = (r + 1) % world;
          const left = (r + world - 1) % world;
          const out = Float32Array.from({ length: 100 }, (_, i) => r * 100 + i);
          const into = new Float32Array(100);
          const empty = new Float32Array(0);
          await Promise.all([c.send(out, right, { tag: 9 }), c.send(empty, right), c.recv(into, left, { tag: 9 }), c.recv(new Float32Array(0), left)]);
          assert.deepEqual(Array.from(into), Array.from({ length: 100 }, (_, i) => left * 100 + i));
          void empty;
        }),
      );
    } finally {
      closeAll(comms);
    }
  });

  it('many collectives in flight complete in call order', async () => {
    const { comms } = await makeGroup(3, { tuning: SMALL_TUNING });
    try {
      const results = await Promise.all(
        comms.map((c, r) => Promise.all(Array.from({ length: 20 }, (_, k) => c.allreduce(Int32Array.of(r + k, k), 'sum')))),
      );
      for (const perRank of results) perRank.forEach((a, k) => assert.deepEqual(Array.from(a), [3 + 3 * k, 3 * k]));
    } finally {
      closeAll(comms);
    }
  });

  it('frames split at every byte boundary still reassemble', async () => {
    const { comms } = await makeGroup(3, { tuning: SMALL_TUNING, memory: { maxChunk: 7 } });
    try {
      const outs = await Promise.all(comms.map((c, r) => c.allreduce(Float64Array.from({ length: 333 }, (_, i) => i + r), 'sum')));
      for (const o of outs) assert.deepEqual(Array.from(o), Array.from({ length: 333 }, (_, i) => 3 * i + 3));
    } finally {
      closeAll(comms);
    }
  });
});

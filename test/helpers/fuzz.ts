import fc from 'fast-check';
import { RollcallError } from '../../src/errors.js';

/**
 * Fuzzing parameters: a fixed seed and a bounded number of cases, so CI runs the same cases in
 * seconds every time. `ROLLCALL_FUZZ_SEED=random` draws a seed (and `ROLLCALL_FUZZ_RUNS=N` runs
 * more cases) for a longer hunt; fast-check prints the seed and the path of a failing case,
 * which `ROLLCALL_FUZZ_SEED=<seed>` replays.
 */
const seedEnv = process.env.ROLLCALL_FUZZ_SEED;
export const FUZZ_SEED = seedEnv === undefined ? 20261207 : seedEnv === 'random' ? (Math.random() * 2 ** 31) | 0 : Number(seedEnv);
if (seedEnv === 'random') console.log(`# fuzz seed ${FUZZ_SEED} (replay with ROLLCALL_FUZZ_SEED=${FUZZ_SEED})`);

export function fuzzParams(runs: number): fc.Parameters<unknown> {
  const scale = Number(process.env.ROLLCALL_FUZZ_RUNS ?? NaN);
  return { seed: FUZZ_SEED, numRuns: Number.isInteger(scale) && scale > 0 ? scale : runs, endOnFailure: true };
}

/** Random bytes, short and long. */
export const bytes = (maxLength = 512): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength });

/** How a stream is cut into reads: chunk sizes, cycled. */
export const chunking = fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 });

export function* chunks(data: Uint8Array, sizes: readonly number[]): Generator<Uint8Array> {
  for (let at = 0, i = 0; at < data.byteLength; i++) {
    const n = sizes[i % sizes.length]!;
    yield data.subarray(at, at + n);
    at += n;
  }
}

type Edit = { at: number; op: 'set' | 'insert' | 'delete' | 'truncate'; byte: number };

/**
 * A valid message with a few bytes changed, inserted or deleted, or cut short: what gets past
 * the first checks, where random bytes rarely do.
 */
export function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  const edit = fc.record({ at: fc.nat(), op: fc.constantFrom('set', 'insert', 'delete', 'truncate'), byte: fc.integer({ min: 0, max: 255 }) }) as fc.Arbitrary<Edit>;
  return fc.tuple(valid, fc.array(edit, { minLength: 1, maxLength: 6 })).map(([v, edits]) => {
    const b = [...v];
    for (const e of edits) {
      if (b.length === 0) break;
      const at = e.at % b.length;
      if (e.op === 'set') b[at] = e.byte;
      else if (e.op === 'insert') b.splice(at, 0, e.byte);
      else if (e.op === 'delete') b.splice(at, 1);
      else b.length = at;
    }
    return Uint8Array.from(b);
  });
}

/**
 * Runs `f`; a throw must be one of Rollcall's typed errors, of the classes allowed. Anything
 * else (a TypeError from a field read off `null`, a RangeError from a bad length) is the bug.
 */
export function typedOrNothing(f: () => void, allowed: readonly (abstract new (...a: never[]) => RollcallError)[]): void {
  try {
    f();
  } catch (e) {
    if (!allowed.some((c) => e instanceof c)) {
      throw new Error(`expected nothing or ${allowed.map((c) => c.name).join('/')}, got ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`, { cause: e });
    }
  }
}

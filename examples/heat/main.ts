import { parseArgs } from 'node:util';
import { connect } from '../../src/index.js';
import { centre, digest, newBlock, partition, sweep, type Block } from './solver.js';

/**
 * Bulk-synchronous 2-D heat diffusion on Rollcall: each rank owns a block of rows, exchanges its
 * edge rows with its neighbours every sweep, and commits its block every few sweeps. After a
 * fault every member rolls back to the newest common version and the sweeps go on from there;
 * the final grid is bit-identical to solveSingle(size, iterations).
 *
 *   rollcall launch --nodes 3 -- node main.js [--size 256] [--iterations 2000] [--commit-every 5]
 */
const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '256' },
    iterations: { type: 'string', default: '2000' },
    'commit-every': { type: 'string', default: '5' },
  },
});

function intArg(name: string, min: number): number {
  const n = Number(values[name as keyof typeof values]);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`--${name} must be an integer >= ${min}`);
  return n;
}
const size = intArg('size', 3);
const iterations = intArg('iterations', 0);
// Every sweep since the last commit is redone after a fault.
const commitEvery = intArg('commit-every', 1);

/** Tags name the direction a row travels, so a crossed exchange fails loudly, not silently. */
const DOWN = 1;
const UP = 2;

const started = Date.now();
const job = await connect();
const block = partition(size, job.world, job.rank);
const cur = newBlock(size, block);
const next = newBlock(size, block);
const state = job.registerState({ cur, layout: { ...block } });

/**
 * Fills the halo rows from the neighbours. Pairs (r, r + 1) exchange with even r first, then odd
 * r; in a pair rank r sends first and rank r + 1 receives first, so nothing can deadlock even if
 * a send waited for its receive. Sequential rather than Promise.all on purpose: when several
 * operations are pending at a fault, only the first is told of the new generation; the others
 * are carried into it, where a stale receive takes the resumed sweep's first row.
 */
async function exchangeHalos(): Promise<void> {
  const row = (r: number): Float64Array => cur.subarray(r * size, (r + 1) * size);
  for (const phase of [0, 1]) {
    if (job.rank % 2 === phase) {
      if (job.rank + 1 < job.world) {
        await job.send(row(block.count), job.rank + 1, { tag: DOWN });
        await job.recv(row(block.count + 1), job.rank + 1, { tag: UP });
      }
    } else if (job.rank > 0) {
      await job.recv(row(0), job.rank - 1, { tag: DOWN });
      await job.send(row(1), job.rank - 1, { tag: UP });
    }
  }
}

/** The whole grid on every rank: each cell has exactly one non-zero term, so the sum is exact. */
async function assemble(): Promise<Float64Array> {
  const grid = new Float64Array(new SharedArrayBuffer(size * size * 8));
  grid.set(cur.subarray(size, (block.count + 1) * size), block.first * size);
  return job.allreduce(grid, 'sum');
}

/** The rows restored must be the rows this rank owns now: a changed world would need a re-split. */
function checkLayout(layout: Block): void {
  const want = partition(size, job.world, job.rank);
  if (layout.first !== want.first || layout.count !== want.count || block.first !== want.first || block.count !== want.count) {
    throw new Error(`heat: rank ${job.rank} of ${job.world} owns rows ${want.first}+${want.count} but holds ${layout.first}+${layout.count}; run it with --on-fault replace`);
  }
}

/**
 * Every member's rows, gathered: they must tile the grid in rank order, each row owned once. A
 * member that split the grid differently would exchange halos with the wrong rows.
 */
async function checkTiling(): Promise<void> {
  const all = await job.allgather(new Int32Array([block.first, block.count]));
  for (let r = 0, next = 0; r < job.world; next += all[2 * r + 1]!, r++) {
    if (all[2 * r] !== next) throw new Error(`heat: rank ${r} starts at row ${all[2 * r]}, not ${next}: the members split the grid differently`);
    if (r === job.world - 1 && next + all[2 * r + 1]! !== size) throw new Error(`heat: the blocks cover ${next + all[2 * r + 1]!} rows of ${size}`);
  }
}

let grid: Float64Array | undefined;
await job.run(state, async (s) => {
  checkLayout(s.values.layout);
  await checkTiling();
  while (s.step < iterations) {
    await exchangeHalos();
    sweep(cur, next, size, block);
    cur.set(next.subarray(size, (block.count + 1) * size), size);
    s.step += 1;
    // Also at the last sweep, so a fault during assemble() redoes no sweeps.
    if (s.step % commitEvery === 0 || s.step === iterations) s.commit();
    job.progress(s.step);
  }
  grid = await assemble();
});

const final = grid as Float64Array;
const result = { iterations: state.step, size, world: job.world, digest: digest(final), centre: centre(final, size) };
job.result(result);
if (job.rank === 0) {
  const secs = ((Date.now() - started) / 1000).toFixed(2);
  process.stderr.write(`heat: ${size}x${size}, ${result.iterations} sweeps on ${job.world} ranks in ${secs} s (generation ${job.generation}), centre ${result.centre}, digest ${result.digest}\n`);
}
await job.close();

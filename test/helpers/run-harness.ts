import { BufferPool } from '../../src/comm/buffer-pool.js';
import { bytesPer, type DType } from '../../src/comm/dtype.js';
import { FrameType, type FrameFields, type FrameHeader } from '../../src/comm/frame.js';
import type { CollectiveRun, RunContext } from '../../src/comm/algorithms/collective-run.js';
import { rng } from './group.js';

/**
 * Runs one collective's algorithm on `world` simulated ranks in one synchronous loop, with no
 * communicator and no sockets, so that thousands of ranks take milliseconds. Each directed link
 * is FIFO, as a stream is, but which link moves next is drawn at random (seeded), so ranks run
 * ahead of each other in every way the order allows. A send's bytes are copied only when it is
 * "flushed", at a random later time, so an algorithm that overwrites a buffer it is still
 * sending is caught; and a delivered payload is scribbled over after the call, as the frame
 * decoder reuses its memory, so one that keeps a payload without copying it is caught too.
 */
export interface HarnessResult {
  /** Ranks each rank sent a frame to. */
  sentTo: Set<number>[];
  /** Ranks each rank received a frame from. */
  heardFrom: Set<number>[];
  /** Data frames sent in all. */
  frames: number;
  /** Ranks whose run failed, with the error. */
  errors: Map<number, Error>;
  /** With `late`: ranks that had finished when every frame but the late rank's had moved. */
  finishedBeforeLate: number;
}

interface Pending {
  from: number;
  to: number;
  fields: FrameFields;
  step: number;
  offset: number;
  payload: Uint8Array;
  onFlushed: (err?: Error) => void;
  copy?: Uint8Array;
}

interface Link {
  to: number;
  msgs: Pending[];
  flushed: number;
  delivered: number;
}

export function runHarness(
  world: number,
  make: (ctx: RunContext) => CollectiveRun,
  opts: { seed?: number; chunkBytes?: number; late?: number } = {},
): HarnessResult {
  const random = rng(opts.seed ?? 1);
  const pool = new BufferPool();
  const links = new Map<number, Link>();
  /** Links with something to flush or deliver. */
  const busy: Link[] = [];
  /** Links whose next move is a delivery to a rank that has not begun (the late one). */
  const parked: Link[] = [];
  const begun = new Uint8Array(world);
  const res: HarnessResult = {
    sentTo: Array.from({ length: world }, () => new Set<number>()),
    heardFrom: Array.from({ length: world }, () => new Set<number>()),
    frames: 0,
    errors: new Map(),
    finishedBeforeLate: 0,
  };
  const settled = new Uint8Array(world);
  // Copies are carved from large slabs: an ArrayBuffer per frame made the garbage collector
  // most of a 4,096-rank run.
  let slab = new Uint8Array(0);
  let used = 0;
  const copyOf = (p: Uint8Array): Uint8Array => {
    const len = (p.byteLength + 7) & ~7;
    if (used + len > slab.byteLength) {
      slab = new Uint8Array(Math.max(len, 8 << 20));
      used = 0;
    }
    const out = slab.subarray(used, used + p.byteLength);
    used += len;
    out.set(p);
    return out;
  };
  const chunkElems = (d: DType): number => Math.max(1, Math.floor((opts.chunkBytes ?? 1 << 20) / bytesPer(d)));
  const runs: CollectiveRun[] = [];
  for (let rank = 0; rank < world; rank++) {
    const ctx: RunContext = {
      rank,
      world,
      chunkElems,
      pool,
      sendData(to, fields, step, offset, payload, onFlushed) {
        if (to === rank || to < 0 || to >= world || !Number.isInteger(to)) throw new Error(`rank ${rank} sent to rank ${to}`);
        res.sentTo[rank]!.add(to);
        res.frames++;
        const key = rank * world + to;
        let link = links.get(key);
        if (!link) links.set(key, (link = { to, msgs: [], flushed: 0, delivered: 0 }));
        if (link.msgs.length === link.delivered) busy.push(link);
        link.msgs.push({ from: rank, to, fields, step, offset, payload, onFlushed });
      },
    };
    const run = make(ctx);
    run.onSettled = (err) => {
      settled[rank] = 1;
      if (err) res.errors.set(rank, err);
    };
    runs.push(run);
  }
  /** Moves frames until none is left to move. */
  const drain = (): void => {
    while (busy.length > 0) {
      const i = Math.floor(random() * busy.length);
      const link = busy[i]!;
      const canDeliver = link.delivered < link.flushed && begun[link.to] === 1;
      const canFlush = link.flushed < link.msgs.length;
      if (!canDeliver && !canFlush) {
        parked.push(link);
        busy[i] = busy[busy.length - 1]!;
        busy.pop();
        continue;
      }
      if (canFlush && (!canDeliver || random() < 0.5)) {
        const m = link.msgs[link.flushed++]!;
        m.copy = copyOf(m.payload);
        m.onFlushed();
      } else {
        const m = link.msgs[link.delivered++]!;
        res.heardFrom[m.to]!.add(m.from);
        const h: FrameHeader = { type: FrameType.Data, length: m.copy!.byteLength, flags: 0, ...m.fields, step: m.step, offset: m.offset };
        const run = runs[m.to]!;
        try {
          if (!run.settled) run.onFrame(m.from, h, m.copy!);
        } catch (e) {
          run.fail(e as Error);
        }
        m.copy!.fill(0xa5);
        link.msgs[link.delivered - 1] = undefined as unknown as Pending;
      }
      if (link.delivered === link.msgs.length) {
        busy[i] = busy[busy.length - 1]!;
        busy.pop();
      }
    }
  };
  const begin = (r: number): void => {
    begun[r] = 1;
    runs[r]!.begin();
  };
  for (const r of shuffled(world, random)) if (r !== opts.late) begin(r);
  drain();
  if (opts.late !== undefined) {
    res.finishedBeforeLate = settled.reduce((a, b) => a + b, 0);
    begin(opts.late);
    busy.push(...parked.splice(0));
    drain();
  }
  for (let r = 0; r < world; r++) {
    if (settled[r] !== 1) res.errors.set(r, new Error(`rank ${r} never finished; waiting on ${runs[r]!.waitingOn().join(',')}`));
  }
  return res;
}

function shuffled(n: number, random: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

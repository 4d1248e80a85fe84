import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventSchema, parseEvent } from '../../src/protocol/events.js';

export const ROLLCALL = fileURLToPath(new URL('../../../bin/rollcall.js', import.meta.url));
export const STEPS_PROGRAM = fileURLToPath(new URL('../../src/bench/steps-program.js', import.meta.url));

export type Ev = { ts: number; event: string; [k: string]: unknown };

export interface JobRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  events: Ev[];
}

export function readEvents(path: string): Ev[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Ev);
}

/**
 * Every line of a job's log is an event of the schema (src/protocol/events.ts) and has no field
 * the schema does not declare: what the writers write is what the readers are told they read.
 */
export function assertEveryEventTyped(events: Ev[]): void {
  events.forEach((e, i) => {
    const typed = parseEvent(e);
    if (!typed) {
      const why = EventSchema.safeParse(e).error?.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ');
      assert.fail(`event ${i + 1} of the log is not one of src/protocol/events.ts (${why}): ${JSON.stringify(e)}`);
    }
    const undeclared = Object.keys(e).filter((k) => !(k in typed));
    assert.deepEqual(undeclared, [], `event ${i + 1} of the log has fields src/protocol/events.ts does not declare: ${JSON.stringify(e)}`);
  });
}

/**
 * Runs `rollcall launch` as a real process with an event log. `during` may act on the running
 * launcher (send it a signal) once `waitFor` says the log has reached the right point. Every
 * line of the log must be a typed event (assertEveryEventTyped).
 */
export async function runJob(
  args: string[],
  opts: { timeoutMs?: number; waitFor?: (evs: Ev[]) => boolean; during?: (pid: number) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<JobRun> {
  const events = join(mkdtempSync(join(tmpdir(), 'rollcall-test-')), 'events.jsonl');
  const child = spawn(process.execPath, [ROLLCALL, 'launch', '--events', events, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  let poll: NodeJS.Timeout | undefined;
  if (opts.waitFor && opts.during) {
    const { waitFor, during } = opts;
    poll = setInterval(() => {
      if (waitFor(readEvents(events))) {
        clearInterval(poll);
        during(child.pid as number);
      }
    }, 20);
  }
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  if (poll) clearInterval(poll);
  if (timedOut) throw new Error(`launcher did not finish within ${timeoutMs} ms\n${err}`);
  const run = { code, signal, out, err, events: readEvents(events) };
  assertEveryEventTyped(run.events);
  return run;
}

/** Alive and not a zombie (a container's init may never reap orphans). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Every program and FMS process the job ever started. */
export function jobPids(events: Ev[]): number[] {
  const pids = new Set<number>();
  for (const e of events) {
    if (e.event === 'program_started') {
      pids.add(e.pid as number);
      pids.add(e.fmsPid as number);
    }
  }
  return [...pids];
}

export const of = (events: Ev[], name: string): Ev[] => events.filter((e) => e.event === name);
export const first = (events: Ev[], name: string, pred: (e: Ev) => boolean = () => true): Ev | undefined => events.find((e) => e.event === name && pred(e));

/** Waits (polling, with a deadline) until none of `pids` is alive; returns those still alive. */
export async function waitAllDead(pids: number[], timeoutMs: number): Promise<number[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter(isAlive);
    if (alive.length === 0 || Date.now() > until) return alive;
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const TRAIN_PROGRAM = fileURLToPath(new URL('../../src/bench/train-program.js', import.meta.url));

/** Asserts the job completed and returns rank 0's result and every member's, by node. */
export function completedResults<T>(run: JobRun): { result: T; results: Record<string, T> } {
  if (run.code !== 0) throw new Error(`job exited with ${run.code}\n${run.err}`);
  const done = first(run.events, 'job_completed');
  if (!done) throw new Error(`no job_completed in the event log\n${run.err}`);
  return { result: done.result as T, results: done.results as Record<string, T> };
}

/** What the training program reports: the same weights on every member is the point of replace mode. */
export interface TrainResult {
  steps: number;
  digest: string;
  world: number;
}

/** Rank 0's result, after checking that every member ended with the same digest. */
export function completedTraining(run: JobRun): TrainResult {
  const { result, results } = completedResults<TrainResult>(run);
  for (const r of Object.values(results)) assert.equal(r.digest, result.digest, 'every member ends with the same weights');
  return result;
}

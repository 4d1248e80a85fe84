import { InvalidArgumentError } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';

/**
 * `slow`: the program slowed down from then on (launch/slow-down.ts), a straggler. `corrupt`: one
 * bit flipped in the node's state declared replicated, at its next commit (the program's SDK does
 * it on SIGUSR2: sdk/job.ts), for the members' digests to catch.
 */
export type ChaosKind = 'kill' | 'stop' | 'kill-node' | 'slow' | 'corrupt';
export type ChaosTarget = { node: number } | 'random';
export type ChaosTrigger = { step: number } | { atMs: number } | { everyMs: number };

export interface ChaosAction {
  kind: ChaosKind;
  target: ChaosTarget;
  trigger: ChaosTrigger;
  /** The action as written, trimmed: what logs and events should show. */
  spec: string;
}

const KINDS: readonly string[] = ['kill', 'stop', 'kill-node', 'slow', 'corrupt'] satisfies ChaosKind[];
const SHAPE = 'expected KIND:TARGET@TRIGGER, e.g. kill:node=2@step=30';

function nonNegativeInt(fail: (msg: string) => never, what: string, text: string): number {
  // The regex rejects forms Number() would accept ("", " 1", "0x10", "1e3").
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) fail(`bad ${what} "${text}" (expected a non-negative integer)`);
  return Number(text);
}

function duration(fail: (msg: string) => never, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text);
  if (!m) fail(`bad duration "${text}" (expected a number with unit ms or s, e.g. 1500ms or 2.5s; a bare number is ms)`);
  // Shifting the decimal point in the text keeps "1.1s" at exactly 1100, not 1100.0000000000002.
  return m[2] === 's' ? Number(`${m[1]}e3`) : Number(m[1]);
}

/** Parses `--chaos`: comma-separated `KIND:TARGET@TRIGGER` actions. Throws InvalidArgumentError. */
export function parseChaos(spec: string): ChaosAction[] {
  if (spec.trim() === '') throw new InvalidArgumentError(`chaos spec is empty (${SHAPE}, separated by commas)`);
  return spec.split(',').map((raw, i) => {
    const text = raw.trim();
    if (text === '') throw new InvalidArgumentError(`chaos spec "${spec}": action ${i + 1} is empty (${SHAPE})`);
    // Typed on the name, not the arrow, so TypeScript narrows after a call as it does after throw.
    const fail: (msg: string) => never = (msg) => {
      throw new InvalidArgumentError(`chaos action "${text}": ${msg}`);
    };
    const at = text.indexOf('@');
    const head = at < 0 ? text : text.slice(0, at);
    const colon = head.indexOf(':');
    if (colon < 0) fail(`missing ":" after the kind (${SHAPE})`);
    if (at < 0) fail(`missing "@" before the trigger (${SHAPE})`);
    const kind = head.slice(0, colon);
    if (!KINDS.includes(kind)) fail(`unknown kind "${kind}" (expected kill, stop, kill-node, slow or corrupt)`);
    const targetText = head.slice(colon + 1);
    let target: ChaosTarget;
    if (targetText === 'random') target = 'random';
    else if (targetText.startsWith('node=')) target = { node: nonNegativeInt(fail, 'node', targetText.slice(5)) };
    else target = fail(`bad target "${targetText}" (expected node=N or random)`);
    const trig = /^(step|t|every)=(.*)$/.exec(text.slice(at + 1));
    if (!trig) fail(`unknown trigger "${text.slice(at + 1)}" (expected step=N, t=DURATION or every=DURATION)`);
    const [, key, value = ''] = trig;
    let trigger: ChaosTrigger;
    if (key === 'step') trigger = { step: nonNegativeInt(fail, 'step', value) };
    else if (key === 't') trigger = { atMs: duration(fail, value) };
    else {
      const everyMs = duration(fail, value);
      // A zero period would re-arm forever at the same instant and starve the event loop.
      if (everyMs === 0) fail(`bad interval "${value}" (every= needs a duration greater than 0)`);
      trigger = { everyMs };
    }
    return { kind: kind as ChaosKind, target, trigger, spec: text };
  });
}

export interface ChaosFire {
  action: ChaosAction;
  node: number;
}

export interface ChaosSchedulerOptions {
  clock: Clock;
  /** Default Math.random; inject a seeded one to replay a chaos run. */
  random?: () => number;
  /** Node ids of the current members; random picks among these, and fixed targets must be in it. */
  targets(): number[];
  onFire(fire: ChaosFire): void;
  /** Gets what onFire threw (and must not throw itself); the scheduler goes on either way. */
  onError?(err: unknown, fire: ChaosFire): void;
}

/**
 * Decides when each chaos action fires and at whom; what firing does is the caller's (onFire).
 * step= and t= actions fire at most once, every= until stop(). A firing that finds no eligible
 * target (a fixed node that left, no members at all) is skipped, and still counts as the one
 * firing of a step= or t= action. Nothing fires before start() (step reports included) or after
 * stop(); start() works once.
 */
export class ChaosScheduler {
  private readonly random: () => number;
  private readonly done = new Set<ChaosAction>();
  private readonly timers = new Set<TimerHandle>();
  private state: 'new' | 'running' | 'stopped' = 'new';

  constructor(
    private readonly actions: ChaosAction[],
    private readonly opts: ChaosSchedulerOptions,
  ) {
    this.random = opts.random ?? Math.random;
  }

  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    const t0 = this.opts.clock.now();
    for (const a of this.actions) {
      if ('atMs' in a.trigger) this.arm(t0 + a.trigger.atMs, () => this.fire(a));
      else if ('everyMs' in a.trigger) this.repeat(a, a.trigger.everyMs, t0 + a.trigger.everyMs);
    }
  }

  onStep(node: number, step: number): void {
    for (const a of this.actions) {
      if (this.state !== 'running') return; // onFire may have called stop()
      if (!('step' in a.trigger) || this.done.has(a) || step < a.trigger.step) continue;
      if (a.target !== 'random' && a.target.node !== node) continue;
      this.done.add(a);
      this.fire(a);
    }
  }

  stop(): void {
    this.state = 'stopped';
    for (const h of this.timers) this.opts.clock.clearTimeout(h);
    this.timers.clear();
  }

  private arm(due: number, fn: () => void): void {
    const h = this.opts.clock.setTimeout(() => {
      this.timers.delete(h);
      fn();
    }, due - this.opts.clock.now());
    this.timers.add(h);
  }

  private repeat(a: ChaosAction, everyMs: number, due: number): void {
    this.arm(due, () => {
      // Periods missed while the event loop was blocked are dropped, not fired in a burst:
      // killing several nodes at once is a different experiment from the one asked for.
      const missed = Math.floor((this.opts.clock.now() - due) / everyMs);
      this.repeat(a, everyMs, due + (Math.max(0, missed) + 1) * everyMs);
      this.fire(a);
    });
  }

  private fire(action: ChaosAction): void {
    if (this.state !== 'running') return;
    // Sorted so a seeded random picks the same node whatever order membership lists them in.
    const members = [...this.opts.targets()].sort((x, y) => x - y);
    let node: number | undefined;
    if (action.target === 'random') node = members[Math.min(members.length - 1, Math.floor(this.random() * members.length))];
    else if (members.includes(action.target.node)) node = action.target.node;
    if (node === undefined) return;
    const fire = { action, node };
    try {
      this.opts.onFire(fire);
    } catch (err) {
      this.opts.onError?.(err, fire);
    }
  }
}

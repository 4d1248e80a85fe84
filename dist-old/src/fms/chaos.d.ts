import type { Clock } from './clock.js';
export type ChaosKind = 'kill' | 'stop' | 'kill-node';
export type ChaosTarget = {
    node: number;
} | 'random';
export type ChaosTrigger = {
    step: number;
} | {
    atMs: number;
} | {
    everyMs: number;
};
export interface ChaosAction {
    kind: ChaosKind;
    target: ChaosTarget;
    trigger: ChaosTrigger;
    /** The action as written, trimmed: what logs and events should show. */
    spec: string;
}
/** Parses `--chaos`: comma-separated `KIND:TARGET@TRIGGER` actions. Throws InvalidArgumentError. */
export declare function parseChaos(spec: string): ChaosAction[];
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
export declare class ChaosScheduler {
    private readonly actions;
    private readonly opts;
    private readonly random;
    private readonly done;
    private readonly timers;
    private state;
    constructor(actions: ChaosAction[], opts: ChaosSchedulerOptions);
    start(): void;
    onStep(node: number, step: number): void;
    stop(): void;
    private arm;
    private repeat;
    private fire;
}

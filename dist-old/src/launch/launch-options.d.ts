import { z } from 'zod';
import { type ChaosAction } from '../fms/chaos.js';
import { type MembershipPolicy } from '../fms/membership.js';
import { type ProxyKind } from '../proxy/proxy.js';
/** Everything `rollcall launch` accepts, checked in one place so a bad flag never starts a process. */
export declare const LaunchOptionsSchema: z.ZodObject<{
    nodes: z.ZodNumber;
    spares: z.ZodDefault<z.ZodNumber>;
    minNodes: z.ZodOptional<z.ZodNumber>;
    onFault: z.ZodOptional<z.ZodEnum<{
        replace: "replace";
        shrink: "shrink";
        restart: "restart";
    }>>;
    events: z.ZodOptional<z.ZodString>;
    heartbeatMs: z.ZodDefault<z.ZodNumber>;
    faultTimeoutMs: z.ZodOptional<z.ZodNumber>;
    chaos: z.ZodOptional<z.ZodString>;
    command: z.ZodArray<z.ZodString>;
    job: z.ZodOptional<z.ZodString>;
    startTimeoutMs: z.ZodDefault<z.ZodNumber>;
    quiet: z.ZodDefault<z.ZodBoolean>;
    stateDir: z.ZodOptional<z.ZodString>;
    keep: z.ZodDefault<z.ZodNumber>;
    persistEvery: z.ZodDefault<z.ZodNumber>;
    replicateEvery: z.ZodDefault<z.ZodNumber>;
    proxy: z.ZodDefault<z.ZodEnum<{
        inline: "inline";
        thread: "thread";
    }>>;
    resume: z.ZodOptional<z.ZodString>;
}, z.core.$strip>;
export type LaunchInput = z.input<typeof LaunchOptionsSchema>;
export interface LaunchOptions {
    nodes: number;
    spares: number;
    minNodes: number;
    policy: MembershipPolicy;
    events: string | undefined;
    heartbeatMs: number;
    faultTimeoutMs: number;
    chaos: ChaosAction[];
    command: string[];
    job: string | undefined;
    startTimeoutMs: number;
    quiet: boolean;
    /** Undefined: a temporary directory, made by the launcher. */
    stateDir: string | undefined;
    keep: number;
    persistEvery: number;
    replicateEvery: number;
    proxy: ProxyKind;
    resume: boolean;
}
/** Whether `dir` holds committed versions of some slot (what --resume needs). */
export declare function hasVersions(dir: string): boolean;
/** Validates and fills defaults; throws InvalidArgumentError naming the flag. */
export declare function resolveLaunchOptions(input: LaunchInput): LaunchOptions;

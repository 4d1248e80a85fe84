import { z } from 'zod';
export declare const SerializedErrorSchema: z.ZodObject<{
    name: z.ZodString;
    code: z.ZodString;
    message: z.ZodString;
    failedRanks: z.ZodOptional<z.ZodReadonly<z.ZodArray<z.ZodNumber>>>;
    rank: z.ZodOptional<z.ZodNumber>;
    reason: z.ZodOptional<z.ZodString>;
    detectedBy: z.ZodOptional<z.ZodNumber>;
    detail: z.ZodOptional<z.ZodString>;
    missingRanks: z.ZodOptional<z.ZodReadonly<z.ZodArray<z.ZodNumber>>>;
}, z.core.$strip>;
export declare const ToProgramSchema: z.ZodDiscriminatedUnion<[z.ZodObject<{
    type: z.ZodLiteral<"config">;
    job: z.ZodString;
    node: z.ZodNumber;
    store: z.ZodString;
    secret: z.ZodString;
    fms: z.ZodString;
    heartbeatMs: z.ZodNumber;
    rendezvousTimeoutMs: z.ZodNumber;
    recoveryTimeoutMs: z.ZodNumber;
    commTimeoutMs: z.ZodNumber;
    stateDir: z.ZodString;
    keep: z.ZodNumber;
    persistEvery: z.ZodNumber;
    replicateEvery: z.ZodNumber;
    proxy: z.ZodEnum<{
        inline: "inline";
        thread: "thread";
    }>;
}, z.core.$strip>, z.ZodObject<{
    type: z.ZodLiteral<"generation">;
    generation: z.ZodNumber;
    rank: z.ZodNumber;
    world: z.ZodNumber;
    members: z.ZodArray<z.ZodNumber>;
    slot: z.ZodNumber;
}, z.core.$strip>, z.ZodObject<{
    type: z.ZodLiteral<"idle">;
    generation: z.ZodNumber;
}, z.core.$strip>], "type">;
export type ToProgram = z.infer<typeof ToProgramSchema>;
export declare const FromProgramSchema: z.ZodDiscriminatedUnion<[z.ZodObject<{
    type: z.ZodLiteral<"hello">;
    pid: z.ZodNumber;
    version: z.ZodLiteral<1>;
}, z.core.$strip>, z.ZodObject<{
    type: z.ZodLiteral<"warm">;
}, z.core.$strip>, z.ZodObject<{
    type: z.ZodLiteral<"proxy_ready">;
    generation: z.ZodNumber;
    ms: z.ZodNumber;
}, z.core.$strip>, z.ZodObject<{
    type: z.ZodLiteral<"proxy_broken">;
    generation: z.ZodNumber;
    error: z.ZodObject<{
        name: z.ZodString;
        code: z.ZodString;
        message: z.ZodString;
        failedRanks: z.ZodOptional<z.ZodReadonly<z.ZodArray<z.ZodNumber>>>;
        rank: z.ZodOptional<z.ZodNumber>;
        reason: z.ZodOptional<z.ZodString>;
        detectedBy: z.ZodOptional<z.ZodNumber>;
        detail: z.ZodOptional<z.ZodString>;
        missingRanks: z.ZodOptional<z.ZodReadonly<z.ZodArray<z.ZodNumber>>>;
    }, z.core.$strip>;
}, z.core.$strip>, z.ZodObject<{
    type: z.ZodLiteral<"resumed">;
    generation: z.ZodNumber;
    ts: z.ZodNumber;
    stepsRedone: z.ZodOptional<z.ZodNumber>;
}, z.core.$strip>, z.ZodObject<{
    type: z.ZodLiteral<"event">;
    event: z.ZodString;
    fields: z.ZodRecord<z.ZodString, z.ZodUnknown>;
}, z.core.$strip>, z.ZodObject<{
    type: z.ZodLiteral<"progress">;
    step: z.ZodNumber;
}, z.core.$strip>, z.ZodObject<{
    type: z.ZodLiteral<"closing">;
}, z.core.$strip>, z.ZodObject<{
    type: z.ZodLiteral<"result">;
    value: z.ZodUnknown;
}, z.core.$strip>], "type">;
export type FromProgram = z.infer<typeof FromProgramSchema>;
export declare const IPC_VERSION: 1;

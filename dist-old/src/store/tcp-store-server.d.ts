import { z } from 'zod';
declare const OptionsSchema: z.ZodObject<{
    host: z.ZodOptional<z.ZodString>;
    port: z.ZodOptional<z.ZodNumber>;
    secret: z.ZodOptional<z.ZodString>;
    historyLimit: z.ZodOptional<z.ZodNumber>;
}, z.core.$strip>;
export type StoreServerOptions = z.input<typeof OptionsSchema>;
export interface StoreServer {
    /** "host:port" as clients should dial it. */
    readonly address: string;
    close(): Promise<void>;
}
/** Serves one MemoryStore over TCP (newline-delimited JSON; see wire.ts). */
export declare function startStoreServer(options?: StoreServerOptions): Promise<StoreServer>;
export {};

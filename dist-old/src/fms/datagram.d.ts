import { z } from 'zod';
export declare const FaultCauseSchema: z.ZodEnum<{
    connection: "connection";
    exit: "exit";
    heartbeat: "heartbeat";
}>;
export type FaultCause = z.infer<typeof FaultCauseSchema>;
export declare const DatagramSchema: z.ZodDiscriminatedUnion<[z.ZodObject<{
    type: z.ZodLiteral<"heartbeat">;
    node: z.ZodNumber;
}, z.core.$strip>, z.ZodObject<{
    type: z.ZodLiteral<"program_heartbeat">;
    node: z.ZodNumber;
    pid: z.ZodNumber;
}, z.core.$strip>, z.ZodObject<{
    type: z.ZodLiteral<"fault">;
    by: z.ZodNumber;
    failed: z.ZodArray<z.ZodNumber>;
    cause: z.ZodEnum<{
        connection: "connection";
        exit: "exit";
        heartbeat: "heartbeat";
    }>;
    generation: z.ZodNumber;
}, z.core.$strip>], "type">;
export type Datagram = z.infer<typeof DatagramSchema>;
export declare function encodeDatagram(job: string, secret: string, d: Datagram): Buffer;
/** Throws ProtocolError for a malformed datagram and AuthError for one without the job's secret. */
export declare function decodeDatagram(job: string, secret: string, buf: Buffer): Datagram;
export interface DatagramEndpoint {
    readonly address: string;
    send(to: string, d: Datagram): void;
    close(): void;
}
/**
 * Binds a loopback (or given host) UDP socket. Bad datagrams are counted and handed to onBad,
 * never thrown: a stray packet must not take an FMS down.
 */
export declare function openDatagramEndpoint(opts: {
    job: string;
    secret: string;
    host?: string;
    onDatagram(d: Datagram): void;
    onBad?(err: Error): void;
}): Promise<DatagramEndpoint>;

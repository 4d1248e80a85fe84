import { z } from 'zod';
import { AuthError } from '../errors.js';
/**
 * Mutual authentication in four frames: the dialer says who it is and sends a nonce; the
 * acceptor answers with its own nonce and an HMAC over both; the dialer checks that and
 * answers with its HMAC; the acceptor checks and says READY. Both MACs bind the job, the
 * generation and both ranks, so a frame from another job or an older generation is refused.
 */
export declare const HelloSchema: z.ZodObject<{
    job: z.ZodString;
    generation: z.ZodNumber;
    from: z.ZodNumber;
    to: z.ZodNumber;
    world: z.ZodNumber;
    nonce: z.ZodString;
}, z.core.$strip>;
export type Hello = z.infer<typeof HelloSchema>;
export declare const HelloAckSchema: z.ZodObject<{
    nonce: z.ZodString;
    mac: z.ZodString;
}, z.core.$strip>;
export declare const AuthSchema: z.ZodObject<{
    mac: z.ZodString;
}, z.core.$strip>;
export declare const RejectSchema: z.ZodObject<{
    code: z.ZodString;
    message: z.ZodString;
}, z.core.$strip>;
export declare function newNonce(): string;
export declare function handshakeMac(secret: string, role: 'acceptor' | 'dialer', hello: Hello, acceptorNonce: string): string;
export declare function macMatches(expected: string, got: string): boolean;
export declare function encodeJson(value: unknown): Uint8Array;
/** Parses a handshake payload; anything malformed is a protocol error naming the peer. */
export declare function decodeJson<T>(schema: z.ZodType<T>, payload: Uint8Array, what: string, from: string): T;
export declare function authFailure(from: string): AuthError;

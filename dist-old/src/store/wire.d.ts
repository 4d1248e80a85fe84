import { z } from 'zod';
/**
 * What the TCP store server and client share: the newline-delimited JSON messages, the line
 * framing, the auth token, and the argument checks (run on both sides of the wire so the memory
 * and TCP backends reject the same calls with the same errors).
 */
export declare const PROTOCOL_VERSION = 1;
/** Bounds what one client can make the server buffer before it sees a newline. */
export declare const MAX_REQUEST_BYTES: number;
/** Replies (a large `list`) may legitimately exceed a request; still bounded against a bad peer. */
export declare const MAX_REPLY_BYTES: number;
export declare const RequestSchema: z.ZodDiscriminatedUnion<[z.ZodObject<{
    id: z.ZodNumber;
    op: z.ZodLiteral<"auth">;
    token: z.ZodString;
}, z.core.$strip>, z.ZodObject<{
    id: z.ZodNumber;
    op: z.ZodLiteral<"get">;
    key: z.ZodString;
}, z.core.$strip>, z.ZodObject<{
    id: z.ZodNumber;
    op: z.ZodLiteral<"list">;
    prefix: z.ZodString;
}, z.core.$strip>, z.ZodObject<{
    id: z.ZodNumber;
    op: z.ZodLiteral<"put">;
    key: z.ZodString;
    value: z.ZodString;
    lease: z.ZodOptional<z.ZodNumber>;
}, z.core.$strip>, z.ZodObject<{
    id: z.ZodNumber;
    op: z.ZodLiteral<"cas">;
    key: z.ZodString;
    expectedRevision: z.ZodNumber;
    value: z.ZodString;
    lease: z.ZodOptional<z.ZodNumber>;
}, z.core.$strip>, z.ZodObject<{
    id: z.ZodNumber;
    op: z.ZodLiteral<"delete">;
    key: z.ZodString;
}, z.core.$strip>, z.ZodObject<{
    id: z.ZodNumber;
    op: z.ZodLiteral<"grant">;
    ttlMs: z.ZodNumber;
}, z.core.$strip>, z.ZodObject<{
    id: z.ZodNumber;
    op: z.ZodLiteral<"keepAlive">;
    lease: z.ZodNumber;
}, z.core.$strip>, z.ZodObject<{
    id: z.ZodNumber;
    op: z.ZodLiteral<"revoke">;
    lease: z.ZodNumber;
}, z.core.$strip>, z.ZodObject<{
    id: z.ZodNumber;
    op: z.ZodLiteral<"watch">;
    watch: z.ZodNumber;
    prefix: z.ZodString;
    fromRevision: z.ZodOptional<z.ZodNumber>;
}, z.core.$strip>, z.ZodObject<{
    id: z.ZodNumber;
    op: z.ZodLiteral<"unwatch">;
    watch: z.ZodNumber;
}, z.core.$strip>], "op">;
export type Request = z.infer<typeof RequestSchema>;
export declare const KeyValueSchema: z.ZodObject<{
    key: z.ZodString;
    value: z.ZodString;
    modRevision: z.ZodNumber;
    lease: z.ZodNumber;
}, z.core.$strip>;
export declare const WatchEventSchema: z.ZodDiscriminatedUnion<[z.ZodObject<{
    type: z.ZodLiteral<"put">;
    kv: z.ZodObject<{
        key: z.ZodString;
        value: z.ZodString;
        modRevision: z.ZodNumber;
        lease: z.ZodNumber;
    }, z.core.$strip>;
}, z.core.$strip>, z.ZodObject<{
    type: z.ZodLiteral<"delete">;
    key: z.ZodString;
    modRevision: z.ZodNumber;
}, z.core.$strip>], "type">;
declare const WireErrorSchema: z.ZodObject<{
    code: z.ZodString;
    message: z.ZodString;
}, z.core.$strip>;
export type WireError = z.infer<typeof WireErrorSchema>;
declare const HelloSchema: z.ZodObject<{
    nonce: z.ZodString;
    version: z.ZodNumber;
    auth: z.ZodBoolean;
}, z.core.$strip>;
declare const WatchPushSchema: z.ZodUnion<readonly [z.ZodObject<{
    watch: z.ZodNumber;
    event: z.ZodDiscriminatedUnion<[z.ZodObject<{
        type: z.ZodLiteral<"put">;
        kv: z.ZodObject<{
            key: z.ZodString;
            value: z.ZodString;
            modRevision: z.ZodNumber;
            lease: z.ZodNumber;
        }, z.core.$strip>;
    }, z.core.$strip>, z.ZodObject<{
        type: z.ZodLiteral<"delete">;
        key: z.ZodString;
        modRevision: z.ZodNumber;
    }, z.core.$strip>], "type">;
}, z.core.$strip>, z.ZodObject<{
    watch: z.ZodNumber;
    error: z.ZodObject<{
        code: z.ZodString;
        message: z.ZodString;
    }, z.core.$strip>;
}, z.core.$strip>]>;
export type ServerMessage = {
    kind: 'hello';
    hello: z.infer<typeof HelloSchema>;
} | ({
    kind: 'watch';
} & z.infer<typeof WatchPushSchema>) | {
    kind: 'reply';
    id: number;
    ok: true;
    reply: Record<string, unknown>;
} | {
    kind: 'reply';
    id: number | null;
    ok: false;
    error: WireError;
};
/** Sorts a parsed line by its distinguishing field, then checks it against that kind's schema. */
export declare function parseServerMessage(raw: unknown): ServerMessage;
export declare const Replies: {
    get: z.ZodObject<{
        kv: z.ZodOptional<z.ZodObject<{
            key: z.ZodString;
            value: z.ZodString;
            modRevision: z.ZodNumber;
            lease: z.ZodNumber;
        }, z.core.$strip>>;
    }, z.core.$strip>;
    list: z.ZodObject<{
        kvs: z.ZodArray<z.ZodObject<{
            key: z.ZodString;
            value: z.ZodString;
            modRevision: z.ZodNumber;
            lease: z.ZodNumber;
        }, z.core.$strip>>;
        revision: z.ZodNumber;
    }, z.core.$strip>;
    put: z.ZodObject<{
        revision: z.ZodNumber;
    }, z.core.$strip>;
    cas: z.ZodObject<{
        written: z.ZodBoolean;
        current: z.ZodOptional<z.ZodObject<{
            key: z.ZodString;
            value: z.ZodString;
            modRevision: z.ZodNumber;
            lease: z.ZodNumber;
        }, z.core.$strip>>;
    }, z.core.$strip>;
    delete: z.ZodObject<{
        deleted: z.ZodBoolean;
    }, z.core.$strip>;
    grant: z.ZodObject<{
        lease: z.ZodNumber;
        ttlMs: z.ZodNumber;
    }, z.core.$strip>;
    empty: z.ZodObject<{}, z.core.$strip>;
};
export declare function describeIssues(err: z.ZodError): string;
export declare function toWireError(err: unknown): WireError;
/** Domain-separated so a MAC from another Rollcall handshake using the same secret never passes here. */
export declare function authToken(secret: string, nonce: string): string;
export declare function tokenMatches(expected: string, got: string): boolean;
/** Splits a byte stream into lines without ever holding more than `maxBytes` of an unfinished one. */
export declare class LineSplitter {
    private readonly maxBytes;
    private parts;
    private size;
    constructor(maxBytes: number);
    /** Throws ProtocolError once an unterminated line grows past the limit. */
    push(chunk: Buffer): string[];
    private append;
}
export declare function formatAddress(host: string, port: number): string;
export declare function parseAddress(address: string): {
    host: string;
    port: number;
};
export declare function checkKey(key: unknown): asserts key is string;
export declare function checkPrefix(prefix: unknown): asserts prefix is string;
export declare function checkValue(value: unknown): asserts value is string;
export declare function checkTtl(ttlMs: unknown): asserts ttlMs is number;
export declare function checkCount(n: unknown, what: string): asserts n is number;
export {};

/**
 * Keeper to keeper messages over TCP: `u32 json length | json | u32 body length | body`. Small
 * and binary-safe: a version travels as its encoded bytes, never as JSON.
 */
export interface WireMessage {
    head: Record<string, unknown>;
    body: Uint8Array;
}
export declare function frame(head: Record<string, unknown>, body?: Uint8Array): Buffer[];
/**
 * Splits a byte stream into messages; throws ProtocolError on nonsense (the caller drops the
 * peer). Chunks are joined once per message, when all of it has arrived: joining on every chunk
 * copied a 4 MiB replica some sixty times over (16 ms of a core per replica).
 */
export declare class MessageReader {
    private chunks;
    private have;
    /** Bytes the message at the front needs before anything more can be parsed. */
    private need;
    push(chunk: Buffer, onMessage: (m: WireMessage) => void): void;
}
export declare function keeperToken(secret: string, job: string): string;
export declare function tokenOk(expected: string, got: unknown): boolean;
/**
 * A connection to another node's keeper, one request at a time, each with a deadline. Any error
 * closes it; the next request reconnects.
 */
export declare class KeeperClient {
    readonly address: string;
    private readonly token;
    private sock;
    private reader;
    private waiting;
    private queue;
    constructor(address: string, token: string);
    request(head: Record<string, unknown>, body: Uint8Array | undefined, timeoutMs: number): Promise<WireMessage>;
    private exchange;
    private connected;
    close(): void;
}

import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { InvalidArgumentError, ProtocolError, RollcallError } from '../errors.js';
import { NO_JIT } from '../protocol/no-jit.js';

/**
 * What the TCP store server and client share: the newline-delimited JSON messages, the line
 * framing, the auth token, and the argument checks (run on both sides of the wire so the memory
 * and TCP backends reject the same calls with the same errors).
 */
export const PROTOCOL_VERSION = 1;
/** Bounds what one client can make the server buffer before it sees a newline. */
export const MAX_REQUEST_BYTES = 1024 * 1024;
/** Replies (a large `list`) may legitimately exceed a request; still bounded against a bad peer. */
export const MAX_REPLY_BYTES = 64 * 1024 * 1024;

const id = z.number().int().nonnegative();
const leaseId = z.number().int().nonnegative();

export const RequestSchema = z.discriminatedUnion('op', [
  z.object({ id, op: z.literal('auth'), token: z.string().regex(/^[0-9a-f]{64}$/, 'token must be 64 hex digits') }),
  z.object({ id, op: z.literal('get'), key: z.string() }),
  z.object({ id, op: z.literal('list'), prefix: z.string() }),
  z.object({ id, op: z.literal('put'), key: z.string(), value: z.string(), lease: leaseId.optional() }),
  z.object({ id, op: z.literal('cas'), key: z.string(), expectedRevision: z.number().int(), value: z.string(), lease: leaseId.optional() }),
  z.object({ id, op: z.literal('delete'), key: z.string() }),
  z.object({ id, op: z.literal('grant'), ttlMs: z.number() }),
  z.object({ id, op: z.literal('keepAlive'), lease: leaseId }),
  z.object({ id, op: z.literal('revoke'), lease: leaseId }),
  // The client picks the watch id so it can route replayed events that arrive before the reply.
  z.object({ id, op: z.literal('watch'), watch: id, prefix: z.string(), fromRevision: z.number().int().optional() }),
  z.object({ id, op: z.literal('unwatch'), watch: id }),
]);
export type Request = z.infer<typeof RequestSchema>;

export const KeyValueSchema = z.object({ key: z.string(), value: z.string(), modRevision: z.number().int(), lease: leaseId });
export const WatchEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('put'), kv: KeyValueSchema }),
  z.object({ type: z.literal('delete'), key: z.string(), modRevision: z.number().int() }),
]);
const WireErrorSchema = z.object({ code: z.string(), message: z.string() });
export type WireError = z.infer<typeof WireErrorSchema>;

const HelloSchema = z.object({ nonce: z.string().regex(/^[0-9a-f]{64}$/), version: z.number().int(), auth: z.boolean() });
const WatchPushSchema = z.union([z.object({ watch: id, event: WatchEventSchema }), z.object({ watch: id, error: WireErrorSchema })]);
const ReplySchema = z.union([
  // Fields beyond id/ok depend on the op; the client checks them with the op's reply schema.
  z.looseObject({ id, ok: z.literal(true) }),
  // id is null when the server could not tell which request a bad line was.
  z.object({ id: id.nullable(), ok: z.literal(false), error: WireErrorSchema }),
]);

export type ServerMessage =
  | { kind: 'hello'; hello: z.infer<typeof HelloSchema> }
  | ({ kind: 'watch' } & z.infer<typeof WatchPushSchema>)
  | { kind: 'reply'; id: number; ok: true; reply: Record<string, unknown> }
  | { kind: 'reply'; id: number | null; ok: false; error: WireError };

/** Sorts a parsed line by its distinguishing field, then checks it against that kind's schema. */
export function parseServerMessage(raw: unknown): ServerMessage {
  const check = <S extends z.ZodType>(schema: S, value: unknown): z.infer<S> => {
    const r = schema.safeParse(value, NO_JIT);
    if (!r.success) throw new ProtocolError(describeIssues(r.error));
    return r.data;
  };
  if (typeof raw !== 'object' || raw === null) throw new ProtocolError('message is not a JSON object');
  if ('hello' in raw) return { kind: 'hello', hello: check(HelloSchema, raw.hello) };
  if ('watch' in raw) return { kind: 'watch', ...check(WatchPushSchema, raw) };
  const r = check(ReplySchema, raw);
  return r.ok ? { kind: 'reply', id: r.id, ok: true, reply: r } : { kind: 'reply', id: r.id, ok: false, error: r.error };
}

export const Replies = {
  get: z.object({ kv: KeyValueSchema.optional() }),
  list: z.object({ kvs: z.array(KeyValueSchema), revision: z.number().int() }),
  put: z.object({ revision: z.number().int() }),
  cas: z.object({ written: z.boolean(), current: KeyValueSchema.optional() }),
  delete: z.object({ deleted: z.boolean() }),
  grant: z.object({ lease: leaseId, ttlMs: z.number() }),
  empty: z.object({}),
};

export function describeIssues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') : 'message'}: ${i.message}`).join('; ');
}

export function toWireError(err: unknown): WireError {
  if (err instanceof RollcallError) return { code: err.code, message: err.message };
  return { code: 'ERR_STORE_UNAVAILABLE', message: err instanceof Error ? err.message : String(err) };
}

/** Domain-separated so a MAC from another Rollcall handshake using the same secret never passes here. */
export function authToken(secret: string, nonce: string): string {
  return createHmac('sha256', secret).update(`rollcall-store-auth|v${PROTOCOL_VERSION}|${nonce}`).digest('hex');
}

export function tokenMatches(expected: string, got: string): boolean {
  const a = Buffer.from(expected, 'hex');
  const b = Buffer.from(got, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Splits a byte stream into lines without ever holding more than `maxBytes` of an unfinished one. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxBytes: number) {}

  /** Throws ProtocolError once an unterminated line grows past the limit. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.append(chunk.subarray(start, nl));
      lines.push(Buffer.concat(this.parts, this.size).toString('utf8'));
      this.parts = [];
      this.size = 0;
      start = nl + 1;
    }
    if (start < chunk.length) this.append(chunk.subarray(start));
    return lines;
  }

  private append(piece: Buffer): void {
    this.size += piece.length;
    if (this.size > this.maxBytes) throw new ProtocolError(`line longer than ${this.maxBytes} bytes`);
    this.parts.push(piece);
  }
}

export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new InvalidArgumentError(`bad store address ${JSON.stringify(address)}: want "host:port"`);
  return { host: (m[1] ?? m[2])!, port };
}

// Argument checks shared by MemoryStore and the TCP client.

export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidArgumentError(`store key must be a non-empty string, got ${JSON.stringify(key)}`);
}

export function checkPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string') throw new InvalidArgumentError(`store prefix must be a string, got ${typeof prefix}`);
}

export function checkValue(value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new InvalidArgumentError(`store value must be a string, got ${typeof value}`);
}

export function checkTtl(ttlMs: unknown): asserts ttlMs is number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new InvalidArgumentError(`lease ttlMs must be a positive finite number, got ${String(ttlMs)}`);
  }
}

export function checkCount(n: unknown, what: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${what} must be a non-negative integer, got ${String(n)}`);
}

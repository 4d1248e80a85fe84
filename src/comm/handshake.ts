import { z } from 'zod';
import { AuthError, ProtocolError } from '../errors.js';
import { challengeMac, MacSchema, NonceSchema } from '../protocol/challenge.js';
import { NO_JIT } from '../protocol/no-jit.js';

export { macMatches, newNonce } from '../protocol/challenge.js';

/**
 * Mutual authentication in four frames: the dialer says who it is and sends a nonce; the
 * acceptor answers with its own nonce and an HMAC over both; the dialer checks that and
 * answers with its HMAC; the acceptor checks and says READY. Both MACs bind the job, the
 * generation and both ranks, so a frame from another job or an older generation is refused.
 */
export const HelloSchema = z.object({
  job: z.string().min(1).max(256),
  generation: z.number().int().nonnegative(),
  from: z.number().int().nonnegative(),
  to: z.number().int().nonnegative(),
  world: z.number().int().positive(),
  nonce: NonceSchema,
});
export type Hello = z.infer<typeof HelloSchema>;

export const HelloAckSchema = z.object({ nonce: NonceSchema, mac: MacSchema });
export const AuthSchema = z.object({ mac: MacSchema });
export const RejectSchema = z.object({ code: z.string(), message: z.string() });

export function handshakeMac(secret: string, role: 'acceptor' | 'dialer', hello: Hello, acceptorNonce: string): string {
  return challengeMac(secret, 'rollcall-v1', role, [hello.job, hello.generation, hello.from, hello.to, hello.world], hello.nonce, acceptorNonce);
}

export function encodeJson(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value));
}

/** Parses a handshake payload; anything malformed is a protocol error naming the peer. */
export function decodeJson<T>(schema: z.ZodType<T>, payload: Uint8Array, what: string, from: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch {
    throw new ProtocolError(`${from}: ${what} is not valid JSON`);
  }
  const r = schema.safeParse(raw, NO_JIT);
  if (!r.success) throw new ProtocolError(`${from}: malformed ${what}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

export function authFailure(from: string, rank?: number): AuthError {
  return new AuthError(`${from}: handshake MAC does not match; the peer does not hold this job's secret`, { rank });
}

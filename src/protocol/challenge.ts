import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * The nonce challenge every service that authenticates a connection with the job secret uses:
 * the communicator's handshake (comm/handshake.ts) and the state keeper's (keeper-wire.ts). Each
 * side contributes a fresh nonce and proves the secret with a MAC over both, so an exchange is
 * good for its own connection only: captured and replayed, it meets a new nonce and fails.
 */
export const NonceSchema = z.string().regex(/^[0-9a-f]{32}$/);
export const MacSchema = z.string().regex(/^[0-9a-f]{64}$/);

export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

/**
 * `domain` keeps one service's MAC from being accepted by another; `role` keeps the acceptor's
 * answer from being sent back as the dialer's; `context` binds what the dialer claimed (job,
 * generation, ranks).
 */
export function challengeMac(
  secret: string,
  domain: string,
  role: 'acceptor' | 'dialer',
  context: readonly (string | number)[],
  dialerNonce: string,
  acceptorNonce: string,
): string {
  return createHmac('sha256', secret)
    .update([domain, role, ...context, dialerNonce, acceptorNonce].join('|'))
    .digest('hex');
}

/** Constant-time; false for anything that is not the expected MAC, malformed hex included. */
export function macMatches(expected: string, got: string): boolean {
  const a = Buffer.from(expected, 'hex');
  const b = Buffer.from(got, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

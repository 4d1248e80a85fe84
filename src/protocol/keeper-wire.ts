import { z } from 'zod';
import { challengeMac, MacSchema, NonceSchema } from './challenge.js';
import { ProtocolError } from '../errors.js';

/**
 * Keeper to keeper messages over TCP: `u32 json length | json | u32 body length | body`. Small
 * and binary-safe: a version travels as its encoded bytes, never as JSON.
 */
export interface WireMessage {
  head: Record<string, unknown>;
  body: Uint8Array;
}

const MAX_HEAD = 1 << 20;
const MAX_BODY = 2 ** 31 - 1;

export function frame(head: Record<string, unknown>, body: Uint8Array = new Uint8Array(0)): Buffer[] {
  const h = Buffer.from(JSON.stringify(head));
  const a = Buffer.alloc(4);
  a.writeUInt32LE(h.length);
  const b = Buffer.alloc(4);
  b.writeUInt32LE(body.byteLength);
  return [a, h, b, Buffer.from(body.buffer, body.byteOffset, body.byteLength)];
}

/**
 * Splits a byte stream into messages; throws ProtocolError on nonsense (the caller drops the
 * peer). Chunks are joined once per message, when all of it has arrived: joining on every chunk
 * copied a 4 MiB replica many times over (docs/benchmarks.md, "Tuning choices and the figures
 * behind them").
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private have = 0;
  /** Bytes the message at the front needs before anything more can be parsed. */
  private need = 4;

  push(chunk: Buffer, onMessage: (m: WireMessage) => void): void {
    this.chunks.push(chunk);
    this.have += chunk.length;
    while (this.have >= this.need) {
      const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.have);
      this.chunks = [all];
      const hl = all.readUInt32LE(0);
      if (hl > MAX_HEAD) throw new ProtocolError(`state message header of ${hl} bytes`);
      if (all.length < 8 + hl) {
        this.need = 8 + hl;
        continue;
      }
      const bl = all.readUInt32LE(4 + hl);
      if (bl > MAX_BODY) throw new ProtocolError(`state message body of ${bl} bytes`);
      if (all.length < 8 + hl + bl) {
        this.need = 8 + hl + bl;
        continue;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(all.subarray(4, 4 + hl).toString('utf8'));
      } catch {
        throw new ProtocolError('state message header is not JSON');
      }
      // Readers index the head by field: `null` or a number there would be a TypeError, not a refusal.
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ProtocolError('state message header is not a JSON object');
      const head = parsed as Record<string, unknown>;
      const body = new Uint8Array(all.buffer, all.byteOffset + 8 + hl, bl);
      const rest = all.subarray(8 + hl + bl);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.have = rest.length;
      this.need = 4;
      onMessage({ head, body });
    }
  }
}

/**
 * Authentication, a nonce challenge with the job secret (the communicator's: comm/handshake.ts).
 * The dialer sends `hello` with its nonce; the keeper answers `challenge` with its own nonce and
 * its MAC over both, which proves to the dialer that it talks to a keeper of this job; the dialer
 * answers `auth` with its MAC. Both MACs cover both nonces, so a captured exchange is good for
 * its own connection only: replayed, it meets a new keeper nonce and is refused. A refusal is
 * `refused` with the reason, then the keeper closes the connection.
 */
const KEEPER_DOMAIN = 'rollcall-keeper-v1';

export const KeeperHelloSchema = z.object({ op: z.literal('hello'), job: z.string().min(1).max(256), nonce: NonceSchema });
export const KeeperChallengeSchema = z.object({ op: z.literal('challenge'), nonce: NonceSchema, mac: MacSchema });
export const KeeperAuthSchema = z.object({ op: z.literal('auth'), mac: MacSchema });
export type KeeperHello = z.infer<typeof KeeperHelloSchema>;

export function keeperMac(secret: string, role: 'acceptor' | 'dialer', job: string, dialerNonce: string, keeperNonce: string): string {
  return challengeMac(secret, KEEPER_DOMAIN, role, [job], dialerNonce, keeperNonce);
}

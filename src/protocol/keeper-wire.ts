import { createHmac, timingSafeEqual } from 'node:crypto';
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
      let head: Record<string, unknown>;
      try {
        head = JSON.parse(all.subarray(4, 4 + hl).toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new ProtocolError('state message header is not JSON');
      }
      const body = new Uint8Array(all.buffer, all.byteOffset + 8 + hl, bl);
      const rest = all.subarray(8 + hl + bl);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.have = rest.length;
      this.need = 4;
      onMessage({ head, body });
    }
  }
}

export function keeperToken(secret: string, job: string): string {
  return createHmac('sha256', secret).update(`rollcall-state\n${job}`).digest('hex');
}

export function tokenOk(expected: string, got: unknown): boolean {
  if (typeof got !== 'string' || got.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(expected), Buffer.from(got));
}

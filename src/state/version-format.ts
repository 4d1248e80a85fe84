import { createRequire } from 'node:module';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { z } from 'zod';
import { CorruptStateError } from '../errors.js';
import { NO_JIT } from '../protocol/no-jit.js';

/**
 * One committed version of a program's state, as it lives in memory (entries are views over
 * SharedArrayBuffers the program copied into) and as bytes on disk or on the wire:
 *
 *   magic "RCST" | u32 format version | u32 header length | header JSON | u32 header CRC-32
 *   | entry payloads, each padded to 8 bytes
 *
 * Every entry carries its own CRC-32 in the header, so a copy is verified entry by entry, and a
 * replica can skip entries the receiver already holds with the same checksum (the weights of a
 * data-parallel job are the same on every node).
 */
export const STATE_FORMAT_VERSION = 1;
const MAGIC = 0x54534352; // "RCST" little-endian

export const EntryKindSchema = z.enum(['float32', 'float64', 'int32', 'json']);
export type EntryKind = z.infer<typeof EntryKindSchema>;

export const EntryMetaSchema = z.object({
  name: z.string().min(1),
  kind: EntryKindSchema,
  bytes: z.number().int().nonnegative(),
  crc: z.number().int().nonnegative(),
});
export type EntryMeta = z.infer<typeof EntryMetaSchema>;

export const VersionMetaSchema = z.object({
  /** The slot whose state this is: the node that first held the rank, inherited by replacements. */
  slot: z.number().int().nonnegative(),
  version: z.number().int().nonnegative(),
  step: z.number().int().nonnegative(),
  entries: z.array(EntryMetaSchema),
});
export type VersionMeta = z.infer<typeof VersionMetaSchema>;

export interface StateVersion {
  meta: VersionMeta;
  /** Payloads in entry order; never written to after the commit that made them. */
  data: Uint8Array[];
}

/**
 * CRC-32 (the IEEE polynomial, as zlib's). @node-rs/crc32 folds with carry-less multiplication
 * and is much faster than zlib's; on 2 busy cores that difference is step time
 * (docs/benchmarks.md, "Fourth session: commits without a copy, a faster CRC, a fairer loop").
 * Both give the same value, so the format does not depend on which one a node has; a platform
 * without the prebuilt binary falls back to zlib's.
 */
const crc32: (bytes: Uint8Array) => number = (() => {
  try {
    const native = (createRequire(import.meta.url)('@node-rs/crc32') as { crc32: (b: Uint8Array) => number }).crc32;
    return (b: Uint8Array) => native(b);
  } catch {
    return zlibCrc32;
  }
})();

export function checksum(bytes: Uint8Array): number {
  return crc32(bytes);
}

/** The payload CRCs that do not match the header: empty means intact. */
export function corruptEntries(v: StateVersion): string[] {
  const bad: string[] = [];
  v.meta.entries.forEach((e, i) => {
    const d = v.data[i];
    if (!d || d.byteLength !== e.bytes || checksum(d) !== e.crc) bad.push(e.name);
  });
  return bad;
}

const pad8 = (n: number): number => (n + 7) & ~7;

/** The encoded version as pieces (header, then each payload and its padding), for writev. */
export function encodeVersionParts(v: StateVersion): Uint8Array[] {
  const header = Buffer.from(JSON.stringify(v.meta));
  const head = Buffer.alloc(pad8(12 + header.length + 4));
  head.writeUInt32LE(MAGIC, 0);
  head.writeUInt32LE(STATE_FORMAT_VERSION, 4);
  head.writeUInt32LE(header.length, 8);
  header.copy(head, 12);
  head.writeUInt32LE(crc32(header), 12 + header.length);
  const parts: Uint8Array[] = [head];
  const zeros = new Uint8Array(8);
  for (const d of v.data) {
    parts.push(d);
    const padding = pad8(d.byteLength) - d.byteLength;
    if (padding > 0) parts.push(zeros.subarray(0, padding));
  }
  return parts;
}

export function encodeVersion(v: StateVersion): Buffer {
  return Buffer.concat(encodeVersionParts(v));
}

/**
 * Parses and verifies a version. `where` names the file or peer for the error message. Payloads
 * are copied into fresh SharedArrayBuffers so they can be handed to the program's arrays.
 */
export function decodeVersion(buf: Uint8Array, where: string): StateVersion {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const fail = (why: string): never => {
    throw new CorruptStateError(where, `${where}: ${why}`);
  };
  if (b.length < 16) fail(`truncated (${b.length} bytes, no header)`);
  if (b.readUInt32LE(0) !== MAGIC) fail('not a Rollcall state version (bad magic)');
  const fmt = b.readUInt32LE(4);
  if (fmt !== STATE_FORMAT_VERSION) fail(`format version ${fmt}, this Rollcall reads ${STATE_FORMAT_VERSION}`);
  const hlen = b.readUInt32LE(8);
  if (12 + hlen + 4 > b.length) fail('truncated header');
  const header = b.subarray(12, 12 + hlen);
  if (crc32(header) !== b.readUInt32LE(12 + hlen)) fail('header checksum mismatch');
  let raw: unknown;
  try {
    raw = JSON.parse(header.toString('utf8'));
  } catch {
    fail('header is not JSON');
  }
  const parsed = VersionMetaSchema.safeParse(raw, NO_JIT);
  if (!parsed.success) fail(`bad header: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const meta = (parsed as { data: VersionMeta }).data;
  let at = pad8(12 + hlen + 4);
  const data: Uint8Array[] = [];
  for (const e of meta.entries) {
    if (at + e.bytes > b.length) fail(`truncated in entry "${e.name}"`);
    const copy = new Uint8Array(new SharedArrayBuffer(e.bytes));
    copy.set(b.subarray(at, at + e.bytes));
    if (crc32(copy) !== e.crc) fail(`entry "${e.name}" checksum mismatch`);
    data.push(copy);
    at += pad8(e.bytes);
  }
  return { meta, data };
}

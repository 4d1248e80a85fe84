import { createRequire } from 'node:module';
import { crc32 as zlibCrc32 } from 'node:zlib';

/**
 * The digest the members compare to catch silent data corruption (sdk/state-verifier.ts): of the
 * entries a program declares identical on every member, in entry order. 53 bits, so that it
 * travels exactly as one float64 (8 bytes) in an allreduce: the high 32 are the CRC-32 of the
 * bytes, the low 21 the top of their CRC-32C. Two CRCs of different polynomials: any bit flip
 * changes the first, and an unlucky error pattern that leaves one unchanged is unlikely to
 * leave the other. Both are folded with carry-less multiplication by @node-rs/crc32: about 1 ms
 * for 4 MiB here, four times a copy of it, which is why only every so many commits are digested
 * (docs/benchmarks.md, "Corruption and double faults (2026-12-07)").
 */
type Crc = (bytes: Uint8Array, initial?: number) => number;

const crcs: { crc32: Crc; crc32c: Crc | undefined } = (() => {
  try {
    const m = createRequire(import.meta.url)('@node-rs/crc32') as { crc32: Crc; crc32c: Crc };
    return { crc32: (b, i) => m.crc32(b, i), crc32c: (b, i) => m.crc32c(b, i) };
  } catch {
    return { crc32: (b, i) => zlibCrc32(b, i), crc32c: undefined };
  }
})();

/** 2^21: the low part's range. */
const LOW = 0x200000;

export function stateDigest(entries: readonly Uint8Array[]): number {
  let a = 0;
  let b = 0;
  for (const e of entries) {
    a = crcs.crc32(e, a);
    // Without the native module, a second zlib CRC-32 from another start value stands in: weaker
    // (it catches what the first catches), still a digest every member computes alike.
    b = crcs.crc32c ? crcs.crc32c(e, b) : zlibCrc32(e, b ^ 0x5bd1e995);
  }
  return (a >>> 0) * LOW + ((b >>> 11) & (LOW - 1));
}

/** For the log: 14 hex digits. */
export const digestHex = (d: number): string => d.toString(16).padStart(14, '0');

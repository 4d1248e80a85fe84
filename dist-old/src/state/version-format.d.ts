import { z } from 'zod';
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
export declare const STATE_FORMAT_VERSION = 1;
export declare const EntryKindSchema: z.ZodEnum<{
    float32: "float32";
    float64: "float64";
    int32: "int32";
    json: "json";
}>;
export type EntryKind = z.infer<typeof EntryKindSchema>;
export declare const EntryMetaSchema: z.ZodObject<{
    name: z.ZodString;
    kind: z.ZodEnum<{
        float32: "float32";
        float64: "float64";
        int32: "int32";
        json: "json";
    }>;
    bytes: z.ZodNumber;
    crc: z.ZodNumber;
}, z.core.$strip>;
export type EntryMeta = z.infer<typeof EntryMetaSchema>;
export declare const VersionMetaSchema: z.ZodObject<{
    slot: z.ZodNumber;
    version: z.ZodNumber;
    step: z.ZodNumber;
    entries: z.ZodArray<z.ZodObject<{
        name: z.ZodString;
        kind: z.ZodEnum<{
            float32: "float32";
            float64: "float64";
            int32: "int32";
            json: "json";
        }>;
        bytes: z.ZodNumber;
        crc: z.ZodNumber;
    }, z.core.$strip>>;
}, z.core.$strip>;
export type VersionMeta = z.infer<typeof VersionMetaSchema>;
export interface StateVersion {
    meta: VersionMeta;
    /** Payloads in entry order; never written to after the commit that made them. */
    data: Uint8Array[];
}
export declare function checksum(bytes: Uint8Array): number;
/** The payload CRCs that do not match the header: empty means intact. */
export declare function corruptEntries(v: StateVersion): string[];
/** The encoded version as pieces (header, then each payload and its padding), for writev. */
export declare function encodeVersionParts(v: StateVersion): Uint8Array[];
export declare function encodeVersion(v: StateVersion): Buffer;
/**
 * Parses and verifies a version. `where` names the file or peer for the error message. Payloads
 * are copied into fresh SharedArrayBuffers so they can be handed to the program's arrays.
 */
export declare function decodeVersion(buf: Uint8Array, where: string): StateVersion;

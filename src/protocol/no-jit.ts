/**
 * Options for every zod parse in Rollcall: no compiled fast path.
 *
 * zod compiles a parser for each object schema (`new Function`) the first time a value goes
 * through it. Most of Rollcall's messages are seen first on the recovery path (`idle`,
 * `proxy_broken`, an abort frame, a handshake with a new partner), so every node paid those
 * compilations there, all at once: in a profile of a 32-node recovery the programs spent about
 * a tenth of their CPU in zod, most of it compiling (docs/benchmarks.md, "Where a 32-node
 * recovery's CPU goes"). Interpreted, a parse of these small messages costs the same, a few
 * microseconds. Passed per call, not set with `z.config()`, so that a program's own schemas
 * (which may share our zod) keep the default.
 */
export const NO_JIT = { jitless: true } as const;

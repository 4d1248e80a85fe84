import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * What a program loads. Every module a program imports lives in its heap for the whole job, and
 * the log's schema (protocol/events.ts, 2.4 MB of zod objects) made each recovery's rendezvous
 * about 20 ms slower when the SDK loaded it (docs/benchmarks.md, eighth session). The walk
 * follows the compiled static imports (type-only ones are erased) from the SDK's entry points.
 */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+)'/gm)) visit(resolve(dirname(file), m[1]!));
    for (const m of readFileSync(file, 'utf8').matchAll(/^import\s+'(\.{1,2}\/[^']+)'/gm)) visit(resolve(dirname(file), m[1]!));
  };
  visit(resolve(SRC, entry));
  return seen;
}

describe('what a program loads', () => {
  for (const entry of ['index.js', 'sdk/job.js', 'state/keeper-thread.js', 'sdk/heartbeat-thread.js', 'proxy/proxy-worker.js']) {
    it(`${entry}: not the event log's schema, the launcher, the FMS or the dashboard`, () => {
      const files = [...reachable(entry)].map((f) => f.slice(SRC.length + 1));
      assert.ok(files.includes(entry) && files.length > 1, 'the walk follows imports');
      for (const f of files) assert.ok(!/^(protocol\/events|launch\/|fms\/|dashboard\/|demo\/|cli\/)/.test(f), `${entry} loads ${f}`);
    });
  }

  it('sdk/heartbeat-thread.js loads nothing but the host parser and Node built-ins: its packet is signed on the main thread, so it beats within milliseconds of starting (loading the codec in it took 6-8 s under load)', () => {
    const files = [...reachable('sdk/heartbeat-thread.js')].map((f) => f.slice(SRC.length + 1));
    assert.deepEqual(files.sort(), ['sdk/heartbeat-thread.js', 'util/host.js']);
    for (const f of files) {
      const bare = [...readFileSync(resolve(SRC, f), 'utf8').matchAll(/^import\s[^;]*?from\s+'([^.'][^']*)'/gm)].map((m) => m[1]!);
      assert.deepEqual(bare.filter((m) => !m.startsWith('node:')), [], `${f} imports packages`);
    }
  });

  it('the walk finds a module that is there (it would see protocol/events.js if the SDK loaded it)', () => {
    assert.ok([...reachable('launch/launcher.js')].some((f) => f.endsWith('protocol/events.js')));
  });
});

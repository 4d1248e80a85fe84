import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * package.json's engines says which Node the code needs: the newest Node API a source file uses
 * sets the floor. An API missing from an older Node fails at module link time, with a message
 * that names neither the API's Node version nor the package.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Node APIs the code uses that are newer than 20.0, and the release that added each. */
const NEEDS: { what: string; pattern: RegExp; since: [number, number, number] }[] = [
  { what: "crc32 from 'node:zlib'", pattern: /import\s*\{[^}]*\bcrc32\b[^}]*\}\s*from\s*'node:zlib'/, since: [20, 15, 0] },
];

const version = (v: string): [number, number, number] => v.split('.').map(Number) as [number, number, number];
const atLeast = (a: number[], b: number[]): boolean => {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return true;
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sources(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
}

describe('engines', () => {
  const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
  const min = version(/^>=(\d+\.\d+\.\d+)$/.exec(engines)?.[1] ?? '0.0.0');

  it('declares a minimum at least as new as every newer Node API the source uses', () => {
    const files = sources(join(ROOT, 'src'));
    for (const n of NEEDS) {
      const users = files.filter((f) => n.pattern.test(readFileSync(f, 'utf8')));
      if (users.length > 0) assert.ok(atLeast(min, n.since), `${users.join(', ')} use ${n.what} (Node ${n.since.join('.')}), but engines.node is ${engines}`);
    }
  });

  it('is met by the Node running the tests (CI runs the minimum or newer)', () => {
    assert.ok(atLeast(version(process.versions.node), min), `Node ${process.versions.node} does not satisfy engines.node ${engines}`);
  });
});

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FromKeeper } from '../../src/protocol/keeper-messages.js';
import { createKeeperCore, type KeeperCore } from '../../src/state/keeper-core.js';
import { MemoryStore } from '../../src/store/memory-store.js';

/** A keeper on a memory store and a temporary state directory, listening on loopback; every message it sends is kept in `out`. */
export async function startTestKeeper(job: string, secret: string): Promise<{ core: KeeperCore; out: FromKeeper[]; address: string }> {
  const out: FromKeeper[] = [];
  const store = new MemoryStore();
  let ready: (a: string) => void = () => undefined;
  const address = new Promise<string>((r) => (ready = r));
  const core = createKeeperCore(
    (m) => {
      out.push(m);
      if (m.type === 'ready') ready(m.address);
    },
    { openStore: () => Promise.resolve(store) },
  );
  core.handle({ type: 'init', job, secret, node: 0, store: 'memory', host: '127.0.0.1', stateDir: mkdtempSync(join(tmpdir(), `rollcall-${job}-`)), keep: 3, persistEvery: null, base: 1 });
  return { core, out, address: await address };
}

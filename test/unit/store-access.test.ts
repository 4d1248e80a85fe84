import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readStoreAccess } from '../../src/cli/store-flags.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { parseEtcdUrl } from '../../src/store/etcd-store.js';
import { openStore } from '../../src/store/open-store.js';

describe('store access (etcds:// flags)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rollcall-store-access-'));
  const file = (name: string, text: string): string => (writeFileSync(join(dir, name), text), join(dir, name));
  const ca = file('ca.pem', '-----BEGIN CERTIFICATE-----\nca\n');
  const pw = file('pw', 'hunter2-long-enough\n');

  it('etcds:// is the same endpoints over https', () => {
    assert.deepEqual(parseEtcdUrl('etcds://a:1,[::1]:2'), ['https://a:1', 'https://[::1]:2']);
    assert.deepEqual(parseEtcdUrl('etcd://a:1'), ['http://a:1']);
  });

  it('reads the files once, the password from its file (newline dropped) or ROLLCALL_STORE_PASSWORD', () => {
    assert.equal(readStoreAccess({ store: 'etcds://h:1' }), undefined);
    assert.deepEqual(readStoreAccess({ store: 'etcds://h:1', storeCa: ca, storeUser: 'u', storePasswordFile: pw }), { ca: '-----BEGIN CERTIFICATE-----\nca\n', user: 'u', password: 'hunter2-long-enough' });
    assert.deepEqual(readStoreAccess({ store: 'etcds://h:1', storeUser: 'u' }, { ROLLCALL_STORE_PASSWORD: 'from-env' }), { user: 'u', password: 'from-env' });
  });

  it('refuses what cannot work, naming the flag', () => {
    const bad = (o: Parameters<typeof readStoreAccess>[0], re: RegExp, env: NodeJS.ProcessEnv = {}): void =>
      assert.throws(() => readStoreAccess(o, env), (e: unknown) => e instanceof InvalidArgumentError && re.test(e.message));
    bad({ store: 'etcd://h:1', storeUser: 'u' }, /--store-user: for etcd over TLS only/);
    bad({ storeCa: ca }, /--store-ca: for etcd over TLS only/);
    bad({ store: 'etcds://h:1', storeCert: ca }, /--store-cert and --store-key go together/);
    bad({ store: 'etcds://h:1', storeUser: 'u' }, /no password/);
    bad({ store: 'etcds://h:1', storePasswordFile: pw }, /no --store-user/);
    bad({ store: 'etcds://h:1', storeCa: join(dir, 'missing.pem') }, /--store-ca .*missing\.pem/);
  });

  it('openStore refuses TLS material or a password for a store that is not etcds://', async () => {
    await assert.rejects(openStore('127.0.0.1:1', { access: { ca: 'x' } }), /for etcd over TLS only/);
    await assert.rejects(openStore('etcd://127.0.0.1:1', { access: { user: 'u', password: 'p' } }), /for etcd over TLS only/);
    await assert.rejects(openStore('etcds://127.0.0.1:1', { access: { user: 'u' } }), /a user needs a password/);
  });
});

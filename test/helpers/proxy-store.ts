import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { InlineProxy } from '../../src/proxy/inline-proxy.js';
import { ProxyHandle } from '../../src/proxy/proxy-handle.js';
import type { CommProxy, ProxyKind } from '../../src/proxy/proxy.js';
import { startStoreServer } from '../../src/store/tcp-store-server.js';

/** An embedded store for a file of proxy tests (started before them, closed after), and standby proxies of either kind on it. */
export function proxyStore(): { readonly address: string; secret: string; standby(kind: ProxyKind, timeoutMs?: number): Promise<CommProxy> } {
  const secret = randomBytes(8).toString('hex');
  let server: Awaited<ReturnType<typeof startStoreServer>> | undefined;
  before(async () => {
    server = await startStoreServer({ host: '127.0.0.1', port: 0, secret });
  });
  after(async () => {
    await server?.close();
  });
  const address = (): string => {
    if (!server) throw new Error('the store starts before the tests');
    return server.address;
  };
  return {
    get address() {
      return address();
    },
    secret,
    standby: (kind, timeoutMs = 10_000) => (kind === 'inline' ? InlineProxy.standby(address(), secret, timeoutMs) : ProxyHandle.standby(address(), secret, timeoutMs)),
  };
}

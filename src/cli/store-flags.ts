import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../errors.js';
import type { StoreAccess } from '../protocol/store-access.js';

/** Where `--store-user`'s password comes from without `--store-password-file`. */
export const STORE_PASSWORD_ENV = 'ROLLCALL_STORE_PASSWORD';

/** The flags of a secured etcd, on every command that takes `--store` (launch, node, events). */
export function storeFlags(cmd: Command): Command {
  return cmd
    .option('--store-ca <file>', "etcds://: the CA (PEM) that signed the members' certificates (default: the system's CAs)")
    .option('--store-cert <file>', 'etcds://: our client certificate (PEM), for a cluster that requires one')
    .option('--store-key <file>', "etcds://: the client certificate's key (PEM)")
    .option('--store-user <name>', "etcds://: etcd user, with its password from --store-password-file or $" + STORE_PASSWORD_ENV)
    .option('--store-password-file <file>', "etcds://: the etcd user's password (trailing newline dropped)");
}

export interface StoreFlagValues {
  store?: string;
  storeCa?: string;
  storeCert?: string;
  storeKey?: string;
  storeUser?: string;
  storePasswordFile?: string;
}

/**
 * The flags' files read once, here: a missing or unreadable one fails before any process starts,
 * and the PEM text travels to the node's processes with the job secret, over IPC.
 */
export function readStoreAccess(o: StoreFlagValues, env: NodeJS.ProcessEnv = process.env): StoreAccess | undefined {
  const flags: [keyof StoreFlagValues, string][] = [
    ['storeCa', '--store-ca'],
    ['storeCert', '--store-cert'],
    ['storeKey', '--store-key'],
    ['storeUser', '--store-user'],
    ['storePasswordFile', '--store-password-file'],
  ];
  const given = flags.filter(([k]) => o[k] !== undefined).map(([, f]) => f);
  if (given.length === 0) return undefined;
  if (!o.store?.startsWith('etcds://')) {
    // A password to etcd:// would cross the network in clear.
    throw new InvalidArgumentError(`${given.join(', ')}: for etcd over TLS only; give --store etcds://host:port[,host:port...]`);
  }
  if ((o.storeCert === undefined) !== (o.storeKey === undefined)) throw new InvalidArgumentError('--store-cert and --store-key go together');
  if (o.storePasswordFile !== undefined && o.storeUser === undefined) throw new InvalidArgumentError('--store-password-file: no --store-user to go with it');
  const read = (file: string | undefined, flag: string): string | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      throw new InvalidArgumentError(`${flag} ${file}: ${(e as Error).message}`);
    }
  };
  let password: string | undefined;
  if (o.storeUser !== undefined) {
    password = o.storePasswordFile !== undefined ? read(o.storePasswordFile, '--store-password-file')?.replace(/\r?\n$/, '') : env[STORE_PASSWORD_ENV];
    if (password === undefined || password === '') throw new InvalidArgumentError(`--store-user ${o.storeUser}: no password; give --store-password-file FILE or set ${STORE_PASSWORD_ENV}`);
  }
  const access: StoreAccess = {
    ca: read(o.storeCa, '--store-ca'),
    cert: read(o.storeCert, '--store-cert'),
    key: read(o.storeKey, '--store-key'),
    user: o.storeUser,
    password,
  };
  // Absent fields are left out, not carried as undefined through every configuration.
  return Object.fromEntries(Object.entries(access).filter(([, v]) => v !== undefined)) as StoreAccess;
}

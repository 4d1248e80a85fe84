import { z } from 'zod';

/**
 * How to reach a secured etcd (`etcds://`): TLS material and a user. Carried, with the job
 * secret, in the configuration each process of a node is given over IPC (never on a command
 * line, where `ps` shows it), so the launcher, every FMS, program, keeper and proxy opens the
 * store the same way. PEM text, not file names: read once, by the command that was given the
 * files, so a missing file fails before any process starts.
 */
export const StoreAccessSchema = z.object({
  /** The CA that signed the members' certificates; absent: the system's CAs. */
  ca: z.string().min(1).optional(),
  /** Our client certificate and its key, for a cluster that requires one (`--client-cert-auth`). */
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  /** etcd's password authentication. */
  user: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
});
export type StoreAccess = z.infer<typeof StoreAccessSchema>;

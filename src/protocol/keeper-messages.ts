import type { Cadence } from '../state/replica-cadence.js';
import type { FurtherStreamCost } from '../state/stream-cost.js';
import type { StateVersion, VersionMeta } from '../state/version-format.js';
import type { ProgramEventMessage } from './program-events.js';
import type { StoreAccess } from './store-access.js';

/** Program (main thread) <-> keeper thread messages. Payloads are SharedArrayBuffer views: shared, not copied. */
export interface KeeperInit {
  type: 'init';
  job: string;
  secret: string;
  node: number;
  store: string;
  storeAccess?: StoreAccess;
  /** Address the keeper listens on for replicas; advertised through the store. */
  host: string;
  stateDir: string;
  keep: number;
  /** Write every Nth version to disk; null: every 10th replicated one (see replica-cadence.ts). */
  persistEvery: number | null;
  /** The finest replica interval: every `base`th version, until the members choose a coarser one (see replica-cadence.ts). */
  base: number;
}

export type ToKeeper =
  | KeeperInit
  /** Which slot this node holds now, and whose keepers receive its replicas (`--replicas K` of them). */
  | { type: 'topology'; slot: number; buddies: number[] }
  /**
   * A new version; the keeper fills in the checksums. `replicate`: push it to the first buddy;
   * `further`: to the second and further ones too (their sparser lattice: replica-cadence.ts).
   */
  | { type: 'commit'; meta: VersionMeta; data: Uint8Array[]; replicate: boolean; further: boolean; persist: boolean }
  /** Which versions are replicated, written and kept from now on (the program decides, in step with the other members). */
  | { type: 'cadence'; cadence: Cadence; disk: Cadence }
  /**
   * `wide`: if neither the replica partners nor the disk hold a version of the slot, ask every
   * keeper of the job. Not at a job's start, when nothing is held anywhere yet and every node
   * asking every other would be O(N^2) requests.
   */
  | { type: 'list'; id: number; slot: number; wide?: boolean }
  /**
   * `any`: the state is all declared replicated, so the same version of any slot will do, from
   * this keeper's memory or any other's: the slot's own copies may all be lost.
   */
  | { type: 'fetch'; id: number; slot: number; version: number; any?: boolean }
  /** Answers once what was committed so far is written and at the buddy (or a deadline passed). */
  | { type: 'durable'; id: number; slot: number }
  /** Forget versions newer than `after` (they belong to a future that was rolled back). */
  | { type: 'truncate'; id: number; slot: number; after: number }
  /** What the further peers' stream has cost this keeper so far (state/stream-cost.ts): for the state bench. */
  | { type: 'stream_cost'; id: number };

export type FromKeeper =
  | { type: 'ready'; address: string }
  /**
   * `error`: the failure's message only, not a SerializedError (error-wire.ts): the program uses
   * nothing else of it (a failed fetch becomes a NoCommonStateError with it, a failed truncate a
   * state_error event) and rejects the request with a plain Error.
   */
  | { type: 'reply'; id: number; versions?: { version: number; step: number }[]; version?: StateVersion; cost?: FurtherStreamCost; error?: string }
  /** For the event log, through the program and its FMS (protocol/events.ts). */
  | ProgramEventMessage
  /**
   * Snapshot buffers nothing here holds any more, with the version each was committed as: the
   * program may reuse them for later commits, unless it still reads one as its current value.
   */
  | { type: 'release'; items: { version: number; buffer: Uint8Array }[] };

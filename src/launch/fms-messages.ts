import type { FmsConfig, FmsEvent, FmsState } from '../fms/fms.js';

/** Launcher ↔ FMS process messages (Node IPC between processes of the same Rollcall build). */
export type ToFms = { type: 'start'; config: FmsConfig } | { type: 'stop' };

export type FromFms =
  | { type: 'ready'; node: number }
  | { type: 'event'; event: FmsEvent }
  | { type: 'progress'; node: number; step: number }
  | { type: 'finished'; node: number; state: FmsState; result?: unknown };

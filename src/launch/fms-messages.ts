import type { ChildProcess } from 'node:child_process';
import type { ProgramStats } from '../protocol/program-ipc.js';
import type { FmsConfig, FmsState } from '../fms/fms.js';
import type { LogEvent } from '../protocol/events.js';

/** Launcher ↔ FMS process messages (Node IPC between processes of the same Rollcall build). */
export type ToFms = { type: 'start'; config: FmsConfig } | { type: 'stop' };

export type FromFms =
  | { type: 'ready'; node: number }
  /** Sent last before an FMS exits; its delivery means every earlier message was delivered. */
  | { type: 'flush' }
  | { type: 'event'; event: LogEvent }
  | { type: 'progress'; node: number; step: number; stats?: ProgramStats | undefined }
  | { type: 'health'; node: number; phi: Record<string, number> }
  | { type: 'finished'; node: number; state: FmsState; result?: unknown };

/**
 * Sends to an FMS process if its channel is open. The channel can still close under the write
 * (the FMS exiting at that moment); without a callback Node raises that EPIPE as an uncaught
 * 'error' and takes the launcher down. The FMS's exit is reported by its 'exit' handler.
 */
export function sendToFms(child: ChildProcess, m: ToFms): void {
  if (child.connected) child.send(m, () => undefined);
}

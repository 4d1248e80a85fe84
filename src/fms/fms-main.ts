import { Fms, FmsState, type FmsConfig } from './fms.js';
import type { FromFms, ToFms } from '../protocol/fms-messages.js';

/**
 * Entry point of an FMS process, started by the launcher with an IPC channel. The launcher sends
 * the configuration (secrets never go on a command line, where `ps` would show them); the FMS
 * reports events back. If the launcher goes away, so does this node: nothing is left running.
 */
const send = (m: FromFms): void => {
  // With a callback: a launcher gone under the write is no uncaught EPIPE (its loss is handled on 'disconnect').
  if (process.connected) process.send?.(m, undefined, {}, () => undefined);
};

let fms: Fms | undefined;

/** Resolves once every message sent so far has been handed to the launcher (they go in order). */
function flush(): Promise<void> {
  if (!process.connected) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, 1000);
    process.send?.({ type: 'flush' } satisfies FromFms, undefined, {}, () => {
      clearTimeout(t);
      resolve();
    });
  });
}

let exiting = false;
async function shutdown(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  await fms?.stop().catch(() => undefined);
  await flush();
  process.exit(code);
}

process.on('message', (m: ToFms) => {
  if (m.type === 'start' && !fms) {
    const cfg: FmsConfig = m.config;
    fms = new Fms(cfg, {
      event: (e) => send({ type: 'event', event: e }),
      progress: (node, step, stats) => send({ type: 'progress', node, step, stats }),
      health: (node, phi) => send({ type: 'health', node, phi }),
      spawned: (pid) => send({ type: 'program', node: cfg.node, pid }),
      finished: (o) => {
        send({ type: 'finished', ...o });
        // A fenced node has left the job; its FMS has nothing left to do.
        if (o.state === FmsState.Fenced) void shutdown(0);
      },
    });
    fms.start().then(
      () => send({ type: 'ready', node: cfg.node }),
      (e: unknown) => {
        // Torn down while starting (the job already ended): nothing to report.
        if (!exiting) send({ type: 'event', event: { ts: Date.now(), event: 'fms_error', node: cfg.node, message: `FMS could not start: ${(e as Error).message}` } });
        void shutdown(1);
      },
    );
  } else if (m.type === 'stop') {
    void shutdown(0);
  } else if (m.type === 'slow') {
    fms?.slowProgram(m.factor);
  }
});
process.on('disconnect', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));

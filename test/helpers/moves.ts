import { REFUSED_MOVE } from '../../src/util/state-moves.js';

/** Collects the refused-move warnings raised while it listens (they are emitted on the next tick). */
export function refusedMoves(): { messages: string[]; stop: () => void } {
  const messages: string[] = [];
  const on = (w: Error): void => {
    if ((w as NodeJS.ErrnoException).code === REFUSED_MOVE) messages.push(w.message);
  };
  process.on('warning', on);
  return { messages, stop: () => process.off('warning', on) };
}

/** Lets process.nextTick and setImmediate callbacks run (warnings, in-memory deliveries). */
export const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Calls a machine's private transition function, as only a bug inside it could. */
export function forceMove<S>(machine: object, to: S): boolean {
  return (machine as { moveTo(to: S): boolean }).moveTo(to);
}

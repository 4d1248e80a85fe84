import { EventEmitter } from 'node:events';
import type { Datagram } from '../../src/protocol/datagram.js';
import type { DatagramEndpoint } from '../../src/fms/datagram-endpoint.js';
import { FmsState, type FmsConfig } from '../../src/fms/fms.js';
import type { Emit } from '../../src/fms/fms-shared.js';
import type { EventName, EventOf, LogEvent } from '../../src/protocol/events.js';
import type { ProgramExit } from '../../src/fms/program-process.js';
import { fmsConfig } from '../../src/launch/fms-config.js';
import { resolveLaunchOptions } from '../../src/launch/launch-options.js';
import type { FromProgram, ToProgram } from '../../src/protocol/program-ipc.js';

/**
 * Fakes for everything an FMS (or one of its parts) reaches: programs that are objects the test
 * drives, datagrams handed over in memory, and the few waits a test on the fake clock needs (the
 * memory store still answers on real promise turns).
 */

export class FakeProgram extends EventEmitter<{ message: [FromProgram]; bad: [string]; exit: [ProgramExit] }> {
  static nextPid = 1000;
  readonly pid = FakeProgram.nextPid++;
  running = true;
  readonly got: ToProgram[] = [];
  killedWith: NodeJS.Signals | undefined;
  send(m: ToProgram): void {
    this.got.push(m);
  }
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.running) return;
    this.killedWith = signal;
    this.exit({ code: null, signal, expected: true });
  }
  stop(): Promise<ProgramExit> {
    if (this.running) this.exit({ code: 0, signal: null, expected: true });
    return Promise.resolve({ code: 0, signal: null, expected: true });
  }
  /** Dies on its own (a crash): the FMS did not ask for it. */
  crash(): void {
    this.exit({ code: null, signal: 'SIGKILL', expected: false });
  }
  /** Exits on its own with `code`. */
  exitWith(code: number): void {
    this.exit({ code, signal: null, expected: false });
  }
  private exit(e: ProgramExit): void {
    this.running = false;
    this.emit('exit', e);
  }
  generations(): number[] {
    return this.got.flatMap((m) => (m.type === 'generation' ? [m.generation] : []));
  }
}

/** Datagrams between endpoints, delivered on a later turn; a muted node's go nowhere. */
export class Hub {
  private readonly handlers = new Map<string, (d: Datagram) => void>();
  readonly muted = new Set<string>();
  endpoint(node: number, onDatagram: (d: Datagram) => void): DatagramEndpoint {
    const address = `mem-${node}:1`;
    this.handlers.set(address, onDatagram);
    return {
      address,
      send: (to, d) => {
        if (this.muted.has(address)) return;
        queueMicrotask(() => this.handlers.get(to)?.(d));
      },
      close: () => this.handlers.delete(address),
    };
  }
  deliver(to: number, d: Datagram): void {
    this.handlers.get(`mem-${to}:1`)?.(d);
  }
}

/** Real time passes only for the store and promise turns; the FMS's own time is the fake clock. */
export const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await turn();
  }
}

/** Lets the store's promises and queued datagrams settle, for asserting that nothing happened. */
export async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await turn();
}

/** Timings the part tests share: heartbeat 100 ms, fault timeout 3 heartbeats, start timeout 5 s. */
export const HEARTBEAT = 100;
export const FAULT_TIMEOUT = 3 * HEARTBEAT;
export const START_TIMEOUT = 5000;

/** An FMS's configuration for `node` of a job of three members and one spare (nodes 0-3). */
export function testFmsConfig(job: string, node: number): FmsConfig {
  return fmsConfig(
    resolveLaunchOptions({ nodes: 3, spares: 1, heartbeatMs: HEARTBEAT, faultTimeoutMs: FAULT_TIMEOUT, startTimeoutMs: START_TIMEOUT, command: ['fake'] }),
    { job, node, secret: 's', store: 'memory', host: '127.0.0.1', stateDir: '/nonexistent' },
  );
}

/** An emit for a part alone: the events as its FMS would log them. */
export function recordEvents(node: number): { events: LogEvent[]; emit: Emit; of: <N extends EventName>(name: N) => EventOf<N>[] } {
  const events: LogEvent[] = [];
  return {
    events,
    emit: (event, fields, ts = Date.now()) => void events.push({ ts, event, node, ...fields } as LogEvent),
    of: <N extends EventName>(name: N) => events.filter((e): e is EventOf<N> => e.event === name),
  };
}

/** The FMS's state for a part alone: every move is made and remembered (the FMS's own rules are fms.test.ts's). */
export function stateHolder(initial: FmsState = FmsState.Starting): { state(): FmsState; moveTo(to: FmsState): boolean; moves: FmsState[] } {
  let current = initial;
  const moves: FmsState[] = [];
  return {
    state: () => current,
    moveTo: (to) => {
      if (to !== current) moves.push(to);
      current = to;
      return true;
    },
    moves,
  };
}

/**
 * A state machine's table of legal moves: for each state, the states it may go to next. Each
 * machine (communicator, proxy, job, FMS) changes its state in one function that
 * looks the move up here and refuses any other, so an illegal move is never made.
 */
export type Moves<S extends string> = Readonly<Record<S, readonly S[]>>;

/** The code of the process warning a refused move raises (process.on('warning') sees it). */
export const REFUSED_MOVE = 'ROLLCALL_REFUSED_MOVE';

export function isLegalMove<S extends string>(moves: Moves<S>, from: S, to: S): boolean {
  return moves[from].includes(to);
}

/**
 * Reports a refused move as a process warning: a bug in Rollcall, not a fault, so it neither
 * throws into a socket or timer callback nor breaks anything, and is never silent (Node prints
 * warnings on stderr unless told otherwise).
 */
export function warnRefusedMove(machine: string, from: string, to: string): void {
  process.emitWarning(`${machine}: refused the move from ${from} to ${to}`, { code: REFUSED_MOVE });
}

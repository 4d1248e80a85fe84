import type { Deadline } from '../util/deadline.js';

/**
 * A reliable, ordered byte stream to one peer. The communicator's framing, handshake and
 * collectives sit above this, so the same code runs on TCP and on the in-memory transport
 * used by unit tests.
 */
export interface Conn {
  /** Human-readable remote address, for error messages. */
  readonly remote: string;
  /**
   * Queues the chunks for sending, in order. `onFlushed` runs once the bytes no longer
   * reference the caller's memory (handed to the kernel, or copied), or with an error.
   */
  write(chunks: readonly Uint8Array[], onFlushed?: (err?: Error) => void): void;
  /** Registers the single reader; data may start flowing right after. */
  start(reader: ConnReader): void;
  /** Half-closes after queued writes flush (graceful). */
  end(): void;
  /** Tears down at once; the peer sees a reset. */
  destroy(err?: Error): void;
}

/**
 * Receives a connection's bytes. Transports that can read into caller memory use
 * readBuffer()/filled() and copy nothing; the others pass chunks to data().
 */
export interface ConnReader {
  data(chunk: Uint8Array): void;
  readBuffer(): Uint8Array;
  filled(n: number): void;
  closed(err: Error | undefined): void;
}

export interface Listener {
  /** Address others dial, e.g. "127.0.0.1:41234" or "mem://7". */
  readonly address: string;
  close(): void;
}

export interface Transport {
  /**
   * Listens on `host` at a port of the transport's choosing, or, given `again`, at that address
   * exactly (the one a listener of this node had before: a thread proxy's node keeps its address
   * across generations, proxy/thread-port.ts). Taken by someone else: an error with code EADDRINUSE.
   */
  listen(onConn: (conn: Conn) => void, host?: string, again?: string): Promise<Listener>;
  dial(address: string, deadline: Deadline): Promise<Conn>;
}

/**
 * Snapshot buffers for commits, reused: allocating a fresh 4 MiB SharedArrayBuffer per commit
 * cost far more than the copy itself (docs/architecture.md, "Versioned state and rollback"). A
 * buffer comes back when no version holds it any more, tagged with the version it was committed
 * as.
 *
 * Versions from `liveFrom` on may own a buffer the program reads as its current value (an
 * adopted draft, see `State.draft`). Theirs are not reused, or a later commit would write into
 * what the program is reading; such a buffer is left to the garbage collector. Version numbers
 * and not buffer identity, because a buffer that went through the keeper thread comes back as
 * a new object over the same memory.
 */
export class SnapshotPool {
  private readonly free = new Map<number, Uint8Array[]>();
  liveFrom = Infinity;

  /** A buffer of this size: a returned one if any, else a new one. */
  take(bytes: number): Uint8Array {
    return this.sized(bytes).pop() ?? new Uint8Array(new SharedArrayBuffer(bytes));
  }

  /** A buffer no version holds any more; `version` is the one it was committed as. */
  give(version: number, buffer: Uint8Array): void {
    if (version < this.liveFrom) this.sized(buffer.byteLength).push(buffer);
  }

  private sized(bytes: number): Uint8Array[] {
    let p = this.free.get(bytes);
    if (!p) this.free.set(bytes, (p = []));
    return p;
  }
}

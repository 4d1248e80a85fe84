/**
 * Snapshot buffers for commits, reused: allocating a fresh 4 MiB SharedArrayBuffer per commit
 * cost ten times the copy itself. A buffer comes back when no version holds it any more, tagged
 * with the version it was committed as.
 *
 * Versions from `liveFrom` on may own a buffer the program reads as its current value (an
 * adopted draft, see `State.draft`). Theirs are not reused, or a later commit would write into
 * what the program is reading; such a buffer is left to the garbage collector. Version numbers
 * and not buffer identity, because a buffer that went through the keeper thread comes back as
 * a new object over the same memory.
 */
export class SnapshotPool {
    free = new Map();
    liveFrom = Infinity;
    /** A buffer of this size: a returned one if any, else a new one. */
    take(bytes) {
        return this.sized(bytes).pop() ?? new Uint8Array(new SharedArrayBuffer(bytes));
    }
    /** A buffer no version holds any more; `version` is the one it was committed as. */
    give(version, buffer) {
        if (version < this.liveFrom)
            this.sized(buffer.byteLength).push(buffer);
    }
    sized(bytes) {
        let p = this.free.get(bytes);
        if (!p)
            this.free.set(bytes, (p = []));
        return p;
    }
}
//# sourceMappingURL=snapshot-pool.js.map
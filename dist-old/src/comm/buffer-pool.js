/**
 * Reusable byte buffers in power-of-two size classes. Frames that arrive before their
 * collective starts (the peer runs ahead, which the ring pipeline makes routine) must be
 * copied; allocating each copy afresh made the garbage collector a quarter of the run time.
 */
export class BufferPool {
    maxPerClass;
    free = new Map();
    constructor(maxPerClass = 64) {
        this.maxPerClass = maxPerClass;
    }
    take(len) {
        const cls = sizeClass(len);
        const ab = this.free.get(cls)?.pop() ?? new ArrayBuffer(cls);
        return new Uint8Array(ab, 0, len);
    }
    copy(src) {
        const out = this.take(src.byteLength);
        out.set(src);
        return out;
    }
    release(u8) {
        const ab = u8.buffer;
        const cls = ab.byteLength;
        if (cls !== sizeClass(cls))
            return;
        const list = this.free.get(cls) ?? [];
        this.free.set(cls, list);
        if (list.length < this.maxPerClass)
            list.push(ab);
    }
}
function sizeClass(len) {
    return len <= 64 ? 64 : 2 ** Math.ceil(Math.log2(len));
}
//# sourceMappingURL=buffer-pool.js.map
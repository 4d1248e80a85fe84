/**
 * Reusable byte buffers in power-of-two size classes. Frames that arrive before their
 * collective starts (the peer runs ahead, which the ring pipeline makes routine) must be
 * copied; allocating each copy afresh made the garbage collector a quarter of the run time.
 */
export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();

  constructor(private readonly maxPerClass = 64) {}

  take(len: number): Uint8Array {
    const cls = sizeClass(len);
    const ab = this.free.get(cls)?.pop() ?? new ArrayBuffer(cls);
    return new Uint8Array(ab, 0, len);
  }

  copy(src: Uint8Array): Uint8Array {
    const out = this.take(src.byteLength);
    out.set(src);
    return out;
  }

  release(u8: Uint8Array): void {
    const ab = u8.buffer as ArrayBuffer;
    const cls = ab.byteLength;
    if (cls !== sizeClass(cls)) return;
    const list = this.free.get(cls) ?? [];
    this.free.set(cls, list);
    if (list.length < this.maxPerClass) list.push(ab);
  }
}

function sizeClass(len: number): number {
  return len <= 64 ? 64 : 2 ** Math.ceil(Math.log2(len));
}

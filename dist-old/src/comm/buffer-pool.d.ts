/**
 * Reusable byte buffers in power-of-two size classes. Frames that arrive before their
 * collective starts (the peer runs ahead, which the ring pipeline makes routine) must be
 * copied; allocating each copy afresh made the garbage collector a quarter of the run time.
 */
export declare class BufferPool {
    private readonly maxPerClass;
    private readonly free;
    constructor(maxPerClass?: number);
    take(len: number): Uint8Array;
    copy(src: Uint8Array): Uint8Array;
    release(u8: Uint8Array): void;
}

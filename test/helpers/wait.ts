/**
 * Settles `p` and says how long it took. The store's own timers are unref()'d by design, so this
 * keeps the test process up meanwhile.
 */
export async function settle<T>(p: Promise<T>): Promise<{ value?: T; err?: unknown; ms: number }> {
  const t0 = Date.now();
  const keepAlive = setInterval(() => {}, 1000);
  try {
    return { value: await p, ms: Date.now() - t0 };
  } catch (err) {
    return { err, ms: Date.now() - t0 };
  } finally {
    clearInterval(keepAlive);
  }
}

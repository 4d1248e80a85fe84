/**
 * Waits until the keys under `prefix` satisfy `ready`, using one list and then a watch, so it
 * sees every change without polling. Rejects with `onTimeout()` at the deadline.
 */
export async function waitForPrefix(store, prefix, ready, deadline, onTimeout, signal) {
    const { kvs, revision } = await store.list(prefix);
    const state = new Map(kvs.map((kv) => [kv.key, kv]));
    const first = ready(state);
    if (first !== undefined)
        return first;
    return new Promise((resolve, reject) => {
        let watcher;
        let done = false;
        const finish = (err, value) => {
            if (done)
                return;
            done = true;
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            watcher?.close();
            if (err)
                reject(err);
            else
                resolve(value);
        };
        const timer = setTimeout(() => finish(onTimeout(state)), Math.max(0, deadline - Date.now()));
        timer.unref();
        const onAbort = () => finish(new Error('aborted'));
        signal?.addEventListener('abort', onAbort, { once: true });
        store
            .watch(prefix, (ev) => {
            if (ev.type === 'put')
                state.set(ev.kv.key, ev.kv);
            else
                state.delete(ev.key);
            const v = ready(state);
            if (v !== undefined)
                finish(undefined, v);
        }, { fromRevision: revision + 1, onError: (e) => finish(e) })
            .then((w) => {
            watcher = w;
            if (done)
                w.close();
        }, (e) => finish(e instanceof Error ? e : new Error(String(e))));
    });
}
//# sourceMappingURL=store.js.map
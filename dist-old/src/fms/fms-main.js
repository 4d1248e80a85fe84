import { Fms, FmsState } from './fms.js';
/**
 * Entry point of an FMS process, started by the launcher with an IPC channel. The launcher sends
 * the configuration (secrets never go on a command line, where `ps` would show them); the FMS
 * reports events back. If the launcher goes away, so does this node: nothing is left running.
 */
const send = (m) => {
    if (process.connected)
        process.send?.(m);
};
let fms;
/** Resolves once every message sent so far has been handed to the launcher (they go in order). */
function flush() {
    if (!process.connected)
        return Promise.resolve();
    return new Promise((resolve) => {
        const t = setTimeout(resolve, 1000);
        process.send?.({ type: 'flush' }, undefined, {}, () => {
            clearTimeout(t);
            resolve();
        });
    });
}
let exiting = false;
async function shutdown(code) {
    if (exiting)
        return;
    exiting = true;
    await fms?.stop().catch(() => undefined);
    await flush();
    process.exit(code);
}
process.on('message', (m) => {
    if (m.type === 'start' && !fms) {
        const cfg = m.config;
        fms = new Fms(cfg, {
            event: (e) => send({ type: 'event', event: e }),
            progress: (node, step) => send({ type: 'progress', node, step }),
            finished: (o) => {
                send({ type: 'finished', ...o });
                // A fenced node has left the job; its FMS has nothing left to do.
                if (o.state === FmsState.Fenced)
                    void shutdown(0);
            },
        });
        fms.start().then(() => send({ type: 'ready', node: cfg.node }), (e) => {
            // Torn down while starting (the job already ended): nothing to report.
            if (!exiting)
                send({ type: 'event', event: { ts: Date.now(), event: 'fms_error', node: cfg.node, message: `FMS could not start: ${e.message}` } });
            void shutdown(1);
        });
    }
    else if (m.type === 'stop') {
        void shutdown(0);
    }
});
process.on('disconnect', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
//# sourceMappingURL=fms-main.js.map
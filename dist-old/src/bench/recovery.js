import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolveLaunchOptions } from '../launch/launch-options.js';
import { launch } from '../launch/launcher.js';
import { median } from '../util/stats.js';
const STEPS_PROGRAM = fileURLToPath(new URL('./steps-program.js', import.meta.url));
const TRAIN_PROGRAM = fileURLToPath(new URL('./train-program.js', import.meta.url));
const SAMPLE_TIMEOUT_MS = 60_000;
/**
 * One job per sample, each with one fault injected by --chaos at step 30 on a node chosen in
 * turn. The recovery time is the launcher's own `recovered` event: from the injection to the
 * last member running its next operation in the new generation, all timestamps taken where
 * they happened.
 */
export async function benchRecovery(o, out) {
    const results = [];
    if (!o.json)
        out(`${'mode'.padEnd(8)} ${'fault'.padEnd(6)} ${'median ms'.padStart(10)}  samples (ms)   [${o.nodes} nodes, ${o.spares} spare(s), heartbeat ${o.heartbeatMs} ms${o.state ? ', with state rollback' : ''}]`);
    for (const mode of o.modes) {
        for (const fault of o.faults) {
            const samples = [];
            for (let i = 0; i < o.samples; i++)
                samples.push(await oneRecovery(o, mode, fault, i % o.nodes));
            const r = { mode, fault, nodes: o.nodes, state: o.state, median_ms: median(samples), samples_ms: samples };
            results.push(r);
            out(o.json ? JSON.stringify(r) : `${mode.padEnd(8)} ${fault.padEnd(6)} ${r.median_ms.toFixed(0).padStart(10)}  ${samples.join(' ')}`);
        }
    }
    if (o.loadMs > 0) {
        const r = await falseDetectionsUnderLoad(o);
        out(o.json ? JSON.stringify(r) : `under load (${r.busy_processes} busy processes, ${r.duration_ms} ms, ${r.steps} steps): ${r.false_detections} false detection(s)`);
    }
    return results;
}
function programCommand(o) {
    // The training loop commits 256 KiB of weights every step; it stops when the bench stops it.
    if (o.state)
        return [process.execPath, TRAIN_PROGRAM, '--steps', '1000000', '--elements', '65536', '--step-ms', '5'];
    return [process.execPath, STEPS_PROGRAM, '--steps', '0', '--step-ms', '5'];
}
async function oneRecovery(o, mode, fault, node) {
    const opts = resolveLaunchOptions({
        nodes: o.nodes,
        spares: o.spares,
        onFault: mode,
        heartbeatMs: o.heartbeatMs,
        chaos: `${fault}:node=${node}@step=30`,
        command: programCommand(o),
        quiet: true,
    });
    const stop = new AbortController();
    let ms;
    const timer = setTimeout(() => stop.abort('sample timed out'), SAMPLE_TIMEOUT_MS);
    const r = await launch(opts, {
        stopSignal: stop.signal,
        onEvent: (e) => {
            if (e.event === 'recovered' && ms === undefined) {
                ms = e.ms;
                stop.abort('sample done');
            }
        },
    });
    clearTimeout(timer);
    if (ms === undefined)
        throw new Error(`${mode}/${fault} on node ${node}: no recovery (${r.outcome}: ${r.reason})`);
    return ms;
}
/** Busy loops, one per core and then some, started as separate processes. */
function busyProcesses(n) {
    return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
}
async function falseDetectionsUnderLoad(o) {
    const busy = busyProcesses(4);
    try {
        const opts = resolveLaunchOptions({ nodes: o.nodes, spares: o.spares, heartbeatMs: o.heartbeatMs, command: programCommand(o), quiet: true });
        const stop = new AbortController();
        let steps = 0;
        let started = 0;
        let timer;
        const r = await launch(opts, {
            stopSignal: stop.signal,
            onProgress: (_node, step) => (steps = Math.max(steps, step)),
            onEvent: (e) => {
                // The clock starts when the job runs, not while it starts up.
                if (e.event === 'proxy_started' && ++started === o.nodes)
                    timer = setTimeout(() => stop.abort('load run done'), o.loadMs);
            },
        });
        clearTimeout(timer);
        return {
            fault: 'none',
            busy_processes: busy.length,
            duration_ms: o.loadMs,
            steps,
            false_detections: r.events.filter((e) => e.event === 'fault_detected').length,
            heartbeat_ms: o.heartbeatMs,
        };
    }
    finally {
        for (const b of busy)
            b.kill('SIGKILL');
    }
}
//# sourceMappingURL=recovery.js.map
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { connect } from '../sdk/job.js';

/**
 * A deterministic stand-in for data-parallel training, used by the state tests and benches:
 * every step computes a "gradient" from the weights, the rank and the data position, averages
 * it with allreduce, updates the weights and commits. Same inputs and world size give the same
 * bits, so a run with faults (replace mode) must end with the digest of a run without.
 *
 *   node train-program.js [--steps N] [--elements E] [--step-ms MS] [--die-in-commit NODE:STEP] [--drafts] [--replicated]
 *
 * With --drafts the update is written into the state's draft and committed without a copy; the
 * arithmetic is the same, so are the bits.
 */
const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '100' },
    elements: { type: 'string', default: '4096' },
    'step-ms': { type: 'string', default: '2' },
    // Test hook: this node kills itself right after committing this step, before the keeper has
    // persisted or replicated that version.
    'die-in-commit': { type: 'string' },
    drafts: { type: 'boolean', default: false },
    // Declare the state replicated: the members compare digests, and any member restores it.
    replicated: { type: 'boolean', default: false },
  },
});
const steps = Number(values.steps);
const n = Number(values.elements);
const stepMs = Number(values['step-ms']);
const [dieNode, dieStep] = (values['die-in-commit'] ?? '-1:-1').split(':').map(Number) as [number, number];

const job = await connect();
const initial = new Float32Array(new SharedArrayBuffer(n * 4));
for (let i = 0; i < n; i++) initial[i] = (((i * 2654435761) >>> 0) % 1000) / 1000 - 0.5;
// Data-parallel: the weights and the position are the same on every member, and may be declared so.
const state = job.registerState({ weights: initial, data: { position: 0 } as { position: number } }, { replicated: values.replicated });
const grad = new Float32Array(new SharedArrayBuffer(n * 4));

await job.run(state, async (s) => {
  while (s.step < steps) {
    const pos = s.values.data.position;
    const w = s.values.weights;
    for (let i = 0; i < n; i++) grad[i] = Math.sin((w[i] as number) * 3 + pos * 0.01 + job.rank * 0.1 + i * 1e-4);
    await job.allreduce(grad, 'avg');
    const out = values.drafts ? s.draft('weights') : w;
    for (let i = 0; i < n; i++) out[i] = (w[i] as number) - 0.05 * (grad[i] as number);
    s.values.data = { position: pos + 1 };
    s.step += 1;
    s.commit();
    if (job.node === dieNode && s.step === dieStep) process.kill(process.pid, 'SIGKILL');
    job.progress(s.step);
    if (stepMs > 0) await new Promise((r) => setTimeout(r, stepMs));
  }
});
const digest = createHash('sha256').update(new Uint8Array(state.values.weights.buffer, state.values.weights.byteOffset, state.values.weights.byteLength)).digest('hex').slice(0, 16);
// No version number: which commits make versions follows the measured step time, so it differs
// from run to run; the steps and the weights must not.
job.result({ steps: state.step, digest, world: job.world });
await job.close();

import { parseArgs } from 'node:util';
import { MembershipChangedError } from '../errors.js';
import { connect } from '../sdk/job.js';

/**
 * A small job used by `rollcall bench recovery` and the end-to-end tests: every step allreduces
 * a vector of ones and checks that the sum equals the world size, so a step that ran with a wrong
 * membership is caught. After a membership change the members agree on the step to go on from
 * (the furthest any of them reached) before continuing.
 *
 *   node steps-program.js [--steps N] [--step-ms MS] [--exit-code-at STEP:CODE] [--die-at-generation NODE:G]
 *                         [--block-at NODE:STEP:MS] [--connect-after NODE:MS]
 */
const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '100' },
    'step-ms': { type: 'string', default: '5' },
    'exit-code-at': { type: 'string' },
    elements: { type: 'string', default: '1024' },
    // Test hook for "a second fault during a recovery": this node kills itself the moment it
    // learns of generation G, before the recovery to G has finished everywhere.
    'die-at-generation': { type: 'string' },
    // Test hook for "a long compute step is not a fault": this node's thread is busy for MS
    // (no event loop turns) at STEP, while the others wait for it in the next allreduce.
    'block-at': { type: 'string' },
    // Test hook for "a slow start is not a fault": this node computes for MS (loading its data,
    // say) before it connects, while the others are already waiting for it in generation 0.
    'connect-after': { type: 'string' },
  },
});
const steps = Number(values.steps);
const stepMs = Number(values['step-ms']);
const elements = Number(values.elements);
const [dieNode, dieGeneration] = (values['die-at-generation'] ?? '-1:-1').split(':').map(Number) as [number, number];
const [bugStep, bugCode] = (values['exit-code-at'] ?? '-1:0').split(':').map(Number) as [number, number];
const [blockNode, blockStep, blockMs] = (values['block-at'] ?? '-1:-1:0').split(':').map(Number) as [number, number, number];

const [lateNode, lateMs] = (values['connect-after'] ?? '-1:0').split(':').map(Number) as [number, number];
if (Number(process.env.ROLLCALL_NODE) === lateNode) {
  const until = Date.now() + lateMs;
  while (Date.now() < until) {
    // Busy, as a program parsing its data set is.
  }
}

const job = await connect();
const dieNow = (generation: number): void => {
  if (job.node === dieNode && generation === dieGeneration) process.kill(process.pid, 'SIGKILL');
};
dieNow(job.generation);
let step = 0;
let checksum = 0;
let needSync = true;
const ones = new Float32Array(elements);

async function sync(): Promise<void> {
  const s = await job.allreduce(new Float64Array([step]), 'max');
  // The lowest rank that reached the furthest step tells the others its checksum.
  const mine = step === s[0] ? job.rank : job.world;
  const root = (await job.allreduce(new Float64Array([mine]), 'min'))[0] as number;
  const st = await job.broadcast(new Float64Array([step, checksum]), root);
  step = st[0] as number;
  checksum = st[1] as number;
}

while (steps === 0 || step < steps) {
  try {
    if (needSync) {
      await sync();
      needSync = false;
      continue;
    }
    if (step === bugStep) process.exit(bugCode);
    if (step === blockStep && job.node === blockNode) {
      const until = Date.now() + blockMs;
      while (Date.now() < until);
    }
    ones.fill(1);
    const r = await job.allreduce(ones);
    if (r[0] !== job.world || r[elements - 1] !== job.world) throw new Error(`step ${step}: allreduce gave ${r[0]}, expected world size ${job.world}`);
    checksum += r[0] as number;
    step++;
    job.progress(step);
    if (stepMs > 0) await new Promise((res) => setTimeout(res, stepMs));
  } catch (e) {
    if (e instanceof MembershipChangedError) {
      dieNow(e.generation);
      needSync = true;
      continue;
    }
    throw e;
  }
}
job.result({ steps: step, checksum, generation: job.generation, world: job.world });
await job.close();

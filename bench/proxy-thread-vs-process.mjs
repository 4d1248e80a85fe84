// Why the proxy is a worker thread: the cost of handing a buffer to a proxy and getting it back,
// and of starting a proxy, for a worker thread (SharedArrayBuffer view: nothing copied) and for
// a child process (Node IPC with 'advanced' serialization: the bytes cross a pipe both ways).
// No collective runs; this isolates the program <-> proxy hop. Run after `npm run build`:
//   node bench/proxy-thread-vs-process.mjs
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';

const role = process.argv[2];
if (role === 'child') {
  await import('../dist/src/comm/rendezvous.js'); // what a proxy process would load
  process.on('message', (m) => process.send(m));
  process.send('ready');
} else {
  const SIZES = [4096, 1 << 20, 4 << 20];
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const time = async (f, n) => {
    for (let i = 0; i < Math.min(n, 50); i++) await f();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await f();
    return Number(process.hrtime.bigint() - t0) / 1e3 / n;
  };

  const startThread = async () => {
    const t0 = performance.now();
    const w = new Worker(
      `const { parentPort } = require('node:worker_threads');
       import(${JSON.stringify(new URL('../dist/src/comm/rendezvous.js', import.meta.url).href)}).then(() => {
         parentPort.on('message', (m) => parentPort.postMessage(m.length ?? 0));
         parentPort.postMessage('ready');
       });`,
      { eval: true },
    );
    await new Promise((r) => w.once('message', r));
    return { w, ms: performance.now() - t0 };
  };
  const startChild = async () => {
    const t0 = performance.now();
    const c = fork(new URL(import.meta.url).pathname, ['child'], { serialization: 'advanced' });
    await new Promise((r) => c.once('message', r));
    return { c, ms: performance.now() - t0 };
  };

  const rows = [];
  const threadStarts = [];
  const childStarts = [];
  for (let i = 0; i < 5; i++) {
    const { w, ms } = await startThread();
    threadStarts.push(ms);
    await w.terminate();
    const { c, ms: cms } = await startChild();
    childStarts.push(cms);
    c.kill();
  }
  const { w } = await startThread();
  const { c } = await startChild();
  for (const bytes of SIZES) {
    const n = bytes <= 4096 ? 2000 : 100;
    const shared = new Float32Array(new SharedArrayBuffer(bytes));
    const plain = new Float32Array(bytes / 4);
    const thread = await time(() => new Promise((r) => { w.once('message', r); w.postMessage(shared); }), n);
    const child = await time(() => new Promise((r) => { c.once('message', r); c.send(plain); }), n);
    rows.push({ bytes, thread_us: +thread.toFixed(1), child_process_us: +child.toFixed(1) });
  }
  await w.terminate();
  c.kill();
  console.log(JSON.stringify({ start_thread_ms: +median(threadStarts).toFixed(1), start_child_process_ms: +median(childStarts).toFixed(1) }));
  for (const r of rows) console.log(JSON.stringify(r));
}

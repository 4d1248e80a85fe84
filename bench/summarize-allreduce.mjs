// Medians per (impl, ranks, bytes) from JSON lines, and Rollcall's ratio to each anchor.
import { readFileSync } from 'node:fs';
const rows = readFileSync(process.argv[2], 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const groups = new Map();
for (const r of rows) {
  const k = `${r.impl}|${r.ranks}|${r.bytes}`;
  if (!groups.has(k)) groups.set(k, []);
  groups.get(k).push(r);
}
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const stat = (impl, ranks, bytes) => {
  const g = groups.get(`${impl}|${ranks}|${bytes}`);
  return g ? { us: med(g.map((r) => r.us)), busbw: med(g.map((r) => r.busbw_GBps)), n: g.length } : undefined;
};
console.log('| ranks | bytes | Rollcall µs | busbw GB/s | Open MPI TCP µs | busbw GB/s | Gloo µs | busbw GB/s | Rollcall/MPI busbw | Rollcall/Gloo busbw |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const ranks of [2, 4]) for (const bytes of [4096, 65536, 1048576, 16777216]) {
  const a = stat('rollcall', ranks, bytes), m = stat('openmpi', ranks, bytes), g = stat('gloo', ranks, bytes);
  const f = (x, d = 1) => (x === undefined ? '–' : x.toFixed(d));
  console.log(`| ${ranks} | ${bytes} | ${f(a?.us)} | ${f(a?.busbw, 3)} | ${f(m?.us)} | ${f(m?.busbw, 3)} | ${f(g?.us)} | ${f(g?.busbw, 3)} | ${a && m ? (a.busbw / m.busbw).toFixed(2) : '–'} | ${a && g ? (a.busbw / g.busbw).toFixed(2) : '–'} |`);
}

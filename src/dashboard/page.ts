import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ViewState } from './job-view.js';

const require = createRequire(import.meta.url);

/** uPlot's browser build and stylesheet, from the installed package: served live, inlined in a report. */
export function uplotAssets(): { js: string; css: string } {
  const dir = require.resolve('uplot/package.json').replace(/package\.json$/, 'dist/');
  return { js: readFileSync(`${dir}uPlot.iife.min.js`, 'utf8'), css: readFileSync(`${dir}uPlot.min.css`, 'utf8') };
}

/** JSON inside a <script> element: `</script>` and friends must not end it early. */
const scriptJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .3em; }
.summary span { margin-right: 1.5em; }
table { border-collapse: collapse; margin: .8em 0 1.2em; }
th, td { padding: .25em .8em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.member td.role { color: #1a7f37; } tr.spare td.role { color: #555; }
tr.fenced td.role, tr.gone td.role { color: #c62828; font-weight: 600; }
#state.recovering { color: #c62828; font-weight: 600; } #state.failed { color: #c62828; }
#plot { margin: .5em 0; }
td.straggler { color: #c62828; font-weight: 600; }
`;

/**
 * The client: renders a view (the node rows, the recoveries, steps over time with the faults
 * and recoveries marked) and, live, applies the server's pushes. Plain DOM and uPlot, no build.
 */
const CLIENT = `
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const num = (v, d = 0) => (v === null || v === undefined ? '–' : Number(v).toFixed(d));
const FROM = { fault_injected: 'the injected fault', fault_detected: 'the fault (seen as it happened)', last_sign_of_life: 'the last sign of life' };
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
let view = null, plot = null, plotNodes = '';

function markersPlugin() {
  return { hooks: { draw: [(u) => {
    const ctx = u.ctx; ctx.save();
    for (const m of view.markers) {
      const x = u.valToPos(m.ts / 1000, 'x', true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
      ctx.strokeStyle = m.kind === 'fault' ? '#c62828' : '#1a7f37'; ctx.lineWidth = 2; ctx.setLineDash([6, 4]);
      ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
      ctx.fillStyle = ctx.strokeStyle; ctx.font = (12 * devicePixelRatio) + 'px sans-serif';
      ctx.fillText(m.label, x + 4, u.bbox.top + (m.kind === 'fault' ? 14 : 30) * devicePixelRatio);
    }
    ctx.restore();
  }] } };
}

function render() {
  const v = view;
  $('job').textContent = v.job ?? '';
  $('state').textContent = v.state; $('state').className = v.state;
  $('generation').textContent = v.generation;
  $('recoveries-count').textContent = v.recoveries.filter((r) => r.recoveryMs !== null).length;
  $('nodes').innerHTML = v.nodes.map((n) => '<tr class="' + n.role + '" data-node="' + n.node + '"><td>' + n.node + '</td><td class="role">' + n.role +
    '</td><td>' + num(n.rank) + '</td><td>' + num(n.pid) + '</td><td class="step">' + n.step + '</td><td>' + num(n.stepsPerSec, 1) + '</td><td class="compute' + (n.straggler ? ' straggler' : '') + '">' + num(n.computeMs, 2) + (n.straggler ? ' (' + n.straggler + ' slow)' : '') + '</td><td>' + num(n.phi, 2) + '</td></tr>').join('');
  $('recoveries').innerHTML = v.recoveries.map((r) => '<tr data-generation="' + r.generation + '"><td>' + r.generation + '</td><td>' + esc(r.cause) + ' (node ' + esc(r.failed.join(',')) +
    ')</td><td>' + num(r.detectionMs) + '</td><td class="recovery-ms">' + num(r.recoveryMs) + '</td><td class="from">' + esc(FROM[r.from] ?? '–') + '</td><td>' + num(r.stepsRedone) + '</td><td>' + num(r.msRedone) + '</td><td>' + num(r.version) + '</td></tr>').join('');
  const ids = v.nodes.map((n) => n.node);
  const data = [v.series.t.map((t) => t / 1000), ...ids.map((n) => v.series.steps[n] ?? [])];
  const width = Math.min(1000, document.body.clientWidth - 20);
  if (!plot || plotNodes !== ids.join(',')) {
    plot?.destroy();
    plotNodes = ids.join(',');
    plot = new uPlot({ width, height: 320, plugins: [markersPlugin()], scales: { x: { time: true } },
      axes: [{}, { label: 'step' }],
      series: [{}, ...ids.map((n, i) => ({ label: 'node ' + n, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false }))] }, data, $('plot'));
  } else plot.setData(data);
}

function applyPush(m) {
  const series = m.series ?? (view ? view.series : { t: [], steps: {} });
  if (m.rows) {
    series.t.length = m.rows.from; series.t.push(...m.rows.t);
    for (const [k, col] of Object.entries(m.rows.steps)) { const s = series.steps[k] ?? (series.steps[k] = new Array(m.rows.from).fill(null)); s.length = m.rows.from; s.push(...col); }
  }
  view = { ...m.view, series };
  render();
}
`;

export interface PageOptions {
  title: string;
  /** Live: the page subscribes to /events; else it shows `initial` (a report). */
  live: boolean;
  initial?: ViewState;
  /** Inline uPlot (a self-contained report) rather than loading it from the server. */
  inlineAssets?: { js: string; css: string };
  summary?: string;
}

export function pageHtml(o: PageOptions): string {
  const head = o.inlineAssets
    ? `<style>${o.inlineAssets.css}</style><script>${o.inlineAssets.js}</script>`
    : '<link rel="stylesheet" href="/uplot.css"><script src="/uplot.js"></script>';
  const start = o.live
    ? `const es = new EventSource('/events'); es.addEventListener('view', (e) => applyPush(JSON.parse(e.data)));
       es.onerror = () => { $('conn').textContent = ' (disconnected: the job has ended or the launcher is gone)'; };`
    : `view = ${scriptJson(o.initial)}; render();`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${o.title}</title>${head}<style>${STYLE}</style></head>
<body>
<h1>Rollcall: job <span id="job"></span><span id="conn"></span></h1>
<div class="summary"><span>state: <b id="state"></b></span><span>generation: <b id="generation"></b></span><span>recoveries: <b id="recoveries-count"></b></span></div>
${o.summary ? `<pre id="summary">${o.summary.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c] as string)}</pre>` : ''}
<table><thead><tr><th>node</th><th>role</th><th>rank</th><th>pid</th><th>step</th><th>steps/s</th><th>compute ms/step</th><th>heartbeat phi</th></tr></thead><tbody id="nodes"></tbody></table>
<div id="plot"></div>
<h2>Recoveries</h2>
<table><thead><tr><th>generation</th><th>cause</th><th>detection ms</th><th>recovery ms</th><th>counted from</th><th>steps redone</th><th>ms redone</th><th>common version</th></tr></thead><tbody id="recoveries"></tbody></table>
<script>${CLIENT}
${start}</script>
</body></html>`;
}

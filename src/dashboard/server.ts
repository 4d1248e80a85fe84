import { createServer, type ServerResponse } from 'node:http';
import { InvalidArgumentError } from '../errors.js';
import { joinHostPort, LOOPBACK } from '../util/host.js';
import type { JobMetrics } from './metrics.js';
import type { JobView, ViewState } from './job-view.js';
import { pageHtml, uplotAssets } from './page.js';

export interface Dashboard {
  /** http://host:port/ */
  readonly url: string;
  close(): Promise<void>;
}

/** `[HOST:]PORT`; without a host, loopback: the page has no login, so it is not shown to the network unasked. */
export function parseListen(spec: string): { host: string; port: number } {
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError(`--dashboard ${JSON.stringify(spec)}: want [HOST:]PORT, e.g. 8080 or 0.0.0.0:8080`);
  return { host: m[1]?.replace(/^\[|\]$/g, '') ?? LOOPBACK, port };
}

/** How often the view is sampled for the plot and, if it changed, pushed to the pages. */
const TICK_MS = 250;

interface Client {
  res: ServerResponse;
  /** Series rows this page has, and the view's layout it has them in. */
  rows: number;
}

/**
 * Serves the live dashboard: the page, its updates as server-sent events (the view, and only
 * the plot rows the page does not have yet), Prometheus metrics at /metrics, and uPlot. All on
 * Node's own http; the job never waits for it (a slow page only misses updates).
 */
export async function startDashboard(spec: string, view: JobView, metrics: JobMetrics): Promise<Dashboard> {
  const { host, port } = parseListen(spec);
  const assets = uplotAssets();
  const page = pageHtml({ title: 'Rollcall', live: true });
  const clients = new Set<Client>();
  let lastRows = 0;
  let lastFirst: number | undefined;

  const push = (c: Client, s: Readonly<ViewState>, full: boolean): void => {
    const { series, ...rest } = s;
    // The last row may have been updated in place since it was sent; send it again.
    const from = full ? 0 : Math.max(0, Math.min(c.rows, series.t.length) - 1);
    const rows = { from, t: series.t.slice(from), steps: Object.fromEntries(Object.entries(series.steps).map(([k, v]) => [k, v.slice(from)])) };
    // A page that reads slowly skips this push and gets the rows it missed with the next one.
    if (c.res.writableNeedDrain) {
      // From row 0 next time is the whole series, as a reshaped one needs.
      if (full) c.rows = 0;
      return;
    }
    c.res.write(`event: view\ndata: ${JSON.stringify({ view: rest, rows })}\n\n`);
    c.rows = series.t.length;
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
    } else if (path === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      const c: Client = { res, rows: 0 };
      clients.add(c);
      push(c, view.state, true);
      req.on('close', () => clients.delete(c));
    } else if (path === '/metrics') {
      metrics.text().then(
        (t) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(t),
        (e: unknown) => res.writeHead(500).end(String(e)),
      );
    } else if (path === '/view.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(view.state));
    } else if (path === '/uplot.js') {
      res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'max-age=3600' }).end(assets.js);
    } else if (path === '/uplot.css') {
      res.writeHead(200, { 'content-type': 'text/css', 'cache-control': 'max-age=3600' }).end(assets.css);
    } else {
      res.writeHead(404).end('not found');
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new InvalidArgumentError(`--dashboard ${spec}: port ${port} on ${host} is already in use; choose another (or 0 for any free port)`)
          : new InvalidArgumentError(`--dashboard ${spec}: ${e.message}`),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  server.unref();
  const a = server.address() as { port: number };

  const tick = setInterval(() => {
    view.sample();
    if (!view.takeChanged()) return;
    const s = view.state;
    // The series was thinned out (a long job): every page needs it whole again.
    const reshaped = s.series.t.length < lastRows || s.series.t[0] !== lastFirst;
    lastRows = s.series.t.length;
    lastFirst = s.series.t[0];
    for (const c of clients) push(c, s, reshaped);
  }, TICK_MS);
  tick.unref();

  return {
    url: `http://${joinHostPort(host === '0.0.0.0' || host === '::' ? LOOPBACK : host, a.port)}/`,
    close: async () => {
      clearInterval(tick);
      // A last push, so an open page shows how the job ended.
      view.sample();
      for (const c of clients) {
        push(c, view.state, false);
        c.res.end();
      }
      clients.clear();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

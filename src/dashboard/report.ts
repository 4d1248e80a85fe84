import { readFileSync } from 'node:fs';
import type { EventLine } from '../protocol/events.js';
import { JobView, type ViewState } from './job-view.js';
import { pageHtml, uplotAssets } from './page.js';

export interface ReadLog {
  events: EventLine[];
  /** Lines that were not events, by line number (1-based), with why. */
  bad: { line: number; error: string }[];
}

/** Reads an event log (JSON lines); a bad line is named and skipped, the rest is kept. */
export function readEventLog(path: string): ReadLog {
  const text = readFileSync(path, 'utf8');
  const events: EventLine[] = [];
  const bad: ReadLog['bad'] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    try {
      const e = JSON.parse(raw) as unknown;
      if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new Error('not a JSON object');
      const ev = e as EventLine;
      if (typeof ev.ts !== 'number' || typeof ev.event !== 'string') throw new Error('an event needs a numeric "ts" and a string "event"');
      events.push(ev);
    } catch (err) {
      bad.push({ line: i + 1, error: (err as Error).message });
    }
  });
  return { events, bad };
}

/** The view a finished job's log describes: the same model as the live dashboard, replayed. */
export function viewOfLog(events: readonly EventLine[]): ViewState {
  const view = new JobView();
  for (const e of [...events].sort((a, b) => a.ts - b.ts)) view.event(e);
  return view.state as ViewState;
}

function summaryOf(events: readonly EventLine[], v: ViewState): string {
  const first = events[0]?.ts;
  const last = events[events.length - 1]?.ts;
  const done = events.find((e) => e.event === 'job_completed');
  const lines = [
    `job ${v.job ?? '?'}: ${v.state}${v.reason ? ` (${v.reason})` : ''}, generation ${v.generation}`,
    `${v.nodes.length} node(s); ${v.recoveries.length} recover${v.recoveries.length === 1 ? 'y' : 'ies'}`,
    first !== undefined && last !== undefined ? `${((last - first) / 1000).toFixed(1)} s from the first event to the last (${new Date(first).toISOString()})` : '',
    done ? `result: ${JSON.stringify(done.result)}` : '',
  ];
  return lines.filter(Boolean).join('\n');
}

/** One self-contained HTML file: uPlot and the data inlined, nothing fetched when it is opened. */
export function renderReport(events: readonly EventLine[]): string {
  const view = viewOfLog(events);
  return pageHtml({ title: `Rollcall report: ${view.job ?? 'job'}`, live: false, initial: view, inlineAssets: uplotAssets(), summary: summaryOf(events, view) });
}

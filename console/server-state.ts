/**
 * For admins (`/console/schema.json` says so): the server's state from `/admin/connections`, open
 * streams and subscribers by table, connections and the change log's head, read again every
 * REFRESH_MS while the page is visible and on demand.
 */
import { getJson } from './api.ts';
import { byId, el } from './dom.ts';

const REFRESH_MS = 5000;

/** The parts of `/admin/connections` shown here (README › Operations has the whole answer). */
interface Report {
  streams: { open: number; byTable: Record<string, number>; cutSlow: number };
  subscribers: { total: number; byTable: Record<string, number> };
  connections: { open: number };
  changeLog: { head: number; entries: number; prunedThrough?: number };
  byWorker?: { worker: number; streams: number; connections: number }[];
}

export function showServerState(): void {
  const section = byId('server-section');
  const summary = byId('server-summary');
  const grid = byId<HTMLTableElement>('server-tables');
  const status = byId('server-status');
  section.hidden = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  async function refresh(): Promise<void> {
    clearTimeout(timer);
    const report = await getJson<Report>('/admin/connections');
    if (typeof report === 'string') status.textContent = report;
    else {
      status.textContent = `read at ${new Date().toLocaleTimeString()}`;
      render(report);
    }
    if (document.visibilityState === 'visible') timer = setTimeout(() => void refresh(), REFRESH_MS);
  }

  function render(r: Report): void {
    const facts: [string, string][] = [
      ['open streams', String(r.streams.open)],
      ['subscribers', String(r.subscribers.total)],
      ['connections', String(r.connections.open)],
      ['change-log head', String(r.changeLog.head)],
      ['change-log entries', String(r.changeLog.entries)],
      ['streams cut as slow', String(r.streams.cutSlow)],
    ];
    if (r.byWorker) facts.push(['workers', String(r.byWorker.length)]);
    // <div> groups of <dt>/<dd> are valid in a <dl>, and keep each pair together when the row wraps.
    summary.replaceChildren(
      ...facts.map(([k, v]) => {
        const pair = el('div');
        pair.append(el('dt', k), el('dd', v));
        return pair;
      }),
    );
    const tables = [...new Set([...Object.keys(r.streams.byTable), ...Object.keys(r.subscribers.byTable)])].sort();
    grid.tBodies[0]!.replaceChildren(
      ...tables.map((t) => {
        const tr = el('tr');
        const th = el('th', t);
        th.scope = 'row';
        tr.append(th, el('td', String(r.streams.byTable[t] ?? 0)), el('td', String(r.subscribers.byTable[t] ?? 0)));
        return tr;
      }),
    );
    if (tables.length === 0) {
      const td = el('td', 'no open streams');
      td.colSpan = 3;
      grid.tBodies[0]!.appendChild(el('tr')).append(td);
    }
  }

  byId('server-refresh').addEventListener('click', () => void refresh());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void refresh();
    else clearTimeout(timer);
  });
  void refresh();
}

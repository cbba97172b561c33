/**
 * The console's page: the server's databases and tables (from `GET /`), the chosen table's records
 * (records.ts), its live events (live.ts) and writes to it (writes.ts). Built by scripts/bundle-console.ts into
 * dist/console/console.js; served by src/http/console-route.ts.
 */
import { byId, el, errorOf } from './dom.ts';
import { liveView } from './live.ts';
import { recordsView } from './records.ts';
import { writesView } from './writes.ts';

interface ServerInfo {
  name: string;
  version: string;
  databases: Record<string, string[]>;
}

async function start(): Promise<void> {
  const server = byId('server');
  const nav = byId('tables');
  const res = await fetch('/', { headers: { accept: 'application/json' }, credentials: 'same-origin' });
  if (!res.ok) {
    server.textContent = await errorOf(res);
    return;
  }
  const info = (await res.json()) as ServerInfo;
  server.textContent = `${info.name} ${info.version}`;
  const records = recordsView();
  const live = liveView();
  const writes = writesView(() => records.reload());
  const buttons: HTMLButtonElement[] = [];
  for (const [db, tables] of Object.entries(info.databases)) {
    const list = el('ul');
    for (const path of tables) {
      const button = el('button', path.slice(db.length + 2));
      button.type = 'button';
      button.dataset.path = path;
      button.addEventListener('click', () => {
        for (const b of buttons) b.setAttribute('aria-current', String(b === button));
        choose(path);
      });
      buttons.push(button);
      const li = el('li');
      li.append(button);
      list.append(li);
    }
    nav.append(el('h3', db), list);
  }
  if (buttons.length === 0) nav.append(el('p', 'No tables are exported.'));

  function choose(path: string): void {
    byId('hint').hidden = true;
    byId('records-section').hidden = false;
    byId('live-section').hidden = false;
    byId('writes-section').hidden = false;
    byId('records-title').textContent = `Records of ${path}`;
    byId('live-title').textContent = `Live events of ${path}`;
    records.show(path);
    live.show(path);
    writes.show(path);
  }
}

void start();

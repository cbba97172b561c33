/**
 * The console's page: the tables the caller may read (schema.ts, from `/console/schema.json`), the
 * chosen table's attributes, records (records.ts), live events (live.ts) and writes (writes.ts),
 * each write form shown only when the caller's roles allow it. Built by scripts/bundle-console.ts
 * into dist/console/console.js; served by src/http/console-route.ts.
 */
import { byId, el, errorOf } from './dom.ts';
import { liveView } from './live.ts';
import { recordsView } from './records.ts';
import type { TableInfo } from '../src/http/console-types.ts';
import { showSchema } from './schema.ts';
import { writesView } from './writes.ts';

async function start(): Promise<void> {
  const server = byId('server');
  const nav = byId('tables');
  const [about, schema] = await Promise.all([getJson<{ name: string; version: string }>('/'), getJson<{ tables: TableInfo[] }>('/console/schema.json')]);
  if (typeof about === 'string' || typeof schema === 'string') {
    server.textContent = typeof about === 'string' ? about : (schema as string);
    return;
  }
  server.textContent = `${about.name} ${about.version}`;
  const records = recordsView();
  const live = liveView();
  const writes = writesView(() => records.reload());
  const buttons: HTMLButtonElement[] = [];
  const databases = [...new Set(schema.tables.map((t) => t.database))];
  for (const db of databases) {
    const list = el('ul');
    for (const table of schema.tables.filter((t) => t.database === db)) {
      const button = el('button', table.name);
      button.type = 'button';
      button.dataset.path = table.path;
      button.addEventListener('click', () => {
        for (const b of buttons) b.setAttribute('aria-current', String(b === button));
        choose(table);
      });
      buttons.push(button);
      const li = el('li');
      li.append(button);
      list.append(li);
    }
    nav.append(el('h3', db), list);
  }
  if (buttons.length === 0) nav.append(el('p', 'No table you may read is exported over REST.'));

  function choose(table: TableInfo): void {
    const { path } = table;
    byId('hint').hidden = true;
    for (const id of ['schema-section', 'records-section', 'live-section', 'writes-section']) byId(id).hidden = false;
    byId('schema-title').textContent = `Schema of ${path}`;
    byId('records-title').textContent = `Records of ${path}`;
    byId('live-title').textContent = `Live events of ${path}`;
    showSchema(table);
    records.show(path);
    live.show(table.sse ? path : undefined);
    const mayCreate = table.allowed.includes('insert');
    const mayDelete = table.allowed.includes('delete');
    byId('create').hidden = !mayCreate;
    byId('delete').hidden = !mayDelete;
    byId('writes-none').hidden = mayCreate || mayDelete;
    byId('delete-key-name').textContent = table.primaryKey;
    writes.show(path);
  }
}

/** The JSON body of a GET, or the server's error as a sentence. */
async function getJson<T>(url: string): Promise<T | string> {
  const res = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
  return res.ok ? ((await res.json()) as T) : errorOf(res);
}

void start();

/**
 * The console's page: who the visitor is (session.ts: a login form when auth is on), the server's
 * state for admins (server-state.ts), the tables the visitor may read (from `/console/schema.json`),
 * and for the chosen one its attributes (schema.ts), records (records.ts), one record to create,
 * edit, publish to or delete (record.ts), and its live events (live.ts). Every action is offered
 * only where the visitor's roles allow it. Built by scripts/bundle-console.ts into
 * dist/console/console.js; served by src/http/console-route.ts.
 */
import type { ConsoleSchema, TableInfo } from '../src/http/console-types.ts';
import { call, errorText, getJson } from './api.ts';
import { button, byId, el } from './dom.ts';
import { liveView } from './live.ts';
import { recordView } from './record.ts';
import { recordsView } from './records.ts';
import { showSchema } from './schema.ts';
import { showServerState } from './server-state.ts';
import { showLogin, showSession } from './session.ts';

async function start(): Promise<void> {
  const server = byId('server');
  const nav = byId('tables');
  const [about, answer] = await Promise.all([getJson<{ name: string; version: string }>('/'), call('GET', '/console/schema.json')]);
  server.textContent = typeof about === 'string' ? about : `${about.name} ${about.version}`;
  if (answer.status === 401) {
    // The session cookie no longer holds: logging in again replaces it.
    showLogin(errorText(answer));
    nav.append(el('p', 'Log in to see the tables.'));
    return;
  }
  if (!answer.ok) {
    server.textContent = errorText(answer);
    return;
  }
  const schema = answer.body as ConsoleSchema;
  showSession(schema.session);
  if (schema.session.admin) showServerState();

  let chosen: TableInfo | undefined;
  const records = recordsView((key) => void record.open(chosen!, key));
  const record = recordView(() => records.reload());
  // The records on screen follow the table's changes.
  const live = liveView(byId('live'), byId('live-status'), () => records.changed());
  const buttons: HTMLButtonElement[] = [];
  for (const db of new Set(schema.tables.map((t) => t.database))) {
    const list = el('ul');
    for (const table of schema.tables.filter((t) => t.database === db)) {
      const b = button(table.name, () => {
        for (const other of buttons) other.setAttribute('aria-current', String(other === b));
        choose(table);
      });
      b.dataset.path = table.path;
      buttons.push(b);
      list.appendChild(el('li')).append(b);
    }
    nav.append(el('h3', db), list);
  }
  // The first render, for `npm run bench -- --only console` (bench/console.ts) and anyone's devtools.
  performance.mark('tablecast:tables');
  if (buttons.length === 0) nav.append(el('p', schema.session.auth && schema.session.user === null ? 'Log in to see the tables.' : 'No table you may read is exported over REST.'));

  byId('new-record').addEventListener('click', () => record.create(chosen!));

  function choose(table: TableInfo): void {
    chosen = table;
    const { path } = table;
    byId('hint').hidden = true;
    for (const id of ['schema-section', 'records-section', 'live-section']) byId(id).hidden = false;
    byId('schema-title').textContent = `Schema of ${path}`;
    byId('records-title').textContent = `Records of ${path}`;
    byId('live-title').textContent = `Live events of ${path}`;
    byId('new-record').hidden = !table.allowed.includes('insert');
    showSchema(table);
    records.show(table);
    record.close();
    live.show(table.sse ? `${path}/` : undefined, 'this table is not exported to Server-Sent Events (@export(sse: false))');
  }
}

void start();

/**
 * A table's records, a page at a time: the search box's query (the REST query grammar) with
 * `limit(start,end)` added, so the server pages; one more record than a page is asked for to know
 * whether a next page exists. Columns are the schema's attributes, then any other the page's
 * records hold. A column's header sorts by it: the `sort()` written into the search box, so the
 * box always shows the query the table answers. Each record's key opens it (record.ts).
 */
import type { TableInfo } from '../src/http/console-types.ts';
import { call, errorText } from './api.ts';
import { button, byId, el, shown } from './dom.ts';

const PAGE = 20;
/** `sort(…)` terms of a query (values end at the first `)` in the grammar). */
const SORT = /(^|&)sort\([^)]*\)/g;

export interface RecordsView {
  show(table: TableInfo): void;
  /** Reads the current page again (after a write). */
  reload(): void;
  /**
   * The table changed (its live panel saw an event): the page is read again at most once a second
   * however busy the table, and not while the keyboard focus is in the list (replacing the rows
   * would take it away): then when the focus leaves.
   */
  changed(): void;
}

/** `open` runs with the key of the record whose key button was pressed. */
export function recordsView(open: (key: string) => void): RecordsView {
  const form = byId<HTMLFormElement>('search');
  const input = byId<HTMLInputElement>('query');
  const error = byId('records-error');
  const grid = byId<HTMLTableElement>('records');
  const caption = byId('records-caption');
  const prev = byId<HTMLButtonElement>('prev');
  const next = byId<HTMLButtonElement>('next');
  const pageLabel = byId('page');
  let table: TableInfo | undefined;
  let start = 0;
  /** The query the list answers: the search box's text when it was last submitted, not what is being typed. */
  let query = '';
  let pending: ReturnType<typeof setTimeout> | undefined;
  let stale = false;
  // Answers to an older request (another table, page or query) are dropped.
  let generation = 0;

  async function load(): Promise<void> {
    if (!table) return;
    const mine = ++generation;
    error.textContent = '';
    stale = false;
    delete grid.dataset.stale;
    // A stream never ends: the live panel is this table's stream.
    if (/(^|&)stream=/.test(query)) {
      error.textContent = "stream= is not a query: the live events below are this table's stream";
      return;
    }
    // A `#` would end the URL's query (the rest, limit() included, never reaching the server).
    const answer = await call('GET', `${table.path}/?${query ? `${query.replaceAll('#', '%23')}&` : ''}limit(${start},${start + PAGE + 1})`);
    if (mine !== generation) return;
    const records = answer.ok && Array.isArray(answer.body) ? (answer.body as Record<string, unknown>[]) : [];
    if (!answer.ok) error.textContent = errorText(answer);
    render(records.slice(0, PAGE));
    prev.disabled = start === 0;
    next.disabled = records.length <= PAGE;
    const label = records.length === 0 ? 'no records' : `records ${start + 1}–${start + Math.min(records.length, PAGE)}`;
    // Announced (aria-live) only when it says something new, not on every read the table's changes cause.
    if (pageLabel.textContent !== label) pageLabel.textContent = label;
  }

  function render(records: Record<string, unknown>[]): void {
    const t = table!;
    const declared = t.fields.map((f) => f.name);
    const columns = [...new Set([...declared, ...records.flatMap((r) => Object.keys(r))])];
    const sorted = /(?:^|&)sort\(([+-]?)([^,)]+)\)/.exec(query);
    const head = el('tr');
    for (const c of columns) {
      const th = el('th');
      th.scope = 'col';
      const info = t.fields.find((f) => f.name === c);
      // Nested values cannot be sort keys (docs/query-grammar.md); undeclared attributes of an open table can.
      if (info ? info.kind === 'scalar' || info.kind === 'enum' : !t.sealed) {
        const direction = sorted?.[2] === c ? (sorted[1] === '-' ? 'descending' : 'ascending') : undefined;
        if (direction) th.setAttribute('aria-sort', direction);
        const b = button(`${c}${direction === 'ascending' ? ' ▲' : direction === 'descending' ? ' ▼' : ''}`, () => sortBy(c, direction === 'ascending' ? '-' : ''));
        b.className = 'sort';
        b.title = `sort by ${c}`;
        th.append(b);
      } else th.textContent = c;
      head.append(th);
    }
    grid.tHead!.replaceChildren(head);
    grid.tBodies[0]!.replaceChildren(
      ...records.map((r) => {
        const tr = el('tr');
        for (const c of columns) {
          const td = el('td');
          if (c === t.primaryKey && r[c] !== undefined) {
            const key = shown(r[c]);
            const b = button(key, () => open(key));
            b.className = 'key';
            b.setAttribute('aria-label', `open record ${key}`);
            td.append(b);
          } else if (c in r) td.textContent = shown(r[c]);
          tr.append(td);
        }
        return tr;
      }),
    );
    caption.textContent = `${t.path}: ${records.length} record${records.length === 1 ? '' : 's'} on this page`;
    performance.mark('tablecast:records');
  }

  /** Writes `sort(±column)` into the query in place of any other sort, and reads from the first page. */
  function sortBy(column: string, sign: string): void {
    // The box's text as it stands (perhaps typed but not yet searched): the header click searches it.
    const rest = input.value.trim().replace(/^\?/, '').replace(SORT, '').replace(/^&/, '');
    input.value = `${rest ? `${rest}&` : ''}sort(${sign}${column})`;
    query = input.value;
    start = 0;
    void load();
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    query = input.value.trim().replace(/^\?/, '');
    start = 0;
    void load();
  });
  grid.addEventListener('focusout', (e) => {
    if (stale && !grid.contains(e.relatedTarget as Node | null)) void load();
  });
  prev.addEventListener('click', () => {
    start = Math.max(0, start - PAGE);
    void load();
  });
  next.addEventListener('click', () => {
    start += PAGE;
    void load();
  });

  return {
    show(t) {
      table = t;
      start = 0;
      input.value = query = '';
      void load();
    },
    reload() {
      void load();
    },
    changed() {
      if (pending !== undefined) return;
      pending = setTimeout(() => {
        pending = undefined;
        if (grid.contains(document.activeElement)) {
          stale = true;
          // Visible to tests and devtools: the rows on screen wait for the focus to leave.
          grid.dataset.stale = 'true';
        } else void load();
      }, 1000);
    },
  };
}

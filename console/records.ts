/**
 * A table's records, a page at a time: the search box's query (the REST query grammar) with
 * `limit(start,end)` added, so the server pages; one more record than a page is asked for to know
 * whether a next page exists.
 */
import { byId, el, errorOf } from './dom.ts';

const PAGE = 20;

/** The records view: `show` switches table, the form and buttons page and search. */
export interface RecordsView {
  show(path: string): void;
  /** Reads the current page again (after a write). */
  reload(): void;
}

export function recordsView(): RecordsView {
  const form = byId<HTMLFormElement>('search');
  const input = byId<HTMLInputElement>('query');
  const error = byId('records-error');
  const table = byId<HTMLTableElement>('records');
  const caption = byId('records-caption');
  const prev = byId<HTMLButtonElement>('prev');
  const next = byId<HTMLButtonElement>('next');
  const pageLabel = byId('page');
  let path = '';
  let start = 0;
  // Answers to an older request (another table, page or query) are dropped.
  let generation = 0;

  async function load(): Promise<void> {
    const mine = ++generation;
    const query = input.value.trim().replace(/^\?/, '');
    const url = `${path}/?${query ? `${query}&` : ''}limit(${start},${start + PAGE + 1})`;
    error.textContent = '';
    const res = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
    if (mine !== generation) return;
    if (!res.ok) {
      error.textContent = await errorOf(res);
      render([]);
      return;
    }
    const records = (await res.json()) as Record<string, unknown>[];
    if (mine !== generation) return;
    render(records.slice(0, PAGE));
    prev.disabled = start === 0;
    next.disabled = records.length <= PAGE;
    pageLabel.textContent = records.length === 0 ? 'no records' : `records ${start + 1}–${start + Math.min(records.length, PAGE)}`;
  }

  function render(records: Record<string, unknown>[]): void {
    // Columns: every attribute any record on the page has, in the order first seen.
    const columns = [...new Set(records.flatMap((r) => Object.keys(r)))];
    const head = el('tr');
    for (const c of columns) head.append(Object.assign(el('th', c), { scope: 'col' }));
    table.tHead!.replaceChildren(head);
    const body = table.tBodies[0]!;
    body.replaceChildren(
      ...records.map((r) => {
        const tr = el('tr');
        for (const c of columns) tr.append(el('td', c in r ? cell(r[c]) : ''));
        return tr;
      }),
    );
    caption.textContent = `${path}: ${records.length} record${records.length === 1 ? '' : 's'} on this page`;
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    start = 0;
    void load();
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
    show(p) {
      path = p;
      start = 0;
      input.value = '';
      void load();
    },
    reload() {
      void load();
    },
  };
}

function cell(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

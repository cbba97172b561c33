/**
 * One record: a new one (a form generated from the schema, `POST` on the table) or an existing one
 * opened from the records (read with its version; edited with `PATCH` and `If-Match`, so an edit
 * never overwrites a change made since it was read; published to and deleted: record-actions.ts),
 * with its own live panel on the record's URL. Only the actions the visitor may take on this record
 * are offered: the table's grants from schema.json, and where a role's row filter limits an
 * action, the server's answer for this record (`/console/actions.json`). Every answer is checked
 * against what is open when it arrives: one for a record or table left meanwhile is dropped.
 */
import type { ConsoleActions, TableInfo } from '../src/http/console-types.ts';
import { call, errorText, problemsOf, type Answer } from './api.ts';
import { button, byId, el } from './dom.ts';
import { recordForm, type RecordForm } from './fields.ts';
import { liveView } from './live.ts';
import { recordActions } from './record-actions.ts';

export interface RecordView {
  /** A form for a new record of `table`. */
  create(table: TableInfo): void;
  /** Reads and shows the record `key` of `table`. */
  open(table: TableInfo, key: string): Promise<void>;
  /** Hides the panel (another table was chosen). */
  close(): void;
}

/** What the panel holds: a new record of a table, or one record (its version once read). */
interface Opened {
  table: TableInfo;
  key?: string;
  etag: string | null;
}

/** `changed` runs after every write the server took (the records view reloads its page). */
export function recordView(changed: () => void): RecordView {
  const section = byId('record-section');
  const title = byId('record-title');
  const form = byId<HTMLFormElement>('record-form');
  const fieldsHost = byId('record-fields');
  const save = byId<HTMLButtonElement>('record-save');
  const result = byId('record-result');
  const readOnlyNote = byId('record-readonly');
  const notice = byId('record-notice');
  const liveSection = byId('record-live-section');

  let opened: Opened | undefined;
  let fields: RecordForm | undefined;
  /** The record as the form shows it: an update event carrying the same (the console's own save) changes nothing. */
  let shownJson = '';
  /** Reads of the open record; only the latest one's answer is shown. */
  let reads = 0;

  const urlOf = (o: Opened) => `${o.table.path}/${encodeURIComponent(o.key!)}`;
  const actions = recordActions(
    () => (opened?.key === undefined ? undefined : { key: opened.key, url: urlOf(opened), etag: opened.etag }),
    (out, answer, done) => report(out, answer, done),
    (key) => {
      if (opened?.key !== key) return;
      gone(`deleted ${key}`);
      changed();
    },
  );
  // Someone else changed or deleted the open record (or the log reset): the form follows, unless
  // the visitor is editing it or working in it, who is offered the change instead.
  const live = liveView(byId('record-live'), byId('record-live-status'), (kind, data) => {
    const o = opened;
    if (o?.key === undefined || form.hidden) return;
    if (kind === 'delete') gone(`${o.key} was deleted`);
    else if ((kind === 'update' && !same(data)) || kind === 'reset') {
      // Rebuilding the fields would take the focus from one of them.
      if (fields?.dirty() || fieldsHost.contains(document.activeElement)) {
        say(fields?.dirty() ? 'changed since you opened it: saving it would be refused.' : 'changed elsewhere.', 'Show the change', () => void read(o));
      } else void read(o, 'updated by a change made elsewhere');
    }
  });

  function same(data: string): boolean {
    try {
      return JSON.stringify(JSON.parse(data)) === shownJson;
    } catch {
      return false;
    }
  }

  /** A line above the form, perhaps with a button. */
  function say(text: string, label?: string, onPress?: () => void): void {
    notice.replaceChildren(text);
    if (label && onPress) notice.append(' ', button(label, onPress));
  }

  /** The record is no more: nothing left to offer, and the focus goes to the panel's title if it was in the panel. */
  function gone(text: string): void {
    const hadFocus = section.contains(document.activeElement);
    form.hidden = true;
    actions.hide();
    say(text);
    if (hadFocus) title.focus();
  }

  function begin(o: Opened, heading: string): void {
    opened = o;
    reads++;
    section.hidden = false;
    title.textContent = heading;
    say('');
    result.replaceChildren();
    actions.clear();
    // Nothing of the record shown before stays on screen while this one is read.
    fieldsHost.replaceChildren();
    fields = undefined;
    form.hidden = true;
    actions.hide();
  }

  /** Reads the open record and what the visitor may do to it, then shows it (unless something else was opened meanwhile). */
  async function read(o: Opened, note = ''): Promise<void> {
    const mine = ++reads;
    const [answer, may] = await Promise.all([call('GET', urlOf(o)), actionsFor(o)]);
    if (opened !== o || mine !== reads) return;
    if (!answer.ok) return failed(errorText(answer));
    if (typeof may === 'string') return failed(may);
    show(o, answer.body as Record<string, unknown>, answer.etag, may);
    say(note);
  }

  function failed(text: string): void {
    gone(text);
    live.show(undefined);
  }

  function show(o: Opened, record: Record<string, unknown>, etag: string | null, may: readonly string[]): void {
    o.etag = etag;
    shownJson = JSON.stringify(record);
    const editable = may.includes('update');
    fields = recordForm(fieldsHost, o.table, record, !editable);
    form.hidden = false;
    save.hidden = !editable;
    save.textContent = 'Save changes';
    readOnlyNote.hidden = editable;
    actions.show({ publish: may.includes('publish'), delete: may.includes('delete') });
    liveSection.hidden = !o.table.sse;
  }

  /** What the visitor may do to this record: the table's grants, with row-limited ones asked of the server. */
  async function actionsFor(o: Opened): Promise<string[] | string> {
    const t = o.table;
    const whole = t.allowed.filter((a) => !t.limited.includes(a));
    if (!t.limited.some((a) => a !== 'read' && a !== 'insert')) return whole;
    const answer = await call('GET', `/console/actions.json?table=${encodeURIComponent(t.path)}&key=${encodeURIComponent(o.key!)}`);
    if (!answer.ok) return errorText(answer);
    return [...whole, ...((answer.body as ConsoleActions).actions[o.key!] ?? [])];
  }

  /** Shows an answer in `out`: the result, or the error with each problem beside its field (focus on the first). */
  function report(out: HTMLElement, answer: Answer, done: string): boolean {
    out.replaceChildren();
    if (answer.ok) {
      out.className = 'ok';
      out.append(el('p', done));
      return true;
    }
    out.className = 'error';
    out.append(el('p', answer.status === 412 ? `${errorText(answer)} (someone changed it since you opened it: open it again to see their change)` : errorText(answer)));
    const rest = out === result && fields ? fields.showProblems(problemsOf(answer)) : problemsOf(answer);
    if (rest.length) {
      const list = el('ul');
      for (const p of rest) list.append(el('li', `${p.path || 'the record'}: ${p.message}`));
      out.append(list);
    }
    if (out === result) fieldsHost.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
    return false;
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void submit();
  });
  async function submit(): Promise<void> {
    const o = opened;
    const body = fields?.body();
    if (!o || !body) {
      fieldsHost.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
      return;
    }
    if (o.key !== undefined) {
      if (Object.keys(body).length === 0) {
        result.className = 'ok';
        result.replaceChildren(el('p', 'nothing changed'));
        return;
      }
      const answer = await call('PATCH', urlOf(o), body, o.etag ? { 'if-match': o.etag } : {});
      if (opened !== o) return;
      if (report(result, answer, `saved ${o.key}`)) {
        changed();
        const may = await actionsFor(o);
        if (opened !== o) return;
        if (typeof may === 'string') return failed(may);
        reads++;
        show(o, answer.body as Record<string, unknown>, answer.etag, may);
        say('');
        save.focus();
      }
      return;
    }
    const answer = await call('POST', `${o.table.path}/`, body);
    if (opened !== o || !report(result, answer, 'created')) return;
    changed();
    const key = String((answer.body as Record<string, unknown>)[o.table.primaryKey]);
    await view.open(o.table, key);
    if (opened?.key !== key) return;
    result.className = 'ok';
    result.replaceChildren(el('p', `created ${key}`));
  }

  const view: RecordView = {
    create(table) {
      begin({ table, etag: null }, `New record in ${table.path}`);
      fields = recordForm(fieldsHost, table);
      form.hidden = false;
      save.hidden = false;
      save.textContent = 'Create';
      readOnlyNote.hidden = true;
      liveSection.hidden = true;
      live.show(undefined);
      fieldsHost.querySelector<HTMLElement>('input, select, textarea')?.focus();
    },
    async open(table, key) {
      const o: Opened = { table, key, etag: null };
      begin(o, `Record ${key} of ${table.path}`);
      await read(o);
      if (opened !== o) return;
      if (!form.hidden) live.show(table.sse ? urlOf(o) : undefined);
      // To the panel the visitor asked for, even when it only says why the record cannot be shown.
      title.focus();
    },
    close() {
      opened = undefined;
      reads++;
      section.hidden = true;
      live.show(undefined);
    },
  };
  return view;
}

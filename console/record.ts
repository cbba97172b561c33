/**
 * One record: a new one (a form generated from the schema, `POST` on the table) or an existing one
 * opened from the records (read with its version; edited with `PATCH` and `If-Match`, so an edit
 * never overwrites a change made since it was read; published to; deleted), with its own live
 * panel on the record's URL. Only the actions the visitor may take on this record are offered:
 * the table's grants from schema.json, and where a role's row filter limits an action, the
 * server's answer for this record (`/console/actions.json`).
 */
import type { ConsoleActions, TableInfo } from '../src/http/console-types.ts';
import { call, errorText, problemsOf, type Answer } from './api.ts';
import { byId, el } from './dom.ts';
import { recordForm, type RecordForm } from './fields.ts';
import { liveView } from './live.ts';

export interface RecordView {
  /** A form for a new record of `table`. */
  create(table: TableInfo): void;
  /** Reads and shows the record `key` of `table`. */
  open(table: TableInfo, key: string): Promise<void>;
  /** Hides the panel (another table was chosen). */
  close(): void;
}

/** `changed` runs after every write the server took (the records view reloads its page). */
export function recordView(changed: () => void): RecordView {
  const section = byId('record-section');
  const title = byId('record-title');
  const form = byId<HTMLFormElement>('record-form');
  const fieldsHost = byId('record-fields');
  const save = byId<HTMLButtonElement>('record-save');
  const result = byId('record-result');
  const publishForm = byId<HTMLFormElement>('publish');
  const message = byId<HTMLTextAreaElement>('publish-json');
  const publishResult = byId('publish-result');
  const deleteButton = byId<HTMLButtonElement>('record-delete');
  const deleteResult = byId('delete-result');
  const liveSection = byId('record-live-section');
  const notice = byId('record-notice');
  // Someone else changed or deleted the open record: the form follows unless the visitor is editing it.
  const live = liveView(byId('record-live'), byId('record-live-status'), (kind, data) => {
    if (!current || !table) return;
    if (kind === 'delete') {
      form.hidden = publishForm.hidden = deleteButton.hidden = true;
      notice.textContent = `${current.key} was deleted`;
    } else if (kind === 'update' && !form.hidden && !same(data)) {
      if (fields?.dirty()) notice.textContent = 'changed since you opened it: saving will be refused; open it again to see the change';
      else void refresh(table, current.key);
    }
  });

  let table: TableInfo | undefined;
  /** The open record's key and version; undefined while creating. */
  let current: { key: string; etag: string | null } | undefined;
  let fields: RecordForm | undefined;
  let armed = false;
  /** The record as the form shows it: an update event carrying the same (the console's own save) changes nothing. */
  let shownJson = '';
  const same = (data: string) => {
    try {
      return JSON.stringify(JSON.parse(data)) === shownJson;
    } catch {
      return false;
    }
  };

  const recordUrl = (key: string) => `${table!.path}/${encodeURIComponent(key)}`;

  function reset(heading: string): void {
    section.hidden = false;
    notice.textContent = '';
    title.textContent = heading;
    for (const out of [result, publishResult, deleteResult]) out.replaceChildren();
    message.value = '';
    message.removeAttribute('aria-invalid');
    disarm();
  }

  function showRecord(record: Record<string, unknown>, etag: string | null, actions: readonly string[]): void {
    const key = current!.key;
    current = { key, etag };
    shownJson = JSON.stringify(record);
    notice.textContent = '';
    const editable = actions.includes('update');
    fields = recordForm(fieldsHost, table!, record);
    for (const w of fieldsHost.querySelectorAll<HTMLInputElement>('input, select, textarea')) if (!editable) w.disabled = true;
    form.hidden = false;
    save.hidden = !editable;
    save.textContent = 'Save changes';
    byId('record-readonly').hidden = editable;
    publishForm.hidden = !actions.includes('publish');
    deleteButton.hidden = !actions.includes('delete');
    liveSection.hidden = !table!.sse;
  }

  /** Reads the open record again (after a change made elsewhere), keeping the panel and its live events. */
  async function refresh(t: TableInfo, key: string): Promise<void> {
    const [answer, actions] = await Promise.all([call('GET', recordUrl(key)), actionsFor(key)]);
    if (current?.key !== key || table !== t || fields?.dirty() || !answer.ok || typeof actions === 'string') return;
    showRecord(answer.body as Record<string, unknown>, answer.etag, actions);
    notice.textContent = 'updated by a change made elsewhere';
  }

  /** What the visitor may do to this record: the table's grants, with row-limited ones asked of the server. */
  async function actionsFor(key: string): Promise<string[] | string> {
    const t = table!;
    const whole = t.allowed.filter((a) => !t.limited.includes(a));
    if (!t.limited.some((a) => a !== 'read' && a !== 'insert')) return whole;
    const answer = await call('GET', `/console/actions.json?table=${encodeURIComponent(t.path)}&key=${encodeURIComponent(key)}`);
    if (!answer.ok) return errorText(answer);
    return [...whole, ...((answer.body as ConsoleActions).actions[key] ?? [])];
  }

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
    return false;
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void submit();
  });
  async function submit(): Promise<void> {
    const body = fields?.body();
    if (!body || !table) return;
    if (current) {
      if (Object.keys(body).length === 0) {
        result.className = 'ok';
        result.replaceChildren(el('p', 'nothing changed'));
        return;
      }
      const answer = await call('PATCH', recordUrl(current.key), body, current.etag ? { 'if-match': current.etag } : {});
      if (report(result, answer, `saved ${current.key}`)) {
        const saved = answer.body as Record<string, unknown>;
        showRecord(saved, answer.etag, (await actionsFor(current.key)) as string[]);
        changed();
      }
      return;
    }
    const answer = await call('POST', `${table.path}/`, body);
    if (report(result, answer, 'created')) {
      changed();
      const created = answer.body as Record<string, unknown>;
      const key = String(created[table.primaryKey]);
      await view.open(table, key);
      result.className = 'ok';
      result.replaceChildren(el('p', `created ${key}`));
    }
  }

  publishForm.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      if (!current) return;
      let body: unknown;
      try {
        body = JSON.parse(message.value);
        message.removeAttribute('aria-invalid');
      } catch (err) {
        message.setAttribute('aria-invalid', 'true');
        publishResult.className = 'error';
        publishResult.replaceChildren(el('p', `the message is not JSON: ${(err as Error).message}`));
        return;
      }
      const answer = await call('POST', recordUrl(current.key), body);
      if (!report(publishResult, answer, `published to ${current.key}`)) message.setAttribute('aria-invalid', 'true');
    })();
  });

  // Two presses: the first asks, the second deletes (no modal dialog to trap the keyboard).
  function disarm(): void {
    armed = false;
    deleteButton.textContent = 'Delete this record';
  }
  deleteButton.addEventListener('click', () => {
    if (!current) return;
    if (!armed) {
      armed = true;
      deleteButton.textContent = `Press again to delete ${current.key}`;
      return;
    }
    disarm();
    const key = current.key;
    void call('DELETE', recordUrl(key), undefined, current.etag ? { 'if-match': current.etag } : {}).then((answer) => {
      if (!report(deleteResult, answer, `deleted ${key}`)) return;
      form.hidden = true;
      publishForm.hidden = true;
      deleteButton.hidden = true;
      changed();
    });
  });

  const view: RecordView = {
    create(t) {
      table = t;
      current = undefined;
      reset(`New record in ${t.path}`);
      fields = recordForm(fieldsHost, t);
      form.hidden = false;
      save.hidden = false;
      save.textContent = 'Create';
      byId('record-readonly').hidden = true;
      publishForm.hidden = true;
      deleteButton.hidden = true;
      liveSection.hidden = true;
      live.show(undefined);
      fieldsHost.querySelector<HTMLElement>('input, select, textarea')?.focus();
    },
    async open(t, key) {
      table = t;
      current = { key, etag: null };
      reset(`Record ${key} of ${t.path}`);
      // Nothing of the record shown before stays on screen while this one is read.
      fieldsHost.replaceChildren();
      fields = undefined;
      form.hidden = publishForm.hidden = deleteButton.hidden = true;
      const [answer, actions] = await Promise.all([call('GET', recordUrl(key)), actionsFor(key)]);
      if (current?.key !== key || table !== t) return;
      if (!answer.ok || typeof actions === 'string') {
        form.hidden = publishForm.hidden = deleteButton.hidden = liveSection.hidden = true;
        if (!answer.ok) report(result, answer, '');
        else {
          result.className = 'error';
          result.replaceChildren(el('p', actions as string));
        }
        return;
      }
      showRecord(answer.body as Record<string, unknown>, answer.etag, actions);
      live.show(t.sse ? recordUrl(key) : undefined);
      title.focus();
    },
    close() {
      table = undefined;
      current = undefined;
      section.hidden = true;
      live.show(undefined);
    },
  };
  return view;
}

/**
 * The open record's publish form and delete button. Publish posts a JSON message to the record's
 * subscribers (nothing is stored); delete asks for a second press (no modal dialog to trap the
 * keyboard; the question is also written where a screen reader announces it, and a press elsewhere
 * withdraws it) and sends `If-Match`, so a record changed since it was read is not deleted blind.
 */
import { call, type Answer } from './api.ts';
import { byId, el } from './dom.ts';

/** The record the actions apply to, when one is open. */
export interface Target {
  key: string;
  url: string;
  etag: string | null;
}

export interface RecordActions {
  /** Shows the publish form and the delete button as `may` allows. */
  show(may: { publish: boolean; delete: boolean }): void;
  hide(): void;
  /** Forgets the message typed and what the last actions answered (another record is opened). */
  clear(): void;
}

/**
 * `target` reads the open record at the moment of a press; `report` shows an answer (true when it
 * was a success); `deleted` runs after the server deleted the record.
 */
export function recordActions(target: () => Target | undefined, report: (out: HTMLElement, answer: Answer, done: string) => boolean, deleted: (key: string) => void): RecordActions {
  const publishForm = byId<HTMLFormElement>('publish');
  const message = byId<HTMLTextAreaElement>('publish-json');
  const publishResult = byId('publish-result');
  const deleteButton = byId<HTMLButtonElement>('record-delete');
  const deleteResult = byId('delete-result');
  let armed: string | undefined;

  publishForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const t = target();
    if (!t) return;
    let body: unknown;
    try {
      body = JSON.parse(message.value);
    } catch (err) {
      message.setAttribute('aria-invalid', 'true');
      publishResult.className = 'error';
      publishResult.replaceChildren(el('p', `the message is not JSON: ${(err as Error).message}`));
      message.focus();
      return;
    }
    message.removeAttribute('aria-invalid');
    void call('POST', t.url, body).then((answer) => {
      if (!report(publishResult, answer, `published to ${t.key}`)) message.setAttribute('aria-invalid', 'true');
    });
  });

  function disarm(): void {
    armed = undefined;
    deleteButton.textContent = 'Delete this record';
  }
  deleteButton.addEventListener('blur', () => {
    if (armed === undefined) return;
    disarm();
    deleteResult.replaceChildren();
  });
  deleteButton.addEventListener('click', () => {
    const t = target();
    if (!t) return;
    if (armed !== t.key) {
      armed = t.key;
      deleteButton.textContent = `Press again to delete ${t.key}`;
      deleteResult.className = 'ok';
      deleteResult.replaceChildren(el('p', `press again to delete ${t.key}`));
      return;
    }
    disarm();
    void call('DELETE', t.url, undefined, t.etag ? { 'if-match': t.etag } : {}).then((answer) => {
      if (report(deleteResult, answer, `deleted ${t.key}`)) deleted(t.key);
    });
  });

  return {
    show(may) {
      disarm();
      publishForm.hidden = !may.publish;
      deleteButton.hidden = !may.delete;
    },
    hide() {
      disarm();
      publishForm.hidden = true;
      deleteButton.hidden = true;
    },
    clear() {
      message.value = '';
      message.removeAttribute('aria-invalid');
      publishResult.replaceChildren();
      deleteResult.replaceChildren();
    },
  };
}

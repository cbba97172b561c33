/**
 * Writes from the console: a record created from JSON typed in a textarea (`POST` on the table),
 * and one deleted by its key (`DELETE` on its URL). The server validates; its error code, message
 * and each problem it lists (`details`: attribute and message) are shown under the form.
 */
import { byId, el } from './dom.ts';

export interface WritesView {
  show(path: string): void;
}

interface ErrorBody {
  code?: string;
  message?: string;
  details?: unknown;
}

/** `changed` runs after a write the server accepted (the records view reloads its page). */
export function writesView(changed: () => void): WritesView {
  const createForm = byId<HTMLFormElement>('create');
  const json = byId<HTMLTextAreaElement>('record-json');
  const createResult = byId('create-result');
  const deleteForm = byId<HTMLFormElement>('delete');
  const key = byId<HTMLInputElement>('delete-key');
  const deleteResult = byId('delete-result');
  let path = '';

  createForm.addEventListener('submit', (e) => {
    e.preventDefault();
    void send(createResult, json, 'POST', `${path}/`, json.value, (body) => `created ${JSON.stringify(body)}`);
  });
  deleteForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const k = key.value.trim();
    void send(deleteResult, key, 'DELETE', `${path}/${encodeURIComponent(k)}`, undefined, () => `deleted ${k}`);
  });

  async function send(out: HTMLElement, field: HTMLInputElement | HTMLTextAreaElement, method: string, url: string, body: string | undefined, done: (body: unknown) => string): Promise<void> {
    out.replaceChildren();
    field.removeAttribute('aria-invalid');
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        credentials: 'same-origin',
        headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body }),
      });
    } catch (err) {
      out.className = 'error';
      out.append(el('p', `the server could not be reached: ${String(err)}`));
      return;
    }
    const text = await res.text();
    const parsed = parseJson(text);
    if (res.ok) {
      out.className = 'ok';
      out.append(el('p', done(parsed)));
      changed();
      return;
    }
    field.setAttribute('aria-invalid', 'true');
    out.className = 'error';
    const error = (parsed ?? {}) as ErrorBody;
    out.append(el('p', `${error.code ?? res.status}: ${error.message ?? res.statusText}`));
    if (Array.isArray(error.details)) {
      const list = el('ul');
      for (const d of error.details as { path?: unknown; message?: unknown }[]) list.append(el('li', `${String(d.path ?? '')}: ${String(d.message ?? '')}`));
      out.append(list);
    }
  }

  return {
    show(p) {
      path = p;
      createResult.replaceChildren();
      deleteResult.replaceChildren();
      json.value = '{\n  \n}';
      key.value = '';
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

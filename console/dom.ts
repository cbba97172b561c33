/** Small DOM helpers for the console: elements by id (a missing one is a bug in index.html) and text-only building. */

/** The element with `id`, of the type the caller expects. */
export function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el as T;
}

/** A new element holding `text` (set as text, never parsed as HTML: records are untrusted). */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

/** The server's error message from a JSON error body, or the status line. */
export async function errorOf(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { code?: string; message?: string };
    if (body.message) return `${body.code ?? res.status}: ${body.message}`;
  } catch {
    // Not JSON: the status says enough.
  }
  return `${res.status} ${res.statusText}`;
}

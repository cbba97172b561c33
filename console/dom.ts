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

/** A `<button type="button">` running `onClick`. */
export function button(text: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', text);
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

/** How a value reads in a cell or a field: strings as they are, everything else as JSON. */
export function shown(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * A record's form, generated from the table's schema (`/console/schema.json`): one labelled field
 * per attribute, its widget by type (text; numbers as text, so a wrong one reaches the server and
 * its message shows; a choice for Boolean and enums; JSON for lists, nested types and `Any`), and
 * for a table that is not `@sealed` one more field for the attributes the schema does not declare.
 * The server validates: each problem it lists (`details[].path`, dotted) is shown under the field
 * of its first segment, the rest under the form.
 */
import type { FieldInfo, TableInfo } from '../src/http/console-types.ts';
import type { Problem } from './api.ts';
import { el, shown } from './dom.ts';

/** The name of the field for undeclared attributes (no attribute can be named so: `$` is not allowed in SDL names). */
const OTHER = '$other';

export interface RecordForm {
  /**
   * The body to send, or undefined after showing what must be fixed first (JSON that does not
   * parse). New record: every filled field. Existing one: the fields changed (an emptied one as
   * `null`, which PATCH sets), so a PATCH carries only what the visitor changed.
   */
  body(): Record<string, unknown> | undefined;
  /** Shows the server's problems next to their fields; returns those that name no field. */
  showProblems(problems: readonly Problem[]): Problem[];
  clearProblems(): void;
  /** Some field differs from what the form was filled with. */
  dirty(): boolean;
}

type Widget = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

interface Field {
  name: string;
  info: FieldInfo | undefined;
  widget: Widget;
  error: HTMLElement;
  /** The text it started with: an edit sends only fields whose text changed. */
  initial: string;
}

/**
 * Fills `host` with the fields of `table`'s records, set from `record` when editing one (its key and
 * server-set times then read-only), empty for a new one.
 */
export function recordForm(host: HTMLElement, table: TableInfo, record?: Record<string, unknown>, readOnly = false): RecordForm {
  const editing = record !== undefined;
  const declared = new Set(table.fields.map((f) => f.name));
  const fields: Field[] = [];
  host.replaceChildren();
  for (const info of table.fields) {
    // Server-set times are not written; a new record's have no value yet.
    if (info.auto && !editing) continue;
    const fixed = readOnly || (editing && (info.primaryKey || info.auto));
    const hint = info.primaryKey && !editing ? 'left empty, the server makes one' : info.auto ? 'set by the server' : '';
    fields.push(addField(host, info.name, info, `${info.type}${info.required ? ', required' : ''}${hint ? `; ${hint}` : ''}`, editing ? record[info.name] : undefined, fixed));
  }
  if (!table.sealed) {
    const others = editing ? Object.fromEntries(Object.entries(record).filter(([k]) => !declared.has(k))) : {};
    fields.push(addField(host, OTHER, undefined, 'JSON object: attributes the schema does not declare', Object.keys(others).length ? others : undefined, readOnly));
  }

  return {
    body() {
      const out: Record<string, unknown> = {};
      let fine = true;
      for (const f of fields) {
        f.error.textContent = '';
        f.widget.removeAttribute('aria-invalid');
        const text = f.widget.value;
        if (locked(f.widget) || (editing && text === f.initial)) continue;
        const read = readText(f, text, declared);
        if ('error' in read) {
          mark(f, read.error);
          fine = false;
        } else if (f.name === OTHER) {
          const now = (read.value ?? {}) as Record<string, unknown>;
          Object.assign(out, now);
          // Attributes removed from the box are cleared, as an emptied field is.
          if (editing) for (const k of Object.keys(parseObject(f.initial))) if (!Object.hasOwn(now, k)) out[k] = null;
        } else if (read.value !== undefined) out[f.name] = read.value;
        else if (editing) out[f.name] = null;
      }
      return fine ? out : undefined;
    },
    showProblems(problems) {
      const unplaced: Problem[] = [];
      for (const p of problems) {
        const head = p.path.split('.')[0]!;
        const f = fields.find((x) => x.name === head) ?? (table.sealed || head === '' ? undefined : fields.find((x) => x.name === OTHER));
        if (f) mark(f, `${f.name === OTHER || p.path !== head ? `${p.path}: ` : ''}${p.message}`);
        else unplaced.push(p);
      }
      return unplaced;
    },
    dirty() {
      return fields.some((f) => !locked(f.widget) && f.widget.value !== f.initial);
    },
    clearProblems() {
      for (const f of fields) {
        f.error.textContent = '';
        f.widget.removeAttribute('aria-invalid');
      }
    },
  };
}

function addField(host: HTMLElement, name: string, info: FieldInfo | undefined, hint: string, value: unknown, readOnly: boolean): Field {
  // Declared names are SDL identifiers (no `-`): no attribute's id can be `other-attributes`.
  const id = name === OTHER ? 'other-attributes' : `field-${name}`;
  const wrap = el('div', undefined, 'field');
  const label = el('label', name === OTHER ? 'Other attributes' : name);
  label.htmlFor = id;
  label.append(' ', el('span', `(${hint})`, 'hint'));
  const widget = widgetFor(info, name === OTHER);
  widget.id = id;
  widget.name = name;
  const initial = value === undefined || value === null ? '' : widget instanceof HTMLTextAreaElement ? json(value) : shown(value);
  widget.value = initial;
  if (widget instanceof HTMLTextAreaElement) widget.rows = Math.min(8, initial.split('\n').length + 1);
  // Read-only fields stay in the tab order (readOnly), so keyboards and screen readers reach them;
  // a <select> has no read-only state, so it is disabled.
  if (widget instanceof HTMLSelectElement) widget.disabled = readOnly;
  else widget.readOnly = readOnly;
  const error = el('p', undefined, 'error field-error');
  error.id = `${id}-error`;
  widget.setAttribute('aria-describedby', error.id);
  if (info?.required && !readOnly && !info.primaryKey) widget.setAttribute('aria-required', 'true');
  wrap.append(label, widget, error);
  host.append(wrap);
  return { name, info, widget, error, initial: widget.value };
}

function widgetFor(info: FieldInfo | undefined, other: boolean): Widget {
  if (other || !info || info.kind === 'object' || info.kind === 'list' || info.type === 'Any') {
    const area = el('textarea');
    area.spellcheck = false;
    return area;
  }
  if (info.kind === 'enum' || info.type === 'Boolean') {
    const select = el('select');
    select.append(Object.assign(el('option', '(not set)'), { value: '' }));
    for (const v of info.kind === 'enum' ? (info.values ?? []) : ['true', 'false']) select.append(Object.assign(el('option', v), { value: v }));
    return select;
  }
  const input = el('input');
  input.type = 'text';
  input.autocomplete = 'off';
  input.spellcheck = false;
  if (['Int', 'Long', 'Float'].includes(info.type)) input.inputMode = 'decimal';
  return input;
}

function locked(w: Widget): boolean {
  return w.disabled || (!(w instanceof HTMLSelectElement) && w.readOnly);
}

/**
 * A field's text as the value to send: undefined when empty; text that is no number is sent as it
 * is, for the server to say what is wrong. The box of undeclared attributes must hold an object
 * naming none of the `declared` ones (each has its own field) nor `__proto__` (which assigning
 * would turn into the body's prototype, silently dropped).
 */
function readText(f: Field, text: string, declared: ReadonlySet<string>): { value: unknown } | { error: string } {
  if (text.trim() === '') return { value: undefined };
  if (f.widget instanceof HTMLTextAreaElement) {
    try {
      const value: unknown = JSON.parse(text);
      if (f.name !== OTHER) return { value };
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'must be a JSON object: {"name": value, …}' };
      const clash = Object.keys(value).find((k) => declared.has(k) || k === '__proto__');
      if (clash) return { error: `${clash} ${clash === '__proto__' ? 'cannot be an attribute name' : 'has its own field above'}` };
      return { value };
    } catch (err) {
      return { error: `is not JSON: ${(err as Error).message}` };
    }
  }
  const type = f.info?.type;
  if (type === 'Boolean') return { value: text === 'true' };
  if ((type === 'Int' || type === 'Long' || type === 'Float') && /^\s*-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(text)) return { value: Number(text) };
  return { value: text };
}

/** Short values on one line, longer ones indented. */
function json(value: unknown): string {
  const line = JSON.stringify(value);
  return line.length <= 60 ? line : JSON.stringify(value, null, 1);
}

function parseObject(text: string): object {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

function mark(f: Field, message: string): void {
  f.error.textContent = f.error.textContent ? `${f.error.textContent}; ${message}` : message;
  f.widget.setAttribute('aria-invalid', 'true');
}

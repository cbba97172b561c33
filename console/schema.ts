/**
 * The chosen table's attributes from `/console/schema.json`, as a table: name, type (with an enum's
 * values), and whether it is the key, indexed or set by the server; then what the visitor may do.
 */
import type { TableInfo } from '../src/http/console-types.ts';
import { byId, el } from './dom.ts';

/** Shows `table`'s attributes in #schema. */
export function showSchema(table: TableInfo): void {
  const body = byId<HTMLTableElement>('schema').tBodies[0]!;
  body.replaceChildren(
    ...table.fields.map((f) => {
      const tr = el('tr');
      const notes = [f.primaryKey ? 'primary key' : f.indexed ? 'indexed' : '', f.auto ? 'set by the server' : ''].filter(Boolean).join(', ');
      const type = `${f.type}${f.required ? '!' : ''}${f.values ? ` (${f.values.join(' | ')})` : ''}`;
      tr.append(el('th', f.name), el('td', type), el('td', notes));
      tr.firstElementChild!.setAttribute('scope', 'row');
      return tr;
    }),
  );
  const notes = [`key: ${table.primaryKey}`, table.sealed ? 'sealed (no undeclared attributes)' : 'open (undeclared attributes kept)'];
  if (table.expiration !== undefined) notes.push(`records expire ${table.expiration} s after their last write`);
  notes.push(`you may: ${table.allowed.map((a) => (table.limited.includes(a) ? `${a} (matching records only)` : a)).join(', ')}`);
  byId('schema-notes').textContent = notes.join(' · ');
}

/**
 * The tables the caller may read, from `GET /console/schema.json` (src/http/console-schema.ts), and
 * the chosen table's attributes as a table: name, type, required, key, indexed.
 */
import type { TableInfo } from '../src/http/console-types.ts';
import { byId, el } from './dom.ts';

/** Shows `table`'s attributes in #schema. */
export function showSchema(table: TableInfo): void {
  const body = byId<HTMLTableElement>('schema').tBodies[0]!;
  body.replaceChildren(
    ...table.fields.map((f) => {
      const tr = el('tr');
      tr.append(el('th', f.name), el('td', `${f.type}${f.required ? '!' : ''}`), el('td', f.primaryKey ? 'primary key' : f.indexed ? 'indexed' : ''));
      tr.firstElementChild!.setAttribute('scope', 'row');
      return tr;
    }),
  );
  const notes = [`key: ${table.primaryKey}`, table.sealed ? 'sealed (no undeclared attributes)' : 'open (undeclared attributes kept)'];
  if (table.expiration !== undefined) notes.push(`records expire ${table.expiration} s after their last write`);
  notes.push(`you may: ${table.allowed.join(', ')}`);
  byId('schema-notes').textContent = notes.join(' · ');
}

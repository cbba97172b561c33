/**
 * The one place GraphQL names are derived from table definitions (README › GraphQL), so the README's
 * mapping table and the schema cannot disagree.
 */
import type { TableDef } from '../schema/model.ts';

/** A valid GraphQL name from an export name: `message` → `message`, `order-items` → `orderItems`. */
function graphqlFieldName(exportName: string): string {
  const parts = exportName.split(/[^A-Za-z0-9_]+/).filter(Boolean);
  let name = parts.map((p, i) => (i === 0 ? p : p[0]!.toUpperCase() + p.slice(1))).join('');
  if (!/^[A-Za-z_]/.test(name)) name = `_${name}`;
  return name;
}

/** Every root field name of one table. */
export interface TableNames {
  /** Query and subscription field: `message`. */
  query: string;
  /** Subscription of change events: `messageEvents`. */
  events: string;
  create: string;
  replace: string;
  update: string;
  delete: string;
  publish: string;
  /** Object type, input types, event type: `Message`, `MessageInput`, `MessagePatch`, `MessageEvent`. */
  type: string;
  input: string;
  patch: string;
  event: string;
}

/**
 * Names for a table.
 * @example namesOf(def).create // 'createMessage'
 */
export function namesOf(def: TableDef): TableNames {
  const query = graphqlFieldName(def.export?.name ?? def.typeName);
  const type = def.typeName;
  return {
    query,
    events: `${query}Events`,
    create: `create${type}`,
    replace: `replace${type}`,
    update: `update${type}`,
    delete: `delete${type}`,
    publish: `publish${type}`,
    type,
    input: `${type}Input`,
    patch: `${type}Patch`,
    event: `${type}Event`,
  };
}

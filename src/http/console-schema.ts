/**
 * `GET /console/schema.json` (README › Console): the tables the caller may read over REST, with
 * their attributes (type, required, key, indexed) and what the caller's roles allow on each, so the
 * console can show the schema and offer only the writes the server would take. Tables the caller
 * may not read are left out, as if absent. Its size follows the schema, not any request input.
 */
import { ACTIONS } from '../config.ts';
import type { App } from '../core/app.ts';
import type { Principal } from '../auth/policy.ts';
import type { FieldDef, FieldType } from '../schema/model.ts';
import type { FieldInfo, TableInfo } from './console-types.ts';

/**
 * The schema description for `principal`.
 * @example consoleSchema(app, request.principal).tables[0].path // '/realtime-demo/message'
 */
export function consoleSchema(app: App, principal: Principal): { tables: TableInfo[] } {
  const tables: TableInfo[] = [];
  for (const def of app.model.tables) {
    if (!def.export?.rest) continue;
    const allowed = ACTIONS.filter((action) => app.policy.grant(principal, action, def).allowed);
    if (!allowed.includes('read')) continue;
    tables.push({
      database: def.database,
      name: def.export.name,
      path: `/${def.database}/${def.export.name}`,
      primaryKey: def.primaryKey,
      sealed: def.sealed,
      sse: def.export.sse,
      ...(def.expiration !== undefined ? { expiration: def.expiration } : {}),
      fields: def.fields.map(fieldInfo),
      allowed,
    });
  }
  return { tables };
}

function fieldInfo(f: FieldDef): FieldInfo {
  return { name: f.name, type: typeName(f.type), required: f.required, primaryKey: f.primaryKey, indexed: f.indexed };
}

function typeName(t: FieldType): string {
  return t.kind === 'list' ? `[${typeName(t.of)}${t.itemRequired ? '!' : ''}]` : t.name;
}

/**
 * The console's descriptions (README › Console). `GET /console/schema.json`: who the caller is and
 * the tables it may read over REST, with their attributes and what its roles allow on each, so the
 * page shows the schema and offers only the writes the server would take. Tables the caller may not
 * read are left out, as if absent. `GET /console/actions.json`: where a role allows an action on
 * matching records only (a row filter), which of the records on the page it may take it on, judged
 * by the same filter the write would be (no copy of the query evaluator in the page). Both cost a
 * bounded amount: the schema's size, and at most MAX_KEYS record reads.
 */
import { ACTIONS } from '../config.ts';
import type { App } from '../core/app.ts';
import type { Principal } from '../auth/policy.ts';
import { AppError } from '../errors.ts';
import { matches } from '../query/evaluate.ts';
import type { FieldDef, FieldType } from '../schema/model.ts';
import type { ConsoleActions, ConsoleSchema, FieldInfo } from './console-types.ts';

/** Keys one `actions.json` request may ask about: a page of records is 20. */
const MAX_KEYS = 100;

/**
 * The schema description for `principal`.
 * @example consoleSchema(app, request.principal).tables[0].path // '/realtime-demo/message'
 */
export function consoleSchema(app: App, principal: Principal): ConsoleSchema {
  const tables: ConsoleSchema['tables'] = [];
  for (const def of app.model.tables) {
    if (!def.export?.rest) continue;
    const grants = ACTIONS.map((action) => [action, app.policy.grant(principal, action, def)] as const).filter(([, g]) => g.allowed);
    const allowed = grants.map(([action]) => action);
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
      limited: grants.filter(([, g]) => g.allowed && g.filter !== undefined).map(([action]) => action),
    });
  }
  const session = { user: principal.user, roles: [...principal.roles], via: principal.via, auth: app.policy.enabled, admin: app.policy.isAdmin(principal) };
  return { session, tables };
}

/**
 * Per key, the record-limited actions `principal` may take on that record of the table at `path`.
 * @throws AppError NOT_FOUND for a table not exported over REST, BAD_REQUEST past MAX_KEYS keys.
 * @example consoleActions(app, principal, '/realtime-demo/message', ['m1']) // { actions: { m1: ['update'] } }
 */
export function consoleActions(app: App, principal: Principal, path: string, keys: readonly string[]): ConsoleActions {
  const [, database = '', name = '', ...rest] = path.split('/');
  const service = rest.length === 0 ? app.exported(database, name) : undefined;
  if (!service?.def.export?.rest) throw new AppError('NOT_FOUND', `no table is exported at ${path}`);
  if (keys.length > MAX_KEYS) throw new AppError('BAD_REQUEST', `at most ${MAX_KEYS} keys may be asked at once, got ${keys.length}`);
  const readable = service.readFilter(principal);
  const limited = ACTIONS.filter((a) => a !== 'read' && a !== 'insert').flatMap((action) => {
    const grant = app.policy.grant(principal, action, service.def);
    return grant.allowed && grant.filter ? [{ action, filter: grant.filter }] : [];
  });
  const answers: [string, string[]][] = [];
  for (const raw of keys) {
    const found = service.find(service.key(raw));
    if (!found || (readable && !matches(readable, found.record))) continue;
    answers.push([raw, limited.filter(({ filter }) => matches(filter, found.record)).map(({ action }) => action)]);
  }
  // fromEntries defines each key as its own property: a record keyed `__proto__` stays an entry.
  return { actions: Object.fromEntries(answers) };
}

function fieldInfo(f: FieldDef): FieldInfo {
  return {
    name: f.name,
    type: typeName(f.type),
    kind: f.type.kind,
    ...(f.type.kind === 'enum' ? { values: [...f.type.values] } : {}),
    required: f.required,
    primaryKey: f.primaryKey,
    indexed: f.indexed,
    auto: f.createdTime || f.updatedTime,
  };
}

function typeName(t: FieldType): string {
  return t.kind === 'list' ? `[${typeName(t.of)}${t.itemRequired ? '!' : ''}]` : t.name;
}

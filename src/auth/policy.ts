/**
 * Permissions: roles grant `read insert update delete publish` per table, optionally restricted to
 * records matching a query (`{ "read": { "filter": "owner=alice" } }`), which may name the caller
 * (`owner=$user`: user-filters.ts, bound per principal in `grant`). Compiled once at start:
 * role filters are parsed with the table's query grammar, so a typo stops start-up instead of
 * silently denying (or allowing) at request time.
 */
import type { Action, AuthConfig } from '../config.ts';

export type { Action } from '../config.ts';
import { ACTIONS } from '../config.ts';
import { AppError } from '../errors.ts';
import { jsonPath } from '../config.ts';
import { parseQuery } from '../query/parse.ts';
import type { Filter } from '../query/types.ts';
import type { TableDef } from '../schema/model.ts';
import { messageOf } from '../util/guards.ts';
import { bindFilter, prepareFilter, showPlaceholders, userFilter, type UserFilter } from './user-filters.ts';

/** Who is asking. `user: null` is the anonymous caller. */
export interface Principal {
  user: string | null;
  roles: readonly string[];
  /** How the caller proved who they are. */
  via: 'basic' | 'bearer' | 'cookie' | 'access_token' | 'anonymous';
  /** When the credential stops being valid (epoch ms); streams end then. */
  expiresAt?: number;
  /**
   * The generation of the password a Basic or JSON credential was checked against (tokens issued
   * from it carry this one, not the generation at issue time: a change landing during the check
   * makes them stale).
   */
  generation?: number;
  /**
   * True once the credential no longer holds: its token revoked (logout) or the user's password
   * changed since it was checked. Streams it opened end at their next heartbeat.
   */
  lapsed?: () => boolean;
}

/** The outcome of a check: allowed everywhere, allowed on matching records only, or refused. */
export type Grant = { allowed: true; filter?: Filter } | { allowed: false };

/** Shared, not built per call: with auth off every request of every table gets it. */
const UNRESTRICTED: Grant = Object.freeze({ allowed: true });

export interface Policy {
  /** False when no auth is configured: everything is open. */
  readonly enabled: boolean;
  /** What `principal` may do with `action` on a table. */
  grant(principal: Principal, action: Action, def: TableDef): Grant;
  /** May read operations data (/metrics, /admin/*): anyone when auth is off, else `admin` roles. */
  isAdmin(principal: Principal): boolean;
  /** Like `grant`, but throws UNAUTHORIZED (anonymous) or FORBIDDEN, and returns the row filter. */
  require(principal: Principal, action: Action, def: TableDef): Filter | undefined;
}

export const ANONYMOUS: Principal = Object.freeze({ user: null, roles: ['anonymous'], via: 'anonymous' });

/** What one role allows on one table: action → true or a row filter (fixed, or naming the caller). */
type Compiled = Map<Action, true | Filter | UserFilter>;

/** A problem of the auth configuration against the schema: its path under `auth` in the configuration. */
export interface PolicyProblem {
  path: readonly string[];
  message: string;
}

/**
 * Every problem `createPolicy` would refuse: role patterns that name no table, row filters that do
 * not parse (or name attributes a `@sealed` table lacks) or hold more than conditions.
 * @example for (const p of policyProblems(config.auth, model.tables)) console.log(jsonPath(p.path), p.message)
 */
export function policyProblems(auth: AuthConfig | undefined, tables: readonly TableDef[]): PolicyProblem[] {
  return compileRoles(auth, tables).problems;
}

/**
 * Compiles the roles of an auth config against the tables.
 * @throws AppError `CONFIG_INVALID` listing every {@link PolicyProblem}.
 * @example const policy = createPolicy(config.auth, model.tables)
 */
export function createPolicy(auth: AuthConfig | undefined, tables: readonly TableDef[]): Policy {
  const enabled = auth !== undefined && (Object.keys(auth.users).length > 0 || Object.keys(auth.roles).length > 0);
  const { compiled, problems } = compileRoles(auth, tables);
  if (problems.length) {
    const lines = problems.map((p) => `  ${jsonPath(['auth', ...p.path])}: ${p.message}`);
    throw new AppError('CONFIG_INVALID', `invalid auth configuration:\n${lines.join('\n')}`, { details: problems });
  }

  const grant = (principal: Principal, action: Action, def: TableDef): Grant => {
    if (!enabled) return UNRESTRICTED;
    const id = `${def.database}/${def.table}`;
    const filters: Filter[] = [];
    for (const role of principal.roles) {
      const permission = compiled.get(role)?.get(id)?.get(action);
      if (permission === undefined) continue;
      // Roles add up: one unrestricted grant beats any number of filtered ones.
      if (permission === true) return UNRESTRICTED;
      filters.push('template' in permission ? bindFilter(permission, principal) : permission);
    }
    if (filters.length === 0) return { allowed: false };
    return { allowed: true, filter: filters.length === 1 ? filters[0]! : { type: 'or', items: filters } };
  };

  const admins = new Set(
    Object.entries(auth?.roles ?? {})
      .filter(([, r]) => r.admin)
      .map(([name]) => name),
  );
  return {
    enabled,
    grant,
    isAdmin: (principal) => !enabled || principal.roles.some((r) => admins.has(r)),
    require(principal, action, def) {
      const g = grant(principal, action, def);
      if (g.allowed) return g.filter;
      const what = `${action} on ${def.database}/${def.export?.name ?? def.table}`;
      if (principal.user === null) {
        throw new AppError('UNAUTHORIZED', `authentication required to ${what}`, { headers: { 'www-authenticate': 'Bearer realm="tablecast"' } });
      }
      throw new AppError('FORBIDDEN', `user ${principal.user} may not ${what}`);
    },
  };
}

/** role → table id (`database/table`) → what the role allows there, and every problem found on the way. */
function compileRoles(auth: AuthConfig | undefined, tables: readonly TableDef[]): { compiled: Map<string, Map<string, Compiled>>; problems: PolicyProblem[] } {
  const compiled = new Map<string, Map<string, Compiled>>();
  const problems: PolicyProblem[] = [];
  for (const [role, { tables: perms }] of Object.entries(auth?.roles ?? {})) {
    const byTable = new Map<string, Compiled>();
    // Broad patterns first, so a more specific one overrides them whatever the order in the file
    // (`*` < `database/*` < `database/name`; the sort is stable for equal ones).
    for (const [pattern, spec] of Object.entries(perms).sort(([a], [b]) => specificity(a) - specificity(b))) {
      const at = ['roles', role, 'tables', pattern];
      const matching = tables.filter((t) => matchesPattern(pattern, t));
      if (matching.length === 0) problems.push({ path: at, message: noTable(pattern, tables) });
      for (const def of matching) {
        const entry = byTable.get(`${def.database}/${def.table}`) ?? new Map<Action, true | Filter | UserFilter>();
        const actions: Array<[Action, boolean | { filter: string }]> = Array.isArray(spec) ? spec.map((a) => [a, true]) : ACTIONS.filter((a) => spec[a] !== undefined).map((a) => [a, spec[a]!]);
        for (const [action, permission] of actions) {
          // `false` takes away what a broader pattern gave (`"db/*": ["delete"], "db/audit": { "delete": false }`):
          // skipping it would let the broader grant stand.
          if (permission === false) {
            entry.delete(action);
            continue;
          }
          if (permission === true) {
            entry.set(action, true);
            continue;
          }
          // A broad pattern applies the filter to several tables: say which one it fails on.
          const on = matching.length > 1 ? ` (on ${def.database}/${def.export?.name ?? def.table})` : '';
          try {
            const { text, uses } = prepareFilter(permission.filter);
            const parsed = parseQuery(text, def);
            // Only conditions: `limit(10)` or `select(a)` alone parsed to no filter at all and so
            // granted every record; with conditions they were silently dropped.
            if (!parsed.filter || parsed.select || parsed.limit || parsed.sort || Object.keys(parsed.reserved).length > 0) {
              problems.push({ path: [...at, action, 'filter'], message: `"${permission.filter}" must hold conditions only (no select, limit, sort or reserved parameters)${on}` });
              continue;
            }
            // A more specific pattern narrows or widens what a broader one gave.
            entry.set(action, uses.size > 0 ? userFilter(parsed.filter, uses) : parsed.filter);
          } catch (err) {
            problems.push({ path: [...at, action, 'filter'], message: `"${permission.filter}": ${showPlaceholders(messageOf(err))}${on}` });
          }
        }
        byTable.set(`${def.database}/${def.table}`, entry);
      }
    }
    compiled.set(role, byTable);
  }
  return { compiled, problems };
}

/** Why a pattern matches nothing, with the names that would. */
function noTable(pattern: string, tables: readonly TableDef[]): string {
  const [database, name] = pattern.split('/');
  const databases = [...new Set(tables.map((t) => t.database))];
  if (name === undefined || !databases.includes(database!)) {
    return `"${pattern}" names no table: use database/name, database/* or * (databases: ${databases.join(', ')})`;
  }
  const names = tables.filter((t) => t.database === database).map((t) => t.export?.name ?? t.table);
  return `"${pattern}" names no table: database ${database} has ${names.join(', ')}`;
}

/** How specific a table pattern is: `*` 0, `database/*` 1, `database/name` 2. */
function specificity(pattern: string): number {
  if (pattern === '*') return 0;
  return pattern.endsWith('/*') ? 1 : 2;
}

/** `*`, `database/*`, or `database/name` where name is the export name or the table name. */
function matchesPattern(pattern: string, def: TableDef): boolean {
  if (pattern === '*') return true;
  const [database, name] = pattern.split('/');
  if (database !== def.database) return false;
  return name === '*' || name === def.table || name === def.export?.name;
}

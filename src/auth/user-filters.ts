/**
 * Row filters that name the caller: `owner=$user`, `members=$user`, `team=$roles`. A placeholder
 * is a whole value written with a bare `$` right after the operator (or as an item of a list); the filter is parsed once, at
 * start-up, with each placeholder standing in as a random token, and bound per principal by
 * swapping those tokens for the caller's name or roles in the parsed filter (no parse per request
 * or event). `%24user` is the literal text `$user`, as is any `$` that does not start a value.
 */
import { randomBytes } from 'node:crypto';
import { AppError } from '../errors.ts';
import type { Condition, Filter } from '../query/types.ts';
import type { Principal } from './policy.ts';

/** A parsed role filter that names the caller; `bind` makes the filter of one principal. */
export interface UserFilter {
  readonly template: Filter;
  /** Which placeholders the filter holds: only these key the cache. */
  readonly uses: ReadonlySet<Placeholder>;
  readonly bound: Map<string, Filter>;
}

type Placeholder = 'user' | 'roles';
const PLACEHOLDERS: readonly Placeholder[] = ['user', 'roles'];

/** Per process: a filter written in the configuration cannot guess it, so no literal value is taken for a placeholder. */
const NONCE = randomBytes(9).toString('hex');
const token = (name: Placeholder) => `tcph${NONCE}${name}`;
const TOKENS = new Map<unknown, Placeholder>(PLACEHOLDERS.map((p) => [token(p), p]));

/** Matches nothing: the filter of an anonymous caller where a rule names `$user`. */
const NOTHING: Filter = Object.freeze({ type: 'or', items: Object.freeze([]) as readonly Filter[] });

/** Bound filters kept per rule: a cache, so a crowd of users only costs rebinding (a few objects). */
const MAX_BOUND = 1000;

/**
 * The filter text with each placeholder replaced by its token, and the names used; throws
 * CONFIG_INVALID for a `$name` that is no placeholder.
 * @example prepareFilter('owner=$user') // { text: 'owner=tcph…user', uses: Set { 'user' } }
 */
export function prepareFilter(raw: string): { text: string; uses: Set<Placeholder> } {
  const uses = new Set<Placeholder>();
  // After an operator (`=`, `==`, `!=`, `=gt=`, `<`, `>`, `%3C`, `%3E`) or inside a list
  // (`=in=(a,$user)`), up to where the value ends.
  const text = raw.replace(/(=|<|>|%3[CcEe]|\(|,)\$([^&|),\]]*)/g, (_, op: string, name: string) => {
    if (name !== 'user' && name !== 'roles') {
      throw new AppError('CONFIG_INVALID', `unknown placeholder $${name} (use $user or $roles; write a literal $ as %24)`);
    }
    uses.add(name);
    return `${op}${token(name)}`;
  });
  return { text, uses };
}

/** An error message of the parser with each token shown as the placeholder it stands for. */
export function showPlaceholders(message: string): string {
  let out = message;
  for (const p of PLACEHOLDERS) out = out.split(token(p)).join(`$${p}`);
  return out;
}

/**
 * Checks where the parsed filter uses its placeholders and makes the rule: `$user` where a text
 * value goes; `$roles` only with `=` or `!=` (a membership test: any role equals, none equals).
 * @throws AppError CONFIG_INVALID naming the misuse.
 */
export function userFilter(template: Filter, uses: ReadonlySet<Placeholder>): UserFilter {
  const check = (f: Filter): void => {
    if (f.type !== 'condition') {
      for (const item of f.items) check(item);
      return;
    }
    const p = placeholderOf(f.value);
    if (p === undefined) return;
    const where = f.path.join('.');
    if (f.typed && f.kind !== 'string' && f.kind !== 'enum') throw new AppError('CONFIG_INVALID', `$${p} is text and cannot be compared with ${where}, which is not text`);
    if (p === 'roles' && f.op !== 'eq' && f.op !== 'ne') throw new AppError('CONFIG_INVALID', `$roles is a list: compare it with = (any role equals ${where}) or != (none does), not =${f.op}=`);
  };
  check(template);
  return { template, uses, bound: new Map() };
}

/**
 * The rule's filter for one principal, cached by what it uses of the principal.
 * @example bindFilter(rule, { user: 'alice', roles: ['member'], via: 'basic' })
 */
export function bindFilter(rule: UserFilter, principal: Principal): Filter {
  if (rule.uses.has('user') && principal.user === null) return NOTHING;
  const key = `${rule.uses.has('user') ? principal.user : ''}\0${rule.uses.has('roles') ? principal.roles.join('\0') : ''}`;
  let filter = rule.bound.get(key);
  if (filter === undefined) {
    filter = substitute(rule.template, principal);
    if (rule.bound.size >= MAX_BOUND) rule.bound.clear();
    rule.bound.set(key, filter);
  }
  return filter;
}

function placeholderOf(value: unknown): Placeholder | undefined {
  if (Array.isArray(value)) {
    for (const v of value) if (TOKENS.has(v)) return TOKENS.get(v);
    return undefined;
  }
  return TOKENS.get(value);
}

/** The filter with the principal's values in place of the tokens; untouched branches are shared. */
function substitute(f: Filter, principal: Principal): Filter {
  if (f.type !== 'condition') {
    const items = f.items.map((item) => substitute(item, principal));
    return items.every((item, i) => item === f.items[i]) ? f : { type: f.type, items };
  }
  const p = placeholderOf(f.value);
  if (p === undefined) return f;
  const roles = principal.roles;
  // A list value (a list operator's) gets the names in place of the token, roles spread out.
  if (Array.isArray(f.value)) return { ...f, value: f.value.flatMap((v) => (TOKENS.get(v) === 'roles' ? roles : TOKENS.get(v) === 'user' ? [principal.user] : [v])) };
  if (p === 'user') return withValue(f, principal.user);
  // `team=$roles`: any of them; `team!=$roles`: none of them. No roles: nothing, or everything.
  return { type: f.op === 'ne' ? 'and' : 'or', items: roles.map((r) => withValue(f, r)) };
}

/** A condition on text: the name compared as written (no `spelled` number or boolean). */
function withValue(f: Condition, value: string | null): Condition {
  const { spelled: _, ...rest } = f;
  return { ...rest, value };
}

/**
 * Evaluates a parsed Query against records in memory: filter matching, ordering and select (the
 * store's reader, store/read.ts, applies them chunk by chunk with limits).
 *
 * Semantics (docs/query-grammar.md): a path walks nested objects and, through any list on the way,
 * matches when any element matches; `ne` is the negation of `eq` (so on a list: no element equals);
 * `attr=null` matches null and absent; comparisons never match null, absent or a value of another
 * type; strings compare by code point (the byte order of LMDB's UTF-8 keys), BigInt decimal strings
 * numerically. `matches` allocates nothing, since it runs once per record per scan.
 */
import type { Record } from '../schema/model.ts';
import type { Condition, Filter, Query, SortKey, ValueKind } from './types.ts';

const hasOwn = Object.hasOwn;

/**
 * Both filters (either may be absent): a caller's query narrowed by a role's row filter.
 * @example allOf(query.filter, roleFilter)
 */
export function allOf(a: Filter | undefined, b: Filter | undefined): Filter | undefined {
  return a && b ? { type: 'and', items: [a, b] } : (a ?? b);
}

/**
 * Whether a record satisfies a filter.
 * @example matches(parseQuery('rating=gt=3', def).filter!, { rating: 5 }) // true
 */
export function matches(filter: Filter, record: Record): boolean {
  if (filter.type === 'condition') {
    const hit = walk(filter, record, 0);
    return filter.op === 'ne' ? !hit : hit;
  }
  const items = filter.items;
  if (filter.type === 'and') {
    for (let i = 0; i < items.length; i++) if (!matches(items[i]!, record)) return false;
    return true;
  }
  for (let i = 0; i < items.length; i++) if (matches(items[i]!, record)) return true;
  return false;
}

/** Follows `c.path` from segment `i`; lists on the way (and at the end) match when any element does. */
function walk(c: Condition, value: unknown, i: number): boolean {
  const path = c.path;
  for (; i < path.length; i++) {
    if (value === null || typeof value !== 'object') return test(c, undefined);
    if (Array.isArray(value)) {
      for (let k = 0; k < value.length; k++) if (walk(c, value[k], i)) return true;
      return false;
    }
    const key = path[i]!;
    // hasOwn: `constructor` or `__proto__` must not reach Object.prototype. The cast: lib's
    // Object.hasOwn is no type guard, and `value` is known only as an object.
    value = hasOwn(value, key) ? (value as Record)[key] : undefined;
  }
  if (Array.isArray(value)) {
    for (let k = 0; k < value.length; k++) if (test(c, value[k])) return true;
    return false;
  }
  return test(c, value);
}

/** One value against one condition; `ne` is tested as `eq` and negated by the caller. */
function test(c: Condition, v: unknown): boolean {
  const w = c.value;
  switch (c.op) {
    case 'eq':
    case 'ne':
      if (v === w) return true;
      if (w === null) return v === undefined;
      // Untyped: the text also matches the number, boolean or null it spells.
      return c.spelled !== undefined && (v === c.spelled || (c.spelled === null && v === undefined));
    case 'gt':
      return order(c, v) > 0;
    case 'ge':
      return order(c, v) >= 0;
    case 'lt':
      return order(c, v) < 0;
    case 'le':
      return order(c, v) <= 0;
    case 'ct':
      // Text contains text; otherwise (an element of a list of numbers, say) `ct` is membership.
      if (typeof v === 'string' && typeof w === 'string' && c.kind !== 'bytes') return v.includes(w);
      return v === w || (c.spelled !== undefined && v === c.spelled);
    case 'sw':
      return typeof v === 'string' && typeof w === 'string' && v.startsWith(w);
    case 'ew':
      return typeof v === 'string' && typeof w === 'string' && v.endsWith(w);
  }
}

/** Sign of `v` against the condition's value; NaN (every comparison false) when they do not compare. */
function order(c: Condition, v: unknown): number {
  const w = c.value;
  if (c.kind === 'bigint') return typeof v === 'string' && typeof w === 'string' ? compareIntegers(v, w) : NaN;
  if (typeof v === 'string') return typeof w === 'string' ? compareCodePoints(v, w) : NaN;
  if (typeof v === 'number') {
    const x = typeof w === 'number' ? w : c.spelled;
    return typeof x === 'number' ? (v < x ? -1 : v > x ? 1 : v === x ? 0 : NaN) : NaN;
  }
  return NaN;
}

/**
 * Compares strings by Unicode code point (UTF-16 `<` puts U+E000–U+FFFF after astral characters;
 * UTF-8 byte order, which LMDB keys use, does not).
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Only the first difference matters; lift surrogates above the rest of the BMP.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/** Compares canonical decimal integer strings (BigInt's stored form) numerically. */
export function compareIntegers(a: string, b: string): number {
  const negA = a.charCodeAt(0) === 45;
  const negB = b.charCodeAt(0) === 45;
  if (negA !== negB) return negA ? -1 : 1;
  // Same sign: more digits is further from zero; equal lengths compare digit by digit.
  const sign = negA ? -1 : 1;
  if (a.length !== b.length) return a.length < b.length ? -sign : sign;
  return a < b ? -sign : a > b ? sign : 0;
}

/** Type order for values of different types in one sort key: booleans, numbers, strings, the rest. */
function rank(v: unknown): number {
  switch (typeof v) {
    case 'boolean':
      return 0;
    case 'number':
      return 1;
    case 'string':
      return 2;
    default:
      return 3;
  }
}

function compareValues(a: unknown, b: unknown, kind: ValueKind | undefined): number {
  if (kind === 'bigint' && typeof a === 'string' && typeof b === 'string') return compareIntegers(a, b);
  if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b);
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return a === b ? 0 : a ? 1 : -1;
  return rank(a) - rank(b);
}

/** The value at a path for sorting: no list expansion, absent when a segment is missing. */
function valueAt(record: Record, path: readonly string[]): unknown {
  let value: unknown = record;
  for (let i = 0; i < path.length; i++) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    const key = path[i]!;
    // lib's Object.hasOwn is no type guard (as in walk).
    value = hasOwn(value, key) ? (value as Record)[key] : undefined;
  }
  return value;
}

/**
 * A comparator for `Array.prototype.sort` (stable, so ties keep primary-key order). Null and absent
 * values sort last in either direction; then numbers numerically, strings by code point.
 * @example records.sort(compareRecords([{ path: ['rating'], descending: true }]))
 */
export function compareRecords(sort: readonly SortKey[]): (a: Record, b: Record) => number {
  return (a, b) => {
    for (let i = 0; i < sort.length; i++) {
      const key = sort[i]!;
      const x = valueAt(a, key.path);
      const y = valueAt(b, key.path);
      const xNull = x === null || x === undefined;
      const yNull = y === null || y === undefined;
      if (xNull || yNull) {
        if (xNull && yNull) continue;
        return xNull ? 1 : -1;
      }
      const cmp = compareValues(x, y, key.kind);
      if (cmp !== 0) return key.descending ? -cmp : cmp;
    }
    return 0;
  };
}

/**
 * Applies `select(...)` to one record: the bare value, an array of values, or a new object with
 * only the selected attributes (absent ones omitted).
 * @example project({ attributes: ['name'], bare: true }, { id: 1, name: 'a' }) // 'a'
 */
export function project(select: NonNullable<Query['select']>, record: Record): unknown {
  const attributes = select.attributes;
  if (select.bare) return hasOwn(record, attributes[0]!) ? record[attributes[0]!] : undefined;
  if (select.array) return attributes.map((name) => (hasOwn(record, name) ? record[name] : undefined));
  const out: Record = {};
  for (const name of attributes) if (hasOwn(record, name)) out[name] = record[name];
  return out;
}

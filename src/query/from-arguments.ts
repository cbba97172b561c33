/**
 * A Query from typed arguments (GraphQL's `product(category: "tools", sort: ["-price"], limit: 2)`),
 * built directly, with the same attribute resolution and value coercion as the URL grammar
 * (coerce.ts), so both front ends accept the same values and find the same records. Nothing is
 * turned into query text and parsed again: an argument's value is only ever a value, and a `sort`
 * entry only ever an attribute path.
 */
import type { TableDef } from '../schema/model.ts';
import { sortKeyOf } from './calls.ts';
import { resolvePath } from './attributes.ts';
import { coerceEquals, conditionOf, queryError, tooManyTerms } from './coerce.ts';
import type { ParseOptions } from './parse.ts';
import type { Condition, Query, SortKey } from './types.ts';

export interface QueryArguments {
  /** Attribute name → the value it must equal (`null`: the attribute is missing or null). */
  equals?: { readonly [attribute: string]: unknown };
  limit?: number | null;
  offset?: number | null;
  /** Attribute paths (`price`, `dimensions.width`), `-` first for descending, `+` or nothing ascending. */
  sort?: readonly string[] | null;
}

/**
 * @throws AppError QUERY_INVALID for a value the attribute cannot hold, a negative limit or
 *   offset, or a sort path that names nothing sortable; QUERY_TOO_COMPLEX past `maxTerms`.
 * @example queryFromArguments(def, { equals: { status: 'ACTIVE' }, sort: ['-price'], limit: 2 })
 */
export function queryFromArguments(def: TableDef, args: QueryArguments, options: ParseOptions = {}): Query {
  const query: Query = { reserved: {} };
  const conditions: Condition[] = [];
  const maxTerms = options.maxTerms ?? Infinity;
  for (const [name, value] of Object.entries(args.equals ?? {})) {
    if (value === undefined) continue;
    if (conditions.length >= maxTerms) tooManyTerms(maxTerms);
    const path = [name];
    const target = resolvePath(def, path);
    conditions.push(conditionOf(path, 'eq', target, coerceEquals(name, target, value)));
  }
  if (conditions.length === 1) query.filter = conditions[0]!;
  else if (conditions.length > 1) query.filter = { type: 'and', items: conditions };

  const limit = args.limit ?? undefined;
  const offset = args.offset ?? 0;
  if (limit !== undefined || offset !== 0) {
    if ((limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) || !(Number.isSafeInteger(offset) && offset >= 0)) {
      queryError('limit and offset must be non-negative integers');
    }
    query.limit = { offset, count: limit ?? Infinity };
  }

  if (args.sort && args.sort.length > 0) query.sort = args.sort.map((entry) => sortKeyFrom(def, entry));
  return query;
}

function sortKeyFrom(def: TableDef, entry: string): SortKey {
  const sign = entry.charAt(0);
  const name = sign === '-' || sign === '+' ? entry.slice(1) : entry;
  const path = name.split('.');
  if (path.some((segment) => segment === '')) queryError(`sort needs attribute paths like price or dimensions.width, got '${entry}'`);
  return sortKeyOf(def, path, sign === '-');
}

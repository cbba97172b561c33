/**
 * The query planner: decides whether a filter can be answered from a secondary index and turns
 * it into index ranges. The filter is always re-checked on every candidate record, so an index is
 * only ever used to skip records, never to decide a match (that keeps truncated long strings, lists
 * and `null`-vs-missing exact without special cases here).
 */
import type { Condition, Filter } from '../query/types.ts';
import type { FieldDef } from '../schema/model.ts';
import { MAX_INDEXED_STRING, toIndexKey, type IndexKey } from './indexes.ts';

/** A range over one index: `exact`, or bounds (both inclusive, since the filter re-checks). */
export interface IndexRange {
  attribute: string;
  exact?: IndexKey;
  start?: IndexKey;
  end?: IndexKey;
}

/** Either a full scan, or the union of index ranges that together hold every candidate. */
export type Plan = { kind: 'scan' } | { kind: 'index'; ranges: IndexRange[] };

const SCAN: Plan = { kind: 'scan' };
/** Above every string in LMDB's byte order (UTF-8 of U+10FFFF), for prefix ranges. */
const STRING_MAX = '\u{10FFFF}';

/**
 * Plans a filter against the indexed fields of a table.
 * @example planFilter(query.filter, new Map([['category', field]]))
 */
export function planFilter(filter: Filter | undefined, indexed: ReadonlyMap<string, FieldDef>): Plan {
  if (!filter || indexed.size === 0) return SCAN;
  const ranges = planNode(filter, indexed);
  return ranges ? { kind: 'index', ranges } : SCAN;
}

function planNode(filter: Filter, indexed: ReadonlyMap<string, FieldDef>): IndexRange[] | undefined {
  if (filter.type === 'condition') {
    const r = rangeOf(filter, indexed);
    return r ? [r] : undefined;
  }
  if (filter.type === 'or') {
    // A union is only complete if every branch can be answered from an index.
    const all: IndexRange[] = [];
    for (const item of filter.items) {
      const r = planNode(item, indexed);
      if (!r) return undefined;
      all.push(...r);
    }
    return all;
  }
  return planAnd(filter.items, indexed);
}

/** For AND, one indexed child is enough: prefer equality, then a two-sided range, then any. */
function planAnd(items: readonly Filter[], indexed: ReadonlyMap<string, FieldDef>): IndexRange[] | undefined {
  let best: IndexRange[] | undefined;
  let bestRank = 0;
  const bounds = new Map<string, IndexRange>();
  for (const item of items) {
    const ranges = planNode(item, indexed);
    if (!ranges) continue;
    if (ranges.length === 1 && ranges[0]!.exact !== undefined) return ranges;
    if (ranges.length === 1) {
      // Merge `a=ge=1&a=le=9` into one range over `a`.
      const r = ranges[0]!;
      const merged = { ...(bounds.get(r.attribute) ?? { attribute: r.attribute }) };
      if (r.start !== undefined) merged.start = r.start;
      if (r.end !== undefined) merged.end = r.end;
      bounds.set(r.attribute, merged);
      const rank = merged.start !== undefined && merged.end !== undefined ? 3 : 2;
      if (rank > bestRank) [best, bestRank] = [[merged], rank];
    } else if (bestRank < 1) {
      [best, bestRank] = [ranges, 1];
    }
  }
  return best;
}

function rangeOf(c: Condition, indexed: ReadonlyMap<string, FieldDef>): IndexRange | undefined {
  if (!c.typed || c.path.length !== 1) return undefined;
  const field = indexed.get(c.path[0]!);
  if (!field) return undefined;
  const key = toIndexKey(c.value);
  if (key === undefined) return undefined;
  const attribute = field.name;
  const truncated = typeof c.value === 'string' && c.value.length > MAX_INDEXED_STRING;
  switch (c.op) {
    case 'eq':
      return { attribute, exact: key };
    case 'sw':
      return typeof key === 'string' ? { attribute, start: key, end: key + STRING_MAX } : undefined;
    case 'gt':
    case 'ge':
    case 'lt':
    case 'le': {
      // BigInt is stored as a decimal string, whose byte order is not numeric order.
      if (key === null || isBigInt(field)) return undefined;
      const lower = c.op === 'gt' || c.op === 'ge';
      if (lower) return { attribute, start: key };
      return { attribute, end: truncated && typeof key === 'string' ? key + STRING_MAX : key };
    }
    default:
      return undefined;
  }
}

function isBigInt(field: FieldDef): boolean {
  const t = field.type.kind === 'list' ? field.type.of : field.type;
  return t.kind === 'scalar' && t.name === 'BigInt';
}

/**
 * The query planner: decides whether a filter can be answered from a secondary index and turns
 * it into index ranges. The filter is always re-checked on every candidate record, so an index is
 * only ever used to skip records, never to decide a match (that keeps truncated long strings, lists
 * and `null`-vs-missing exact without special cases here).
 */
import { compareCodePoints } from '../query/evaluate.ts';
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

/**
 * Either a full scan, or the union of index ranges that together hold every candidate. The ranges
 * are merged: on one attribute they are disjoint and in index order (attributes by name).
 */
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
  return ranges ? { kind: 'index', ranges: mergeRanges(ranges) } : SCAN;
}

/** Type order of ordered-binary keys (null, booleans, numbers, strings), then values within a type. */
function compareIndexKeys(a: IndexKey, b: IndexKey): number {
  const ra = keyRank(a);
  const rb = keyRank(b);
  if (ra !== rb) return ra - rb;
  // Same rank, so `b` has `a`'s type; TypeScript does not carry that across two variables.
  if (typeof a === 'string') return compareCodePoints(a, b as string);
  if (typeof a === 'number') return a - (b as number);
  if (typeof a === 'boolean') return Number(a) - Number(b);
  return 0;
}

function keyRank(k: IndexKey): number {
  return k === null ? 0 : typeof k === 'boolean' ? 1 : typeof k === 'number' ? 2 : 3;
}

/**
 * The union of ranges with duplicates and overlaps merged, so each index entry is read once
 * however often a query names it (`a=sw=x|a=sw=x|…` is one range). Per attribute the result is
 * disjoint and sorted. An `exact` null stays on its own: lmdb's ranges never return the null key
 * (it encodes below every bound), so folding it into an open-started range would lose it.
 * @example mergeRanges([{ attribute: 'a', start: 'x', end: 'x\u{10FFFF}' }, { attribute: 'a', exact: 'xy' }]) // the first range
 */
export function mergeRanges(ranges: readonly IndexRange[]): IndexRange[] {
  const byAttribute = new Map<string, IndexRange[]>();
  for (const r of ranges) {
    const list = byAttribute.get(r.attribute);
    if (list) list.push(r);
    else byAttribute.set(r.attribute, [r]);
  }
  const out: IndexRange[] = [];
  for (const attribute of [...byAttribute.keys()].sort()) {
    const list = byAttribute.get(attribute)!;
    if (list.some((r) => r.exact === null)) out.push({ attribute, exact: null });
    // [lo, hi] with undefined meaning unbounded; an exact value is [v, v].
    const spans = list
      .filter((r) => r.exact !== null)
      .map((r) => (r.exact !== undefined ? { lo: r.exact, hi: r.exact } : { lo: r.start, hi: r.end }))
      .sort((x, y) => lowerOrder(x.lo, y.lo));
    let current: { lo: IndexKey | undefined; hi: IndexKey | undefined } | undefined;
    for (const span of spans) {
      // Bounds are inclusive, so touching spans overlap; an unbounded end absorbs everything after it.
      if (current && (current.hi === undefined || (span.lo !== undefined && compareIndexKeys(span.lo, current.hi) <= 0))) {
        if (current.hi !== undefined && (span.hi === undefined || compareIndexKeys(span.hi, current.hi) > 0)) current.hi = span.hi;
        continue;
      }
      if (current) out.push(toRange(attribute, current));
      current = { ...span };
    }
    if (current) out.push(toRange(attribute, current));
  }
  return out;
}

/** Orders lower bounds, an absent one (unbounded) first. */
function lowerOrder(a: IndexKey | undefined, b: IndexKey | undefined): number {
  if (a === undefined) return b === undefined ? 0 : -1;
  return b === undefined ? 1 : compareIndexKeys(a, b);
}

function toRange(attribute: string, span: { lo: IndexKey | undefined; hi: IndexKey | undefined }): IndexRange {
  if (span.lo !== undefined && span.hi !== undefined && compareIndexKeys(span.lo, span.hi) === 0) return { attribute, exact: span.lo };
  return { attribute, ...(span.lo !== undefined ? { start: span.lo } : {}), ...(span.hi !== undefined ? { end: span.hi } : {}) };
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

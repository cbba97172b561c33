/**
 * Reads the candidate records of a query in primary-key order, from an index when the planner
 * found one, otherwise from the table itself. Candidates are filtered here; sorting, limits and
 * projection are left to `applyQuery`, which stops pulling once a limit is met.
 */
import { matches } from '../query/evaluate.ts';
import type { Query } from '../query/types.ts';
import type { RangeOptions } from 'lmdb';
import type { Key, Record } from '../schema/model.ts';
import { compareKeys } from './keys.ts';
import type { TableHandle } from './open.ts';
import type { StoredRecord } from './types.ts';
import { planFilter, type IndexRange } from './plan.ts';

/**
 * The records matching `query.filter`, lazily, in key order.
 * @example [...candidateRecords(handle, parseQuery('category=sw', def), Date.now())]
 */
export function* candidateRecords(table: TableHandle, query: Query, now: number): Generator<Record> {
  const filter = query.filter;
  const live = table.expires ? (key: Key) => !isExpired(table, key, now) : undefined;
  const plan = planFilter(filter, table.indexed);
  if (plan.kind === 'scan') {
    for (const { key, value } of table.records.getRange({})) {
      table.stats.recordsRead++;
      if (live && !live(key)) continue;
      if (!filter || matches(filter, value)) yield value;
    }
    return;
  }
  for (const key of planKeys(table, plan.ranges)) {
    if (live && !live(key)) continue;
    const value = table.records.get(key);
    table.stats.recordsRead++;
    if (value !== undefined && (!filter || matches(filter, value))) yield value;
  }
}

/** Keys from the index ranges, in key order, without duplicates. */
function planKeys(table: TableHandle, ranges: readonly IndexRange[]): Iterable<Key> {
  const only = ranges.length === 1 ? ranges[0]! : undefined;
  // One exact value: the index already holds its keys in key order, so stay lazy.
  if (only && only.exact !== undefined) return indexOf(table, only.attribute).getValues(only.exact);
  const keys = new Set<Key>();
  for (const r of ranges) {
    const db = indexOf(table, r.attribute);
    if (r.exact !== undefined) {
      for (const k of db.getValues(r.exact)) keys.add(k);
      continue;
    }
    const range: RangeOptions = {
      ...(r.start !== undefined ? { start: r.start as Key } : {}),
      ...(r.end !== undefined ? { end: r.end as Key, inclusiveEnd: true } : {}),
    };
    for (const { value } of db.getRange(range)) keys.add(value);
  }
  return [...keys].sort(compareKeys);
}

function indexOf(table: TableHandle, attribute: string) {
  const index = table.indexes.find((i) => i.field.name === attribute);
  if (!index) throw new Error(`no index on ${table.id}.${attribute}`);
  return index.db;
}

/** Whether a record of an expiring table is past its time (it reads as absent until swept). */
export function isExpired(table: TableHandle, key: Key, now: number): boolean {
  const at = table.expires?.get(key);
  return at !== undefined && at <= now;
}

/** A record with its version, or `undefined` when absent or expired: the one read by key. */
export function readLive(table: TableHandle, key: Key, now: number): StoredRecord | undefined {
  return liveOf(table, key, table.records.getEntry(key), now);
}

/** A record as lmdb's `getEntry` returns it: the value and, with versions on, its version. */
export type RawEntry = { value: Record; version?: number };

/** `readLive` of an entry already read (the write context reads a key once per transaction). */
export function liveOf(table: TableHandle, key: Key, entry: RawEntry | undefined, now: number): StoredRecord | undefined {
  if (!entry || isExpired(table, key, now)) return undefined;
  return { record: entry.value, version: entry.version ?? 0 };
}

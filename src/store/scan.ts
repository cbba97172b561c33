/**
 * Reads the candidate records of a query in primary-key order, from an index when the planner
 * found one, otherwise from the table itself, and filters them. Sorting, limits and projection are
 * left to the reader (read.ts), which pulls lazily, so `limit(n)` without a sort stops after n
 * matches. Every read can run inside one explicit read transaction (one snapshot).
 *
 * The generator also yields {@link CHECKPOINT} every {@link CHECK_EVERY} records or index entries
 * it examines, matching or not, so the reader can give the event loop back on time even while a
 * scan finds nothing.
 */
import { compareKeys } from './keys.ts';
import { matches } from '../query/evaluate.ts';
import type { Filter } from '../query/types.ts';
import type { RangeOptions, Transaction } from 'lmdb';
import type { Key, Record } from '../schema/model.ts';
import type { IndexKey } from './indexes.ts';
import { mergeSorted } from './merge-keys.ts';
import type { TableHandle } from './open.ts';
import type { StoredRecord } from './types.ts';
import { planFilter, type IndexRange } from './plan.ts';

/** Yielded between candidates: the reader may pause here. */
export const CHECKPOINT: unique symbol = Symbol('checkpoint');
/** Records or index entries examined between two checkpoints. */
export const CHECK_EVERY = 64;
/**
 * Most index values merged lazily in key order. Each is one LMDB cursor held open for the read, so
 * a range over more distinct values (`n=gt=5` on a unique attribute) is collected instead.
 */
const MAX_MERGED = 256;
/**
 * Most index entries collected and sorted by key when a range is too wide to merge: sorting them is
 * one uninterruptible step (~10 ms for 10,000 keys). Past it, the table is scanned in key order.
 */
const MAX_COLLECTED = 10_000;

/** Read options: the snapshot to read in (absent: lmdb's current read transaction). */
export interface ReadOptions {
  transaction?: Transaction;
}

/** Where a read resumes: after `after` (a primary key), reporting the last key it examined in `progress`. */
export interface ResumeOptions {
  after?: Key;
  progress?: { key?: Key };
}

/**
 * The records matching `filter`, lazily, in key order, with checkpoints in between.
 * @example for (const r of candidates(handle, parseQuery('category=sw', def).filter, Date.now())) if (r !== CHECKPOINT) use(r)
 */
export function* candidates(table: TableHandle, filter: Filter | undefined, now: number, options: ReadOptions & ResumeOptions = {}): Generator<Record | typeof CHECKPOINT> {
  const read: ReadOptions = options.transaction ? { transaction: options.transaction } : {};
  const { after, progress } = options;
  const live = table.expires ? (key: Key) => !isExpired(table, key, now, read) : undefined;
  const plan = planFilter(filter, table.indexed);
  const keys = plan.kind === 'index' ? yield* indexKeys(table, plan.ranges, read, after) : undefined;
  let n = 0;
  if (keys) {
    for (const key of keys) {
      if (++n % CHECK_EVERY === 0) yield CHECKPOINT;
      if (progress) progress.key = key;
      if (live && !live(key)) continue;
      const value = table.records.get(key, read);
      table.stats.recordsRead++;
      if (value !== undefined && (!filter || matches(filter, value))) yield value;
    }
    return;
  }
  for (const { key, value } of table.records.getRange({ ...read, ...(after !== undefined ? { start: after, exclusiveStart: true } : {}) })) {
    if (++n % CHECK_EVERY === 0) yield CHECKPOINT;
    if (progress) progress.key = key;
    table.stats.recordsRead++;
    if (live && !live(key)) continue;
    if (!filter || matches(filter, value)) yield value;
  }
}

/**
 * The keys the index ranges hold, in key order, each once; `undefined` when the table scan is the
 * better read. Keys under one index value come in key order (dupSort over ordered-binary keys), but
 * a range over several values gives them in value order, so each value of a range becomes its own
 * sorted source and the sources are merged; a range too wide for that is collected and sorted.
 */
// (Index values are passed to lmdb `as Key`: see IndexHandleDb below.)
function* indexKeys(table: TableHandle, ranges: readonly IndexRange[], options: ReadOptions, after: Key | undefined): Generator<typeof CHECKPOINT, Iterable<Key> | undefined> {
  const values: Array<[IndexHandleDb, IndexKey]> = [];
  outer: for (const r of ranges) {
    const db = indexOf(table, r.attribute);
    if (r.exact !== undefined) {
      values.push([db, r.exact]);
      if (values.length > MAX_MERGED) break;
      continue;
    }
    // getKeys on a dupSort database visits each value once, skipping its duplicates.
    for (const value of db.getKeys(rangeOptions(r, options))) {
      values.push([db, value as IndexKey]);
      if (values.length > MAX_MERGED) break outer;
    }
  }
  // The keys under one value are in key order, so a resumed read starts each one after `after`.
  const keyRange = after !== undefined ? { ...options, start: after, exclusiveStart: true } : options;
  // One value (an equality): its keys are already in key order.
  if (values.length === 1) return values[0]![0].getValues(values[0]![1] as Key, keyRange);
  if (values.length <= MAX_MERGED)
    return mergeSorted(
      values.map(([db, value]) => db.getValues(value as Key, keyRange)[Symbol.iterator]()),
      compareKeys,
    );

  const keys = new Set<Key>();
  let n = 0;
  for (const r of ranges) {
    const db = indexOf(table, r.attribute);
    const entries = r.exact !== undefined ? db.getValues(r.exact as Key, options) : db.getRange(rangeOptions(r, options)).map((e) => e.value);
    for (const key of entries) {
      if (++n > MAX_COLLECTED) return undefined;
      if (n % CHECK_EVERY === 0) yield CHECKPOINT;
      if (after === undefined || compareKeys(key, after) > 0) keys.add(key);
    }
  }
  yield CHECKPOINT; // the sort below starts a fresh slice
  return [...keys].sort(compareKeys);
}

type IndexHandleDb = TableHandle['indexes'][number]['db'];
// Index values (IndexKey) are passed to lmdb `as Key`: they may be null, which ordered-binary stores
// (first) and lmdb's Key type leaves out.

function rangeOptions(r: IndexRange, options: ReadOptions): RangeOptions {
  return {
    ...(r.start !== undefined ? { start: r.start as Key } : {}),
    ...(r.end !== undefined ? { end: r.end as Key, inclusiveEnd: true } : {}),
    ...options,
  };
}

function indexOf(table: TableHandle, attribute: string): IndexHandleDb {
  const index = table.indexes.find((i) => i.field.name === attribute);
  if (!index) throw new Error(`no index on ${table.id}.${attribute}`);
  return index.db;
}

/** Whether a record of an expiring table is past its time (it reads as absent until swept). */
export function isExpired(table: TableHandle, key: Key, now: number, options?: ReadOptions): boolean {
  const at = table.expires?.get(key, options);
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

/**
 * Secondary indexes for `@indexed` attributes: one dupSort sub-database per attribute mapping an
 * attribute value to the primary keys that hold it, kept in the record's own transaction.
 *
 * Why dupSort with ordered-binary values: the keys that share one value come back in primary-key
 * order, so an equality filter is already in the collection's default order and `limit(n)` can stop
 * after n records instead of collecting and sorting every match.
 */
import type { Database } from 'lmdb';
import type { FieldDef, Key, Record } from '../schema/model.ts';
import type { UndoLog } from './undo-log.ts';

/**
 * LMDB keys are limited to ~2 KB; longer strings are indexed by a prefix and re-checked on read.
 * 300 UTF-16 units are at most 900 bytes of UTF-8: no attribute value can make an index key that
 * LMDB refuses, so a write never fails on one in the middle of applying (test/unit/store/atomic.test.ts).
 */
export const MAX_INDEXED_STRING = 300;

export type IndexKey = string | number | boolean | null;

export interface IndexHandle {
  field: FieldDef;
  /**
   * Record keys under attribute values. The value side is typed loosely: lmdb's `Key` type omits
   * `null`, which ordered-binary does store (first), and its generic admits nothing wider.
   */
  // biome-ignore lint/suspicious/noExplicitAny: lmdb's key type parameter cannot hold null
  db: Database<Key, any>;
}

/** The distinct index keys a record has for one attribute (lists index each element). */
export function indexKeysOf(field: FieldDef, record: Record | undefined): IndexKey[] {
  if (!record) return [];
  const value = record[field.name];
  if (Array.isArray(value)) {
    const keys = new Set<IndexKey>();
    for (const item of value) {
      const k = toIndexKey(item);
      if (k !== undefined) keys.add(k);
    }
    return [...keys];
  }
  const k = toIndexKey(value);
  return k === undefined ? [] : [k];
}

/** The key a single value is indexed under; `undefined` when it cannot be indexed (objects). */
export function toIndexKey(value: unknown): IndexKey | undefined {
  if (value === undefined || value === null) return null;
  switch (typeof value) {
    case 'string':
      return value.length > MAX_INDEXED_STRING ? value.slice(0, MAX_INDEXED_STRING) : value;
    case 'number':
      // `+ 0` turns -0 into 0: ordered-binary encodes -0 apart from 0 (sorted after every number),
      // while the stored record (msgpack) and the filter treat them as equal; without this,
      // `price=0` and `price=lt=1` missed a record written with -0 through the index.
      return Number.isFinite(value) ? value + 0 : undefined;
    case 'boolean':
      return value;
    default:
      return undefined;
  }
}

/** Adds a duplicate only if it is not there, and says whether it added it (undo must not remove an older one). */
const NO_DUP_DATA = Object.freeze({ noDupData: true });

/**
 * Brings every index of a table from `prev` to `next` for one key; call inside the write transaction.
 * With `undo`, each entry it actually added or removed is recorded there, so a write that fails
 * later can take exactly these back.
 */
export function updateIndexes(indexes: readonly IndexHandle[], key: Key, prev: Record | undefined, next: Record | undefined, undo?: UndoLog): void {
  for (const { field, db } of indexes) {
    const before = indexKeysOf(field, prev);
    const after = indexKeysOf(field, next);
    // `as Key`: an index value may be null, which ordered-binary stores and lmdb's Key type leaves out.
    for (const k of before) if (!after.includes(k) && db.removeSync(k as Key, key)) undo?.replaced(db, k, key);
    for (const k of after) if (!before.includes(k) && db.putSync(k as Key, key, NO_DUP_DATA)) undo?.added(db, k, key);
  }
}

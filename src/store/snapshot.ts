/**
 * A store's records as rows, and rows back into an empty store: how a cluster node that joins
 * after the cluster's log was trimmed gets the state it cannot replay (SPEC §10, "Joining"). The
 * rows are read from one LMDB snapshot together with the log position they reflect, so they are
 * the state after exactly that entry; the joining node writes them, indexes and expiry included,
 * and starts its change log there (no history before it: a cursor from earlier gets a `reset`).
 * Passwords changed at run time travel along, as rows of their own.
 */
import type { Key, Record } from '../schema/model.ts';
import { AppError } from '../errors.ts';
import { updateIndexes } from './indexes.ts';
import type { Transaction } from 'lmdb';
import type { Layout, TableHandle } from './open.ts';
import type { StoredCredential } from './types.ts';

/** One record: table id, key, value, version (its change sequence), expiry time if any. */
export interface SnapshotRow {
  t: string;
  k: Key;
  v: Record;
  n: number;
  x?: number;
}

/** The `t` of rows holding changed passwords (table ids always hold a `/`). */
const CREDENTIALS = '#credentials';

/** Meta key of the log position (store.ts `logPosition`). */
export const LOG_POSITION = 'log-position';

/** What `readRows` reads of a table: its records and, for an expiring table, their deadlines. */
type RowSource = Pick<TableHandle, 'id' | 'records' | 'expires'>;

/**
 * Hands every record of `tables`, as read in `transaction`, to `onRows` in batches of `batch` rows;
 * resolves to the rows of the last, partial batch (not handed yet: the caller may add to them).
 */
export async function readRows(transaction: Transaction, tables: Iterable<RowSource>, onRows: (rows: SnapshotRow[]) => void | Promise<void>, batch: number): Promise<SnapshotRow[]> {
  let rows: SnapshotRow[] = [];
  for (const table of tables) {
    for (const { key, value, version } of table.records.getRange({ transaction, versions: true })) {
      const x = table.expires?.get(key, { transaction });
      rows.push({ t: table.id, k: key, v: value, n: version ?? 0, ...(x !== undefined ? { x } : {}) });
      if (rows.length >= batch) {
        await onRows(rows);
        rows = [];
      }
    }
  }
  return rows;
}

/**
 * Reads every record of every table, and the changed passwords, from one read transaction, in
 * batches of `batch` rows, each handed to `onRows` (which may take its time: the snapshot stays
 * open until the last batch). Resolves to the log position the rows reflect.
 */
export async function exportRows(layout: Layout, onRows: (rows: SnapshotRow[]) => void | Promise<void>, batch = 1000): Promise<number> {
  const transaction = layout.root.useReadTransaction();
  try {
    const position = layout.meta.get(LOG_POSITION, { transaction }) ?? 0;
    const rows = await readRows(transaction, layout.tables.values(), onRows, batch);
    for (const { key, value } of layout.credentials.getRange({ transaction })) rows.push({ t: CREDENTIALS, k: key, v: { ...value }, n: 0 });
    if (rows.length > 0) await onRows(rows);
    return position;
  } finally {
    transaction.done();
  }
}

/** Writes rows into the store (a store being restored: nothing else writes to it). */
export async function importRows(layout: Layout, rows: readonly SnapshotRow[]): Promise<void> {
  await layout.root.transaction(() => {
    for (const row of rows) {
      if (row.t === CREDENTIALS) {
        layout.credentials.put(String(row.k), row.v as unknown as StoredCredential);
        continue;
      }
      const table = layout.tables.get(row.t);
      if (!table) throw new AppError('TABLE_NOT_FOUND', `the snapshot has table ${row.t}, which this node's schema does not have: nodes of a cluster must share their schemas`);
      table.records.put(row.k, row.v, row.n);
      if (table.indexes.length > 0) updateIndexes(table.indexes, row.k, undefined, row.v);
      if (row.x !== undefined && table.expires) {
        table.expires.put(row.k, row.x);
        layout.expiryQueue.put([row.x, table.id, row.k], null);
      }
    }
  });
}

/**
 * Ends a restore: the change log starts after `position` (its head, and pruned up to it so that
 * older cursors are known to be gone), and the store has applied the log through it.
 */
export async function finishImport(layout: Layout, position: number): Promise<void> {
  await layout.root.transaction(() => {
    layout.changeLog.startAfter(position);
    layout.meta.put(LOG_POSITION, position);
  });
}

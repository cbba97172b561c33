/**
 * The data directory's LMDB environment as a file, copied while servers may be writing to it, its
 * tables' records read out, and which processes have it open. None opens the store's layout (that
 * may build indexes and drop index markers, writes that a server with another schema would then
 * trust): only the environment, read-only.
 */
import { join } from 'node:path';
import { open, type Database } from 'lmdb';
import { AppError } from '../errors.ts';
import type { Key, Record, TableDef } from '../schema/model.ts';
import { messageOf } from '../util/guards.ts';
import { tableId } from './open.ts';
import { readRows, type SnapshotRow } from './snapshot.ts';

/** The environment's file in a data directory (store/open.ts opens the same). */
export const STORE_FILE = 'tablecast.mdb';

function openReadOnly(dataDir: string) {
  try {
    return open({ path: join(dataDir, STORE_FILE), readOnly: true, maxDbs: 4096, maxReaders: 2048 });
  } catch (err) {
    throw new AppError('CONFIG_INVALID', `cannot open the store in ${dataDir}: ${messageOf(err)}`, { cause: err });
  }
}

/**
 * Copies the store to `target` (a file that must not exist) from one LMDB read transaction:
 * the state after one commit, whatever commits meanwhile (mdb_env_copy2, compacting: free pages
 * are left out). Every sub-database comes along: records, indexes, change log, expiry, counters.
 */
export async function backupStore(dataDir: string, target: string): Promise<void> {
  const root = openReadOnly(dataDir);
  try {
    await root.backup(target, true);
  } finally {
    await root.close();
  }
}

/**
 * Hands every record of `tables` to `onRows` in batches of `batch` rows, all from one read
 * transaction, as the store's snapshot export does (store/snapshot.ts) but without the changed
 * passwords and without any index: a table is read whole, so the indexes the schema declares need
 * not match the stored ones. A table never written to has no sub-database yet: it has no rows.
 */
export async function readTables(dataDir: string, tables: readonly TableDef[], onRows: (rows: SnapshotRow[]) => void | Promise<void>, batch = 1000): Promise<void> {
  const root = openReadOnly(dataDir);
  try {
    // Opened before the read transaction (opening one renews lmdb-js's read transaction), as
    // store/open.ts opens them; read-only, lmdb-js answers undefined for one that is absent.
    const sources = [];
    for (const def of tables) {
      const id = tableId(def);
      const records = root.openDB<Record, Key>(`t:${id}`, { useVersions: true }) as Database<Record, Key> | undefined;
      if (!records) continue;
      const expires = def.expiration === undefined ? undefined : (root.openDB<number, Key>(`x:${id}`, {}) as Database<number, Key> | undefined);
      sources.push({ id, records, ...(expires ? { expires } : {}) });
    }
    const transaction = root.useReadTransaction();
    try {
      const rows = await readRows(transaction, sources, onRows, batch);
      if (rows.length > 0) await onRows(rows);
    } finally {
      transaction.done();
    }
  } finally {
    await root.close();
  }
}

/**
 * The ids of the processes that hold the store open (a reader slot each, as every server process
 * does from its first read), after clearing the slots of processes that are gone.
 */
export async function storeHolders(dataDir: string): Promise<number[]> {
  const root = openReadOnly(dataDir);
  try {
    root.readerCheck();
    const pids = new Set<number>();
    // readerList(): a header line, then "  <pid> <thread> <txnid>" per slot.
    for (const line of root.readerList().split('\n').slice(1)) {
      const pid = Number(line.trim().split(/\s+/)[0]);
      if (Number.isInteger(pid) && pid > 0) pids.add(pid);
    }
    return [...pids];
  } finally {
    await root.close();
  }
}

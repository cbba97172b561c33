/**
 * The data directory's LMDB environment as a file, copied while servers may be writing to it, and
 * which processes have it open. Neither opens the store's layout (that may build indexes, a write):
 * only the environment, read-only.
 */
import { join } from 'node:path';
import { open } from 'lmdb';
import { AppError } from '../errors.ts';
import { messageOf } from '../util/guards.ts';

/** The environment's file in a data directory (store/open.ts opens the same). */
export const STORE_FILE = 'tablecast.mdb';

function openReadOnly(dataDir: string) {
  try {
    return open({ path: join(dataDir, STORE_FILE), readOnly: true, maxReaders: 2048 });
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

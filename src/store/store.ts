/**
 * The store: the public face of the storage layer. Reads are synchronous LMDB reads; every write
 * is one callback inside lmdb-js's batched transaction, so concurrent writers share a commit
 * (throughput), and its writes are buffered until the callback returns, so a failing writer leaves
 * nothing behind (no partial writes) without the cost of a child transaction.
 */
import { AppError } from '../errors.ts';
import { applyQuery } from '../query/evaluate.ts';
import type { Filter, Query } from '../query/types.ts';
import type { Key, Record, TableDef } from '../schema/model.ts';
import type { ChangeLog } from './change-log.ts';
import { openLayout, tableId, type Layout, type TableHandle } from './open.ts';
import { explainCommitFailure } from './commit-errors.ts';
import { candidateRecords, readLive } from './scan.ts';
import type { StoredRecord } from './types.ts';
import { createWriteTx, type WriteTx } from './write-tx.ts';

export type { WriteTx } from './write-tx.ts';
export type { TableHandle } from './open.ts';

export interface StoreOptions {
  dataDir: string;
  tables: readonly TableDef[];
  /** `commit` (default): a resolved write is committed and survives a crash of the process.
   *  `sync`: it is also flushed to disk, surviving a crash of the machine. */
  durability?: 'commit' | 'sync';
  mapSize?: number;
  /** Clock, for tests of expiry. */
  now?: () => number;
}

export interface Store {
  readonly tables: ReadonlyMap<string, TableHandle>;
  readonly changeLog: ChangeLog;
  /** The handle of a table definition. */
  table(def: TableDef): TableHandle;
  /** A record by key, or `undefined` (also for expired records not yet swept). */
  get(table: TableHandle, key: Key): StoredRecord | undefined;
  /** Records matching a query, filtered, sorted, limited and selected. */
  search(table: TableHandle, query: Query): unknown[];
  /** Iterates matching records in key order (no sort, limit or select), for streams' retained data. */
  matching(table: TableHandle, filter: Filter | undefined): Iterable<Record>;
  /**
   * Runs `fn` in a write transaction and resolves after commit with its result. If `fn` throws,
   * nothing it wrote is kept and the promise rejects with that error.
   */
  transact<T>(fn: (tx: WriteTx) => T): Promise<T>;
  /** Deletes records whose expiry time has passed, through the normal delete path. */
  sweepExpired(limit?: number): Promise<number>;
  /** Called after each commit that appended changes, with the change-log head that commit reached. */
  onCommit(listener: (head: number) => void): () => void;
  close(): Promise<void>;
}

/**
 * Opens the store.
 * @example const store = createStore({ dataDir: './data', tables: model.tables })
 */
export function createStore(options: StoreOptions): Store {
  const layout: Layout = openLayout(options);
  const now = options.now ?? Date.now;
  const listeners = new Set<(head: number) => void>();
  let closed = false;

  const notify = (head: number) => {
    for (const l of listeners) l(head);
  };

  // Writes in flight: close() waits for them, since closing LMDB under a pending transaction
  // throws from lmdb's worker ("Attempt to reset an invalid read txn") and kills the process.
  const inflight = new Set<Promise<unknown>>();
  const transact = async <T>(fn: (tx: WriteTx) => T): Promise<T> => {
    if (closed) throw new AppError('SERVICE_UNAVAILABLE', 'the server is shutting down');
    // The head this transaction moved the log to (0: it appended nothing, so nobody is told).
    // Known here, it spares every write an LMDB read of the head after its commit.
    let head = 0;
    const pending = layout.root.transaction(() => {
      const tx = createWriteTx(layout, now());
      const result = fn(tx); // a throw here has written nothing (writes are buffered until commit)
      tx.commit();
      head = tx.appendedThrough;
      return result;
    });
    inflight.add(pending);
    try {
      const result = await pending;
      if (options.durability === 'sync') await layout.root.flushed;
      if (!closed && head > 0) notify(head);
      return result as T;
    } catch (err) {
      // A failed commit (a full disk) is 507 STORAGE_FULL and must not kill the process: commit-errors.ts.
      throw await explainCommitFailure(err, options.dataDir);
    } finally {
      inflight.delete(pending);
    }
  };

  const table = (def: TableDef): TableHandle => {
    const handle = layout.tables.get(tableId(def));
    if (!handle) throw new AppError('TABLE_NOT_FOUND', `table ${def.database}.${def.table} is not in the store`);
    return handle;
  };

  const get = (handle: TableHandle, key: Key): StoredRecord | undefined => readLive(handle, key, now());

  return {
    tables: layout.tables,
    changeLog: layout.changeLog,
    table,
    get,
    // candidateRecords already applied the filter; applyQuery only sorts, limits and selects.
    search: (handle, query) => applyQuery(candidateRecords(handle, query, now()), withoutFilter(query)),
    matching: (handle, filter) => candidateRecords(handle, { reserved: {}, ...(filter ? { filter } : {}) }, now()),
    transact,
    async sweepExpired(limit = 1000) {
      const due: Array<[TableHandle | undefined, Key, [number, string, Key]]> = [];
      const t = now();
      for (const key of layout.expiryQueue.getKeys({ end: [t + 1], limit })) {
        due.push([layout.tables.get(key[1]), key[2], key]);
      }
      if (due.length === 0) return 0;
      return transact((tx) => {
        let n = 0;
        for (const [handle, key, queued] of due) {
          // A deadline of a table that is gone or no longer expires (the schema changed) is
          // dropped; left in the queue, such deadlines would fill every sweep's `limit` forever
          // and no other table's records would ever be swept.
          if (!handle?.expires) {
            layout.expiryQueue.remove(queued);
            continue;
          }
          // Re-checked inside the transaction: a write since the read above renewed the record.
          const at = handle.expires.get(key);
          if (at !== undefined && at <= tx.now && tx.remove(handle, key, true)) {
            n++;
            continue;
          }
          // Not removed: this queued deadline is not a live record's current one; drop it too.
          layout.expiryQueue.remove(queued);
          if (at === queued[0]) handle.expires.remove(key);
        }
        return n;
      });
    },
    onCommit(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...inflight]);
      await layout.root.committed;
      await layout.root.close();
    },
  };
}

function withoutFilter(query: Query): Query {
  if (!query.filter) return query;
  const { filter: _applied, ...rest } = query;
  return rest;
}

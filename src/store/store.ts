/**
 * The store: the public face of the storage layer. Reads are synchronous LMDB reads; every write
 * is one callback inside lmdb-js's batched transaction, so concurrent writers share a commit
 * (throughput), and its writes are buffered until the callback returns, so a failing writer leaves
 * nothing behind (no partial writes) without the cost of a child transaction.
 */
import { AppError } from '../errors.ts';
import type { Query } from '../query/types.ts';
import type { Key, TableDef } from '../schema/model.ts';
import type { ChangeLog } from './change-log.ts';
import { openLayout, tableId, type Layout, type TableHandle } from './open.ts';
import { explainCommitFailure } from './commit-errors.ts';
import { openResults, type ReadLimits, type ResultCursor } from './read.ts';
import { readLive } from './scan.ts';
import type { StoredCredential, StoredRecord } from './types.ts';
import { BULK_WRITE_BATCH, createWriteTx, type WriteTx } from './write-tx.ts';
import { exportRows, finishImport, importRows, LOG_POSITION, type SnapshotRow } from './snapshot.ts';

export type { WriteTx } from './write-tx.ts';

/** Meta keys of `TransactOptions.marks`, apart from the store's own. */
const MARK = 'mark:';

export type { TableHandle } from './open.ts';
export type { ReadLimits, ResultCursor } from './read.ts';
export type { SnapshotRow } from './snapshot.ts';

/** A chunked read of one snapshot, with the change-log head of that snapshot. */
export interface SnapshotCursor extends ResultCursor {
  /** The change-log head the records are read at: every change after it is not in them. */
  readonly head: number;
}

export interface StoreOptions {
  dataDir: string;
  tables: readonly TableDef[];
  /** `commit` (default): a resolved write is committed and survives a crash of the process.
   *  `sync`: it is also flushed to disk, surviving a crash of the machine. */
  durability?: 'commit' | 'sync';
  mapSize?: number;
  /** Other processes write to the same data directory at the same time (`--workers`). */
  shared?: boolean;
  /** Clock, for tests of expiry. */
  now?: () => number;
}

/**
 * A transaction that applies an entry of an external ordered log (a cluster's: SPEC §10) rather
 * than a local request: every node applies the same entries with the same clock and numbers, so
 * their stores end up the same.
 */
export interface TransactOptions {
  /** The transaction's clock (epoch ms) instead of the store's. */
  now?: number;
  /** The sequence of the transaction's first change, instead of head + 1; it makes at most `seqs` changes. */
  seq?: number;
  /** How many changes, numbered on from `seq`, the transaction may make (default 1): a cluster's bulk create. */
  seqs?: number;
  /** Recorded with the transaction's writes: `logPosition()` reads it back, after a restart too. */
  position?: number;
  /**
   * Numbers recorded with the transaction's writes, read back with `mark()` (`null` removes one):
   * how far an import got, committed exactly when its records are.
   */
  marks?: ReadonlyArray<readonly [name: string, value: number | null]>;
}

export interface Store {
  readonly tables: ReadonlyMap<string, TableHandle>;
  readonly changeLog: ChangeLog;
  /** The handle of a table definition. */
  table(def: TableDef): TableHandle;
  /** A record by key, or `undefined` (also for expired records not yet swept). */
  get(table: TableHandle, key: Key): StoredRecord | undefined;
  /**
   * Records matching a query, filtered, sorted, limited and selected: `openSearch` read to the end
   * (bounded in event-loop time; the whole answer in memory).
   */
  search(table: TableHandle, query: Query, limits?: Partial<ReadLimits>): Promise<unknown[]>;
  /**
   * Opens a chunked read of a query's results from one LMDB read snapshot taken now, in this
   * synchronous call, with the change-log head of that snapshot. Close it when stopping early.
   * With `snapshot: false`, no snapshot is held between chunks (for reads paced by a client): each
   * chunk reads on from the last key in the current state, and `head` is the head at opening.
   */
  openSearch(table: TableHandle, query: Query, limits?: Partial<ReadLimits>, options?: { snapshot?: boolean }): SnapshotCursor;
  /**
   * Runs `fn` in a write transaction and resolves after commit with its result. If `fn` throws,
   * nothing it wrote is kept and the promise rejects with that error.
   */
  transact<T>(fn: (tx: WriteTx) => T, options?: TransactOptions): Promise<T>;
  /** The position in an external ordered log this store has applied through (0: none): `TransactOptions.position`. */
  logPosition(): number;
  /** A number a transaction recorded (`TransactOptions.marks`), or undefined. */
  mark(name: string): number | undefined;
  /**
   * Every record of every table from one snapshot, in batches handed to `onRows`; resolves to the
   * log position they reflect (a cluster node answering one that joins: store/snapshot.ts).
   */
  exportRows(onRows: (rows: SnapshotRow[]) => void | Promise<void>, batch?: number): Promise<number>;
  /**
   * Fills an empty store with another store's rows (`finish` once all are in: the change log then
   * starts after `position`, and `logPosition()` is `position`).
   */
  importRows(rows: readonly SnapshotRow[]): Promise<void>;
  finishImport(position: number): Promise<void>;
  /**
   * Deletes every record whose expiry time has passed, through the normal delete path, in
   * transactions of at most `limit` records (default 500); resolves to how many it deleted.
   */
  sweepExpired(limit?: number): Promise<number>;
  /**
   * Makes the next read see every commit so far, also those of other processes. lmdb-js reuses one
   * read snapshot until its next timer turn; a process told of another's commit must not read
   * from a snapshot taken before it (cross-process wake-ups, peers/).
   */
  refresh(): void;
  /**
   * The first `limit` records whose expiry deadline has passed, oldest first, without deleting them
   * (a cluster deletes them through its log: SPEC §10). Deadlines of tables that no longer expire
   * are left out.
   */
  dueExpiries(limit?: number): Array<{ table: TableHandle; key: Key; at: number }>;
  /** Called after each commit that appended changes, with the change-log head that commit reached. */
  onCommit(listener: (head: number) => void): () => void;
  /** The password `user` changed at run time, if any. */
  credential(user: string): StoredCredential | undefined;
  /**
   * Stores a changed password (its generation one past the last): in its own transaction, at
   * `options`' clock and log position on a cluster node. No change entry, no event. Refused with
   * CONFLICT, writing nothing, unless the stored generation is still `change.expect`: two changes
   * checked against the same current password cannot both win.
   */
  setCredential(user: string, change: { hash: string; base: string; expect: number }, options?: TransactOptions): Promise<StoredCredential>;
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
  const transact = async <T>(fn: (tx: WriteTx) => T, opts?: TransactOptions): Promise<T> => {
    if (closed) throw new AppError('SERVICE_UNAVAILABLE', 'the server is shutting down');
    // The head this transaction moved the log to (0: it appended nothing, so nobody is told).
    // Known here, it spares every write an LMDB read of the head after its commit.
    let head = 0;
    const pending = layout.root.transaction(() => {
      const tx = createWriteTx(layout, opts?.now ?? now(), opts?.seq, opts?.seqs);
      const result = fn(tx); // a throw here has written nothing (writes are buffered until commit)
      tx.commit();
      if (opts?.position !== undefined) layout.meta.put(LOG_POSITION, opts.position);
      for (const [name, value] of opts?.marks ?? []) {
        if (value === null) layout.meta.remove(`${MARK}${name}`);
        else layout.meta.put(`${MARK}${name}`, value);
      }
      head = tx.appendedThrough;
      return result;
    });
    inflight.add(pending);
    try {
      const result = await pending;
      if (options.durability === 'sync') await layout.root.flushed;
      if (!closed && head > 0) notify(head);
      return result;
    } catch (err) {
      // A failed commit (a full disk) is 507 STORAGE_FULL and must not kill the process: commit-errors.ts.
      throw await explainCommitFailure(err, options.dataDir);
    } finally {
      inflight.delete(pending);
    }
  };

  /** The first `limit` expiry deadlines that have passed, with their table (if it still exists). */
  const dueDeadlines = (limit: number): Array<[TableHandle | undefined, Key, [number, string, Key]]> => {
    const due: Array<[TableHandle | undefined, Key, [number, string, Key]]> = [];
    for (const queued of layout.expiryQueue.getKeys({ end: [now() + 1], limit })) due.push([layout.tables.get(queued[1]), queued[2], queued]);
    return due;
  };

  /** Deletes the records of due deadlines in one transaction; resolves to how many it deleted. */
  const sweepBatch = (due: Array<[TableHandle | undefined, Key, [number, string, Key]]>): Promise<number> =>
    transact((tx) => {
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

  const table = (def: TableDef): TableHandle => {
    const handle = layout.tables.get(tableId(def));
    if (!handle) throw new AppError('TABLE_NOT_FOUND', `table ${def.database}.${def.table} is not in the store`);
    return handle;
  };

  const get = (handle: TableHandle, key: Key): StoredRecord | undefined => readLive(handle, key, now());

  // Reads in progress: close() ends them first, since closing LMDB under an open read transaction
  // leaves lmdb-js with a transaction it can no longer reset.
  const reads = new Set<() => void>();
  const openSearch = (handle: TableHandle, query: Query, limits?: Partial<ReadLimits>, options: { snapshot?: boolean } = {}): SnapshotCursor => {
    if (closed) throw new AppError('SERVICE_UNAVAILABLE', 'the server is shutting down');
    if (options.snapshot === false) {
      let results: ResultCursor | undefined;
      const stop = () => results?.close();
      const head = layout.changeLog.head();
      const opened = openResults(handle, query, now(), { ...(limits ? { limits } : {}), resumable: true, onClose: () => reads.delete(stop) });
      results = opened;
      if (!opened.done) reads.add(stop);
      return snapshotCursor(head, opened, stop);
    }
    // One explicit read transaction, taken here synchronously: the records, the index entries,
    // the expiry times and the head are all read from it, however many event-loop turns the read
    // spans. (A bare getRange iterator keeps its own snapshot, but the record reads behind an
    // index and the head would each see the latest commit instead.) It is released exactly once,
    // when the read ends, fails or is closed.
    const transaction = layout.root.useReadTransaction();
    let results: ResultCursor | undefined;
    let released = false;
    const stop = () => results?.close();
    const release = () => {
      if (released) return;
      released = true;
      reads.delete(stop);
      transaction.done();
    };
    let head: number;
    try {
      head = layout.changeLog.head(transaction);
    } catch (err) {
      transaction.done();
      throw err;
    }
    const opened = openResults(handle, query, now(), { transaction, ...(limits ? { limits } : {}), onClose: release });
    results = opened;
    if (!released) reads.add(stop);
    return snapshotCursor(head, opened, stop);
  };

  return {
    tables: layout.tables,
    changeLog: layout.changeLog,
    table,
    get,
    async search(handle, query, limits) {
      const cursor = openSearch(handle, query, limits);
      const out: unknown[] = [];
      try {
        // `done` after a chunk: no further call (each chunk after the first waits a turn of the loop).
        for (let chunk = await cursor.next(); chunk; chunk = cursor.done ? undefined : await cursor.next()) for (const v of chunk) out.push(v);
      } finally {
        cursor.close();
      }
      return out;
    },
    openSearch,
    transact,
    logPosition: () => layout.meta.get(LOG_POSITION) ?? 0,
    mark: (name) => layout.meta.get(`${MARK}${name}`),
    exportRows: (onRows, batch) => exportRows(layout, onRows, batch),
    importRows: (rows) => importRows(layout, rows),
    finishImport: (position) => finishImport(layout, position),
    dueExpiries(limit = BULK_WRITE_BATCH) {
      // Deadlines of tables that no longer expire are skipped, not counted: they stay queued (only
      // a local sweep drops them), and counted they could fill every batch.
      const due: Array<{ table: TableHandle; key: Key; at: number }> = [];
      for (const [at, id, key] of layout.expiryQueue.getKeys({ end: [now() + 1] })) {
        const table = layout.tables.get(id);
        if (!table?.expires) continue;
        due.push({ table, key, at });
        if (due.length >= limit) break;
      }
      return due;
    },
    async sweepExpired(limit = BULK_WRITE_BATCH) {
      // Batch after batch until nothing is due: one transaction (on the event loop) per batch, and
      // a turn between batches while each commits, so 100k records expiring at once are swept in
      // seconds without holding the loop. A batch takes every deadline it read out of the queue
      // (deleting its record, or dropping it as stale; a stale one whose record the same batch
      // deleted goes in the next), so the loop ends.
      let swept = 0;
      for (;;) {
        if (closed) return swept;
        const due = dueDeadlines(limit);
        if (due.length === 0) return swept;
        swept += await sweepBatch(due);
        if (due.length < limit) return swept;
      }
    },
    refresh() {
      if (!closed) layout.root.resetReadTxn();
    },
    onCommit(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    credential: (user) => layout.credentials.get(user),
    setCredential: (user, { hash, base, expect }, opts) =>
      transact((tx) => {
        const generation = layout.credentials.get(user)?.generation ?? 0;
        if (generation !== expect) throw new AppError('CONFLICT', `the password of ${user} was changed meanwhile; change it again with the current password`);
        const next: StoredCredential = { hash, base, generation: generation + 1, changedAt: tx.now };
        // The transaction's only write, so it needs none of the buffering of table writes.
        layout.credentials.put(user, next);
        return next;
      }, opts),
    async close() {
      if (closed) return;
      closed = true;
      for (const close of [...reads]) close();
      await Promise.allSettled([...inflight]);
      await layout.root.committed;
      await layout.root.close();
    },
  };
}

/** A read's results with the change-log head they were read at; `close` stops the read. */
function snapshotCursor(head: number, results: ResultCursor, close: () => void): SnapshotCursor {
  return {
    head,
    get done() {
      return results.done;
    },
    next: () => results.next(),
    first: () => results.first(),
    close,
  };
}

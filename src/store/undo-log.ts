/**
 * What one write transaction's commit has applied so far, and how to take it back.
 *
 * Why this exists: lmdb-js runs every `transaction()` callback of a batch in one shared LMDB write
 * transaction, with no child transaction around each (lmdb 3.5.6 write.js, `executeTxnCallbacks`):
 * a callback that throws halfway keeps the writes it made before the throw, and the batch commits
 * them with everyone else's. A throw while a commit applies its buffered writes (a value msgpack
 * cannot encode, a key past LMDB's size limit) would have left part of a write stored. Undoing in
 * reverse order costs nothing until something fails; a child transaction per write costs ~9 µs of
 * CPU on every write (measured; see the README's Durability section).
 */
import type { Database, Key as LmdbKey } from 'lmdb';

/** Any sub-database the store writes: the records, indexes, expiry bookkeeping, meta. */
type AnyDb = Database<unknown, LmdbKey>;

/**
 * One applied write, as the step that reverses it: put `value` (with `version`) back under `key`,
 * or remove `key` (with `value`: that one duplicate of a dupSort index).
 */
interface Step {
  db: AnyDb;
  key: unknown;
  value: unknown;
  version: number | undefined;
  restore: boolean;
}

/** The reversing steps of the writes applied so far, undone newest first. */
export class UndoLog {
  readonly #steps: Step[] = [];

  /** `key` did not hold `value` before (a new key, or a new duplicate of a dupSort index): undo removes it. */
  added(db: AnyDb, key: unknown, duplicate?: unknown): void {
    this.#steps.push({ db, key, value: duplicate, version: undefined, restore: false });
  }

  /** `key` held `value` (at `version`, for versioned tables) before it was overwritten or removed: undo puts it back. */
  replaced(db: AnyDb, key: unknown, value: unknown, version?: number): void {
    this.#steps.push({ db, key, value, version, restore: true });
  }

  /**
   * Takes every recorded write back, newest first; call inside the same LMDB write transaction.
   * Returns the error of a step that failed (the transaction is then unusable, as after a native
   * LMDB error, and lmdb-js fails the whole batch's commit), or `undefined`.
   */
  undo(): unknown {
    for (let i = this.#steps.length - 1; i >= 0; i--) {
      const { db, key, value, version, restore } = this.#steps[i]!;
      try {
        // A step's database is one of several key types; its key came from that database.
        if (restore) db.put(key as never, value, version as number);
        else db.remove(key as never, value);
      } catch (err) {
        return err;
      }
    }
    this.#steps.length = 0;
    return undefined;
  }
}

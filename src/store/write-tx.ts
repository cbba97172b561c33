/**
 * The write transaction handed to callers of `store.transact`: every mutation writes the record,
 * its index entries, its expiry bookkeeping and its change-log entry together.
 */
import type { Key, Record } from '../schema/model.ts';
import { hasNumericKey } from '../schema/model.ts';
import { validateMessage } from '../schema/validators.ts';
import { AppError } from '../errors.ts';
import { assertKeyFits, toKey, uuidv7 } from './keys.ts';
import { updateIndexes } from './indexes.ts';
import { isExpired, liveOf, type RawEntry } from './scan.ts';
import type { Layout, TableHandle } from './open.ts';
import type { ChangeEntry, StoredRecord } from './types.ts';
import { UndoLog } from './undo-log.ts';

/**
 * Every mutation is recorded and applied only when the caller's callback has returned (`commit`):
 * a callback that throws halfway has written nothing, and a commit that fails halfway takes back
 * what it applied (undo-log.ts), so writers can share lmdb's plain batched transaction instead of
 * paying for a child transaction each (+5–9 µs of CPU per write, measured).
 * Reads inside the callback see the state before its own writes; no caller reads back a key it
 * wrote in the same callback.
 */
export interface WriteTx {
  /** The transaction's clock (epoch ms): one value for every timestamp it writes. */
  readonly now: number;
  /** Reads the record as this transaction sees it (expired records are absent). */
  get(table: TableHandle, key: Key): StoredRecord | undefined;
  /** Creates or replaces a record; `created` tells which. */
  put(table: TableHandle, key: Key, record: Record): { created: boolean; entry: ChangeEntry };
  /** Deletes a record; `undefined` when there was none. */
  remove(table: TableHandle, key: Key, expired?: boolean): ChangeEntry | undefined;
  /** Logs a custom message for a record's subscribers; stores nothing in the table. */
  publish(table: TableHandle, key: Key, message: unknown): ChangeEntry;
  /** A new key: the next integer for Int/Long keys (never reused), a UUID v7 otherwise. */
  nextKey(table: TableHandle): Key;
}

/** The write context plus the step that applies its writes (called by the store, once). */
export interface BufferedWriteTx extends WriteTx {
  commit(): void;
  /** The seq of the last entry this transaction appended; 0 if it appended none. */
  readonly appendedThrough: number;
}

/**
 * Most records one transaction of a bulk write removes (a `DELETE` by query, the expiry sweep).
 * Its callback runs on the event loop: 500 deletes take ~10 ms there, and the hub then dispatches
 * their events in one round.
 */
export const BULK_WRITE_BATCH = 500;

/** A buffered write: data, not a closure, so a transaction allocates one small object per write. */
type Op =
  | { kind: 'put'; table: TableHandle; key: Key; record: Record; prev: RawEntry | undefined; seq: number }
  | { kind: 'remove'; table: TableHandle; key: Key; prev: RawEntry }
  | { kind: 'meta'; name: string; value: number };

/**
 * The transaction context. A class rather than a closure-built object: every transaction built a
 * dozen closures, and tsx (esbuild `keepNames`) wraps each named one in a `defineProperty` call,
 * together a measurable share of a replace (bench scenario 2b).
 */
class WriteContext implements BufferedWriteTx {
  readonly now: number;
  readonly #layout: Layout;
  readonly #ops: Op[] = [];
  readonly #entries: ChangeEntry[] = [];
  #head = -1;
  // The last key read, as stored: a replace reads its key in the service (permissions and
  // preconditions) and again here (for `prev`); kept, the record is decoded once per PUT.
  // Writes are buffered until commit, so a second read inside the callback sees the same bytes.
  #lastTable: TableHandle | undefined;
  #lastKey: Key | undefined;
  #lastEntry: RawEntry | undefined;
  // Integer keys this transaction wrote or handed out, highest per table: writes are buffered, so a
  // second nextKey (a bulk create) must not hand out a key the first one, or an explicit key, took.
  #highKeys: Map<TableHandle, number> | undefined;

  // The sequences the transaction's changes must carry, `#seq` on to `#seqLast`, when an external
  // ordered log numbers the changes (a cluster: SPEC §10); undefined numbers them on from the head.
  readonly #seq: number | undefined;
  readonly #seqLast: number;

  constructor(layout: Layout, now: number, seq?: number, seqs = 1) {
    this.#layout = layout;
    this.now = now;
    this.#seq = seq;
    this.#seqLast = (seq ?? 0) + seqs - 1;
  }

  #read(table: TableHandle, key: Key): RawEntry | undefined {
    if (table !== this.#lastTable || key !== this.#lastKey) {
      // Every write reads its key first: an over-long key is refused here, before anything applies.
      assertKeyFits(table.def, key, table.expires ? table.id.length * 3 : 0);
      this.#lastEntry = table.records.getEntry(key);
      this.#lastTable = table;
      this.#lastKey = key;
    }
    return this.#lastEntry;
  }

  #append(entry: ChangeEntry): ChangeEntry {
    if (this.#seq !== undefined) return this.#appendAt(entry, this.#seq);
    if (this.#head < 0) this.#head = this.#layout.changeLog.head();
    entry.seq = ++this.#head;
    this.#entries.push(entry);
    return entry;
  }

  /** The next change of a run of sequences given from outside (`first` on): after the head, and no more than the run. */
  #appendAt(entry: ChangeEntry, first: number): ChangeEntry {
    const seq = this.#entries.length === 0 ? first : this.#head + 1;
    if (seq > this.#seqLast) throw new AppError('INTERNAL', `a transaction numbered ${first}…${this.#seqLast} from outside makes ${this.#seqLast - first + 1} changes at most`);
    if (seq === first) {
      const head = this.#layout.changeLog.head();
      if (seq <= head) throw new AppError('INTERNAL', `change ${seq} would not follow the head ${head}: the log would go back`);
    }
    entry.seq = this.#head = seq;
    this.#entries.push(entry);
    return entry;
  }

  get appendedThrough(): number {
    return this.#entries.length > 0 ? this.#head : 0;
  }

  get(table: TableHandle, key: Key): StoredRecord | undefined {
    return liveOf(table, key, this.#read(table, key), this.now);
  }

  put(table: TableHandle, key: Key, record: Record): { created: boolean; entry: ChangeEntry } {
    const stored = this.#read(table, key);
    const prev = stored?.value;
    // A record that expired but was not swept yet is replaced as if it were absent.
    const live = prev !== undefined && !isExpired(table, key, this.now);
    const entry: ChangeEntry = { seq: 0, time: this.now, table: table.id, op: 'update', key, value: record };
    if (live) entry.prev = prev;
    this.#append(entry);
    this.#ops.push({ kind: 'put', table, key, record, prev: stored, seq: entry.seq });
    if (typeof key === 'number') this.#raiseHigh(table, key);
    return { created: !live, entry };
  }

  remove(table: TableHandle, key: Key, expired = false): ChangeEntry | undefined {
    const stored = this.#read(table, key);
    if (stored === undefined) return undefined;
    if (!expired && isExpired(table, key, this.now)) return undefined;
    const entry: ChangeEntry = { seq: 0, time: this.now, table: table.id, op: 'delete', key, prev: stored.value };
    if (expired) entry.expired = true;
    this.#append(entry);
    this.#ops.push({ kind: 'remove', table, key, prev: stored });
    return entry;
  }

  publish(table: TableHandle, key: Key, message: unknown): ChangeEntry {
    // Checked here, for every front end: the log must be able to encode and replay the message.
    const entry: ChangeEntry = { seq: 0, time: this.now, table: table.id, op: 'publish', key, message: validateMessage(message) };
    // The record as it stands at this publish, so filtered streams judge the publish by it, live
    // and on replay, without searching the log for the record's next change (that search made a
    // filtered replay quadratic in the publishes it held).
    entry.state = this.get(table, key)?.record ?? null;
    return this.#append(entry);
  }

  nextKey(table: TableHandle): Key {
    if (!hasNumericKey(table.def)) return uuidv7(this.now);
    const counter = `keyseq:${table.id}`;
    let last = this.#layout.meta.get(counter) ?? 0;
    for (const k of table.records.getKeys({ reverse: true, limit: 1 })) {
      if (typeof k === 'number' && k > last) last = k;
    }
    const high = this.#highKeys?.get(table);
    if (high !== undefined && high > last) last = high;
    // toKey: past the range of an Int key there is no next key (VALIDATION_FAILED, nothing written).
    const next = toKey(table.def, Math.floor(last) + 1) as number;
    this.#ops.push({ kind: 'meta', name: counter, value: next });
    this.#raiseHigh(table, next);
    return next;
  }

  #raiseHigh(table: TableHandle, key: number): void {
    this.#highKeys ??= new Map();
    const high = this.#highKeys.get(table);
    if (high === undefined || key > high) this.#highKeys.set(table, key);
  }

  /**
   * Applies the buffered writes. If any of them throws, the ones already applied are taken back
   * before the error goes on (undo-log.ts): the shared LMDB transaction then commits the other
   * writers' work and nothing of this one (no record, index or expiry entry, change entry or head).
   */
  commit(): void {
    const undo = new UndoLog();
    try {
      for (const op of this.#ops) this.#apply(op, undo);
      // Last: every value it encodes was encoded above (records) or validated (messages), so it
      // has nothing left to refuse; it writes the entries, then the head.
      this.#layout.changeLog.store(this.#entries);
    } catch (err) {
      const failed = undo.undo();
      if (failed !== undefined) {
        throw new AppError('INTERNAL', 'a failed write could not be taken back', { cause: new AggregateError([err, failed], 'the write, then its undo, failed') });
      }
      throw err;
    }
  }

  #apply(op: Op, undo: UndoLog): void {
    switch (op.kind) {
      case 'put': {
        const { table, key, record, prev } = op;
        table.records.put(key, record, op.seq);
        if (prev) undo.replaced(table.records, key, prev.value, prev.version);
        else undo.added(table.records, key);
        if (table.indexes.length > 0) updateIndexes(table.indexes, key, prev?.value, record, undo);
        if (table.expires && table.def.expiration !== undefined) {
          this.#clearExpiry(table, key, undo);
          const at = this.now + table.def.expiration * 1000;
          table.expires.put(key, at);
          undo.added(table.expires, key);
          const queued: [number, string, Key] = [at, table.id, key];
          this.#layout.expiryQueue.put(queued, null);
          undo.added(this.#layout.expiryQueue, queued);
        }
        break;
      }
      case 'remove': {
        const { table, key, prev } = op;
        table.records.remove(key);
        undo.replaced(table.records, key, prev.value, prev.version);
        if (table.indexes.length > 0) updateIndexes(table.indexes, key, prev.value, undefined, undo);
        this.#clearExpiry(table, key, undo);
        break;
      }
      case 'meta': {
        const { meta } = this.#layout;
        const before = meta.get(op.name);
        meta.put(op.name, op.value);
        if (before === undefined) undo.added(meta, op.name);
        else undo.replaced(meta, op.name, before);
        break;
      }
    }
  }

  #clearExpiry(table: TableHandle, key: Key, undo: UndoLog): void {
    if (!table.expires) return;
    const at = table.expires.get(key);
    if (at !== undefined) {
      const queued: [number, string, Key] = [at, table.id, key];
      this.#layout.expiryQueue.remove(queued);
      undo.replaced(this.#layout.expiryQueue, queued, null);
      table.expires.remove(key);
      undo.replaced(table.expires, key, at);
    }
  }
}

/**
 * Builds the transaction context; only valid inside one LMDB write transaction. With `seq`, its
 * changes are numbered `seq`, `seq + 1` … up to `seqs` of them.
 */
export function createWriteTx(layout: Layout, now: number, seq?: number, seqs?: number): BufferedWriteTx {
  return new WriteContext(layout, now, seq, seqs);
}

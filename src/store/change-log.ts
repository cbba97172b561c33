/**
 * The persisted change log: one LMDB sub-database keyed by the global sequence number, appended in
 * the writer's own transaction and pruned by age. It is the single source of every event.
 */
import type { Database, Transaction } from 'lmdb';
import { settleCommitError } from './commit-errors.ts';
import type { ChangeEntry } from './types.ts';

const HEAD = 'seq';
const PRUNED = 'pruned';

export interface ChangeLog {
  /**
   * The last sequence number handed out (0 on an empty store). Reads committed state, or the
   * snapshot of `transaction` (a read that must know the head its records were read at).
   */
  head(transaction?: Transaction): number;
  /**
   * Highest sequence number removed by pruning (0 when nothing was pruned). A cursor below it
   * cannot be resumed without a gap.
   */
  prunedThrough(): number;
  /** Entries with `seq > after`, in order, at most `limit`. */
  readAfter(after: number, limit?: number): ChangeEntry[];
  /** Iterates entries with `seq > after` lazily (for long replays). */
  iterateAfter(after: number): Iterable<ChangeEntry>;
  /** Number of entries currently retained. */
  size(): number;
  /**
   * Removes entries older than `olderThan` (epoch ms), never from `keepFrom` on (a seq still
   * needed by an in-flight replay; a function, read inside the transaction, so a replay that starts
   * while the prune waits for its turn is still protected). Resolves to how many were removed.
   */
  prune(olderThan: number, keepFrom?: number | (() => number), batch?: number): Promise<number>;
}

/**
 * What a write transaction uses to append; only valid inside that transaction. The writer reads
 * `head()` once (inside its transaction it sees that transaction's state, and no other writer runs
 * until this one's callback returns), numbers its entries from there, and `store`s them at commit:
 * seqs are gap-free and in commit order.
 */
export interface ChangeAppender {
  /** Writes entries (numbered on from the head, in order) and moves the head to the last one. */
  store(entries: readonly ChangeEntry[]): void;
  /**
   * Starts an empty log after `seq`, as if everything up to it had been pruned (a store restored
   * from another's snapshot: store/snapshot.ts). Only inside a write transaction.
   */
  startAfter(seq: number): void;
}

/**
 * Creates the change log over its two sub-databases.
 * @example const log = createChangeLog(changesDb, metaDb); log.readAfter(41)
 */
export function createChangeLog(changes: Database<ChangeEntry, number>, meta: Database<number, string>): ChangeLog & ChangeAppender {
  return {
    head: (transaction) => (transaction ? meta.get(HEAD, { transaction }) : meta.get(HEAD)) ?? 0,
    prunedThrough: () => meta.get(PRUNED) ?? 0,
    startAfter(seq) {
      meta.put(HEAD, seq);
      meta.put(PRUNED, seq);
    },
    store(entries) {
      if (entries.length === 0) return;
      for (const e of entries) changes.put(e.seq, e);
      meta.put(HEAD, entries[entries.length - 1]!.seq);
    },
    readAfter(after, limit = Infinity) {
      const out: ChangeEntry[] = [];
      for (const { value } of changes.getRange({ start: after, exclusiveStart: true, ...(limit < Infinity ? { limit } : {}) })) {
        out.push(value);
      }
      return out;
    },
    iterateAfter(after) {
      return changes.getRange({ start: after, exclusiveStart: true }).map(({ value }) => value);
    },
    size: () => changes.getCount(),
    async prune(olderThan, keepFrom = Infinity, batch = 5000) {
      let removed = 0;
      for (;;) {
        const pending = changes.transaction(() => {
          const keep = typeof keepFrom === 'function' ? keepFrom() : keepFrom;
          let count = 0;
          let last = 0;
          for (const { key, value } of changes.getRange({ limit: batch })) {
            if (value.time >= olderThan || key >= keep) break;
            changes.remove(key);
            last = key;
            count++;
          }
          if (count > 0) meta.put(PRUNED, last);
          return count;
        });
        // A failed commit's `commitError` must not go unhandled (commit-errors.ts); the failure
        // itself reaches the caller, which logs it.
        let n: number;
        try {
          n = await pending;
        } catch (err) {
          settleCommitError(err);
          throw err;
        }
        removed += n;
        if (n < batch) return removed;
      }
    },
  };
}

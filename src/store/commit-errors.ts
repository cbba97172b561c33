/**
 * What a failed LMDB commit means, and keeping lmdb-js's failure promises from killing the process.
 *
 * Why this exists (found by test/fault/disk.test.ts on a full 2 MiB tmpfs):
 * - lmdb-js rejects every write of a failed commit with a bare "Commit failed (see commitError for
 *   details)"; the real cause (LMDB's EIO for a short write on a full disk, ENOSPC, MDB_MAP_FULL)
 *   is only in the separate promise `error.commitError`. Nothing handled that promise, so each
 *   failed commit was an unhandled rejection, which under Node's default terminates the server;
 *   and the bare error was answered 500 INTERNAL instead of 507 STORAGE_FULL.
 * - lmdb-js also creates a commit promise for the start of each event-turn batch and discards it
 *   (write.js, "TODO: Don't reset these if this comes from the batch start operation"; upstream
 *   kriszyp/lmdb-js#368 is the `commitError` half). When that batch fails, it is another unhandled
 *   rejection. The env's `committed` thenable hands out that same promise, so a no-op handler is
 *   attached through it after lmdb-js's batch has started (its task is queued first, so ours runs after it).
 */
import { statfsSync } from 'node:fs';
import { AppError } from '../errors.ts';

const ignore = () => {};

/** Node/LMDB codes that say plainly that the disk or the map is full. */
const FULL_CODES: ReadonlySet<unknown> = new Set(['ENOSPC', 'EDQUOT', 'MDB_MAP_FULL', 28, 122, -30792]);
/** LMDB reports a short write (what a full disk gives it) as EIO; see {@link isFull}. */
const EIO: ReadonlySet<unknown> = new Set(['EIO', 5]);
/** Below this much free space, an EIO from a commit is taken as a full disk. */
const NEARLY_FULL = 64 * 1024 * 1024;

/**
 * Returns the function to call right after queueing an asynchronous write (a transaction) on
 * `root` (the env, or any database of it): it marks lmdb-js's own commit promises of that batch as handled.
 * @example const guard = guardCommits(root); const p = root.childTransaction(fn); guard(); await p
 */
export function guardCommits(root: { readonly committed: PromiseLike<unknown> }): () => void {
  let queued = false;
  const attach = () => {
    // `committed` is a thenable over the env's current commit promise (or an already resolved one).
    root.committed.then(undefined, ignore);
  };
  return () => {
    attach();
    if (queued) return;
    queued = true;
    setImmediate(() => {
      queued = false;
      attach();
    });
  };
}

/**
 * Turns a rejected write into the error to answer with: errors thrown by the transaction's own
 * callback pass through; a failed commit becomes STORAGE_FULL when the disk is full, or its real
 * cause otherwise (answered as INTERNAL, logged with that cause).
 */
export async function explainCommitFailure(err: unknown, dataDir: string): Promise<unknown> {
  const commitError = err && typeof err === 'object' ? (err as { commitError?: unknown }).commitError : undefined;
  if (!commitError || typeof (commitError as PromiseLike<unknown>).then !== 'function') return err;
  // lmdb-js rejects `commitError` in the same callback that rejected the write, so it is settled by
  // now; the immediate only guards against a version that never settles it.
  const cause = await Promise.race([
    Promise.resolve(commitError as PromiseLike<unknown>).then(() => undefined, (reason: unknown) => reason),
    new Promise<undefined>((resolve) => setImmediate(resolve, undefined)),
  ]);
  if (cause === undefined) return err;
  if (isFull(cause, dataDir)) {
    return new AppError('STORAGE_FULL', 'the data directory is full; the write was not stored', { cause });
  }
  return cause;
}

/** Marks `err.commitError` handled, for callers that only log the failure (pruning). */
export function settleCommitError(err: unknown): void {
  const commitError = err && typeof err === 'object' ? (err as { commitError?: unknown }).commitError : undefined;
  if (commitError && typeof (commitError as PromiseLike<unknown>).then === 'function') {
    Promise.resolve(commitError as PromiseLike<unknown>).then(undefined, ignore);
  }
}

function isFull(cause: unknown, dataDir: string): boolean {
  const code = cause && typeof cause === 'object' ? (cause as { code?: unknown }).code : undefined;
  if (FULL_CODES.has(code)) return true;
  if (!EIO.has(code)) return false;
  // An EIO with plenty of space left is a real I/O error, not a full disk: answer it as one.
  try {
    const fs = statfsSync(dataDir);
    return fs.bavail * fs.bsize < NEARLY_FULL;
  } catch {
    return false;
  }
}

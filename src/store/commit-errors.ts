/**
 * What a failed LMDB commit means, and keeping lmdb-js's failure promises from killing the process.
 *
 * Why this exists (found by test/fault/disk.test.ts on a full 2 MiB tmpfs): lmdb-js rejects every
 * write of a failed commit with a bare "Commit failed (see commitError for details)"; the real
 * cause (LMDB's EIO for a short write on a full disk, ENOSPC, MDB_MAP_FULL) is only in the separate
 * promise `error.commitError` (upstream kriszyp/lmdb-js#368). Nothing handled that promise, so each
 * failed commit was an unhandled rejection, which under Node's default terminates the server; and
 * the bare error was answered 500 INTERNAL instead of 507 STORAGE_FULL.
 *
 * (lmdb-js also created, and dropped, a commit promise for the start of every event-turn batch: a
 * second unhandled rejection per failed commit. open.ts turns event-turn batching off for that.)
 */
import { statfsSync } from 'node:fs';
import { AppError, isStorageFullCode } from '../errors.ts';

const ignore = () => {};

/** LMDB reports a short write (what a full disk gives it) as EIO; see {@link isFull}. */
const EIO: ReadonlySet<unknown> = new Set(['EIO', 5]);
/** Below this much free space, a failed commit is taken as a full disk. */
const NEARLY_FULL = 64 * 1024 * 1024;

/**
 * Turns a rejected write into the error to answer with: errors thrown by the transaction's own
 * callback pass through; a failed commit becomes STORAGE_FULL when the disk is full, or its real
 * cause otherwise (answered as INTERNAL, logged with that cause).
 * @example try { await root.transaction(fn) } catch (err) { throw await explainCommitFailure(err, dataDir) }
 */
export async function explainCommitFailure(err: unknown, dataDir: string): Promise<unknown> {
  const commitError = commitErrorOf(err);
  if (!commitError) return err;
  // Usually settled by now (lmdb-js rejects it right after the writes), but a failure noticed while
  // queueing a later write settles it only with a later commit; the handler is attached either way.
  const cause = await Promise.race([
    Promise.resolve(commitError).then(
      () => undefined,
      (reason: unknown) => reason,
    ),
    new Promise<undefined>((resolve) => setImmediate(resolve, undefined)),
  ]);
  if (isFull(cause, dataDir)) {
    return new AppError('STORAGE_FULL', 'the data directory is full; the write was not stored', { cause: cause ?? err });
  }
  return cause ?? err;
}

/** Marks `err.commitError` handled, for callers that only log the failure (pruning). */
export function settleCommitError(err: unknown): void {
  commitErrorOf(err)?.then(undefined, ignore);
}

// lmdb-js attaches the failed commit's promise to the error it throws; its types do not say so.
function commitErrorOf(err: unknown): PromiseLike<unknown> | undefined {
  const commitError = err && typeof err === 'object' && 'commitError' in err ? err.commitError : undefined;
  return commitError && typeof commitError === 'object' && 'then' in commitError && typeof commitError.then === 'function' ? (commitError as PromiseLike<unknown>) : undefined;
}

/** A full-disk code; or EIO, or a cause not known yet, with (almost) no space left where the data is. */
function isFull(cause: unknown, dataDir: string): boolean {
  const code = cause && typeof cause === 'object' && 'code' in cause ? cause.code : undefined;
  if (isStorageFullCode(code)) return true;
  if (cause !== undefined && !EIO.has(code)) return false;
  // An EIO with plenty of space left is a real I/O error, not a full disk: answer it as one.
  try {
    const fs = statfsSync(dataDir);
    return fs.bavail * fs.bsize < NEARLY_FULL;
  } catch {
    return false;
  }
}

/** Write preconditions: the table service checks them inside its write transaction. */
import { AppError } from '../errors.ts';

/**
 * Optimistic concurrency (HTTP `If-Match` / `If-None-Match: *`), checked inside the write
 * transaction against the record's version, so two clients cannot both replace the version
 * they read.
 */
export interface Precondition {
  /** The write applies only if the record exists with one of these versions (`*`: exists at all). */
  ifMatch?: readonly number[] | '*';
  /** `*`: the write applies only if the record does not exist (create-only PUT). */
  ifNoneMatch?: '*';
}

/** Throws PRECONDITION_FAILED unless the stored version satisfies the precondition. */
export function checkPrecondition(precondition: Precondition | undefined, existing: { version: number } | undefined, what: string): void {
  if (!precondition) return;
  const { ifMatch, ifNoneMatch } = precondition;
  if (ifMatch !== undefined) {
    const ok = existing !== undefined && (ifMatch === '*' || ifMatch.includes(existing.version));
    if (!ok) {
      throw new AppError('PRECONDITION_FAILED', existing ? `${what} has changed: its version is ${existing.version}` : `${what} does not exist`, {
        details: existing ? { version: existing.version } : undefined,
      });
    }
  }
  if (ifNoneMatch === '*' && existing !== undefined) throw new AppError('PRECONDITION_FAILED', `${what} already exists (If-None-Match: *)`);
}

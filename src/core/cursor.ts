/**
 * The one parser of change cursors, for every transport: SSE's `Last-Event-ID` header and
 * `?lastEventId=`, GraphQL's `lastEventId` argument, and the programmatic `subscribe({ lastEventId })`.
 * A cursor is a change sequence number, the `id:` of an event this server sent.
 */
import { AppError } from '../errors.ts';

/** 15 digits stay exact in a double; no store reaches that many changes. */
const CURSOR = /^\d{1,15}$/;

/**
 * Parses a cursor; `undefined` for none (absent or empty), BAD_REQUEST for anything else that is
 * not a non-negative integer: a malformed cursor ignored would start live and lose what the caller
 * meant to resume.
 * @example parseCursor(request.headers['last-event-id']) // 41, or undefined
 */
export function parseCursor(raw: unknown): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0) return raw;
  const text = typeof raw === 'string' ? raw.trim() : undefined;
  if (text === undefined || !CURSOR.test(text)) {
    throw new AppError('BAD_REQUEST', 'the cursor (Last-Event-ID, lastEventId) must be a change sequence number: the id of an event this server sent', {
      details: [{ path: 'lastEventId', message: 'expected a non-negative integer' }],
    });
  }
  return Number(text);
}

/**
 * The refusal of a cursor the change log does not cover: `unknown` is ahead of its head (not from
 * this store), `expired` is older than what pruning kept.
 * @example throw staleCursorError(99, 'unknown', 41)
 */
export function staleCursorError(cursor: number, stale: 'expired' | 'unknown', head: number): AppError {
  return new AppError(
    'CURSOR_EXPIRED',
    stale === 'unknown'
      ? `cursor ${cursor} is ahead of the change log (head ${head}); it does not come from this store`
      : `cursor ${cursor} is older than the retained change log; read the current state and subscribe again`,
  );
}

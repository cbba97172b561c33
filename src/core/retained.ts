/**
 * Retained data: the current records a new stream starts with (the record of a record stream, or
 * the records of a collection stream matching its filter, in key order, honouring `limit`),
 * handed out in chunks, all read at one change-log head.
 */
import { matches } from '../query/evaluate.ts';
import type { Query } from '../query/types.ts';
import type { Interest } from '../realtime/events.ts';
import type { Record } from '../schema/model.ts';
import type { Store } from '../store/store.ts';
import type { TableService } from './table-service.ts';

export interface RetainedReader {
  /** The change-log head the records were read at: the cursor they carry. */
  readonly head: number;
  /** The next chunk, or `undefined` when done. */
  next(): Promise<Record[] | undefined>;
  close(): void;
}

/**
 * Opens the retained data of an interest (its filter already holds the caller's row filter).
 * @example const r = openRetained(service, interest, query.limit, 500); for (let c; (c = await r.next()); ) send(c)
 */
export function openRetained(store: Store, service: TableService, interest: Interest, limit: Query['limit'], chunk: number): RetainedReader {
  if (interest.key !== undefined) {
    // One record: read in the same synchronous step as the head.
    const head = store.changeLog.head();
    const found = service.find(interest.key);
    let pending: Record[] | undefined = found && (!interest.filter || matches(interest.filter, found.record)) ? [found.record] : [];
    return {
      head,
      next: async () => {
        const out = pending;
        pending = undefined;
        return out;
      },
      close: () => {},
    };
  }
  const query: Query = { reserved: {}, ...(interest.filter ? { filter: interest.filter } : {}), ...(limit ? { limit } : {}) };
  // TEMPORARY until the chunked snapshot search lands: one search, handed out in chunks.
  const head = store.changeLog.head();
  const all = Promise.resolve(service.search(query) as Record[] | Promise<Record[]>);
  let at = 0;
  return {
    head,
    next: async () => {
      const records = await all;
      if (at >= records.length) return undefined;
      const out = records.slice(at, at + chunk);
      at += chunk;
      return out;
    },
    close: () => {},
  };
}

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
 * @example const r = openRetained(store, service, interest, query.limit, pins); for (let c; (c = await r.next()); ) send(c)
 */
export function openRetained(store: Store, service: TableService, interest: Interest, limit: Query['limit'], pins: Pins): RetainedReader {
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
  // Trusted read: the interest's filter already holds the caller's row filter. One LMDB snapshot
  // for every chunk, with the head of that snapshot, so the records and their cursor agree. A
  // snapshot holds one of LMDB's reader slots for as long as the client takes to read it, so only
  // `pins` of them are held at once; past that the read holds none (each chunk reads the latest
  // state after the last key) and a change landing meanwhile may arrive twice: in the records and
  // again in the replay after `head`. Never a gap: the replay starts at the head read first.
  const pinned = pins.take();
  const cursor = service.openSearch(query, undefined, { snapshot: pinned });
  let closed = false;
  return {
    head: cursor.head,
    // The store types results unknown (a select projects them); this query selects nothing.
    next: async () => (await cursor.next()) as Record[] | undefined,
    close: () => {
      if (closed) return;
      closed = true;
      cursor.close();
      if (pinned) pins.give();
    },
  };
}

/** Snapshots held by retained reads, and how many may be. */
export interface Pins {
  /** Takes a pin if one is free. */
  take(): boolean;
  give(): void;
  readonly held: number;
  /** Reads that found no pin free since start (metrics, tests). */
  readonly refused: number;
}

/**
 * A counter of pinned snapshots (one per app, so servers in one process do not share it).
 * @example const pins = createPins(512)
 */
export function createPins(max: number): Pins {
  let held = 0;
  let refused = 0;
  return {
    take: () => {
      if (held < max) {
        held++;
        return true;
      }
      refused++;
      return false;
    },
    give: () => void (held = Math.max(0, held - 1)),
    get held() {
      return held;
    },
    get refused() {
      return refused;
    },
  };
}

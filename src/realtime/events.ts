/**
 * What a change-log entry means to one subscription: which event (if any) it sees, and the event's
 * payload and SSE frame. Kept apart from the hub so live delivery and replay share one definition.
 */
import { matches } from '../query/evaluate.ts';
import type { Filter } from '../query/types.ts';
import type { Key, Record, TableDef } from '../schema/model.ts';
import type { ChangeEntry } from '../store/types.ts';
import { encodeSseFrame } from './sse.ts';

export type EventType = 'update' | 'delete' | 'publish';

/** Who wants which changes: a table, optionally one record, optionally a filter. */
export interface Interest {
  /** Table id (`database/table`). */
  table: string;
  key?: Key;
  filter?: Filter;
}

/** One event as delivered to subscribers; `frame` is serialised once and shared. */
export interface HubEvent {
  seq: number;
  type: EventType;
  table: string;
  key: Key;
  /** `update`: the whole stored record. */
  record?: Record;
  /** `publish`: the custom message. */
  message?: unknown;
  /** The SSE payload: the record, `{pk: key}`, or `{pk: key, message}`. */
  data: unknown;
  /** The SSE frame, built on first use, then reused for every stream. */
  frame(): string;
}

/**
 * The event an entry produces for an interest, or `undefined`. A filtered stream gets a `delete`
 * when a record leaves its filter and an `update` when it enters; `current` reads a record's
 * present state for publishes to filtered streams (a publish carries no record).
 */
export function eventTypeFor(interest: Interest, entry: ChangeEntry, current: () => Record | undefined): EventType | undefined {
  if (entry.table !== interest.table) return undefined;
  if (interest.key !== undefined && entry.key !== interest.key) return undefined;
  const filter = interest.filter;
  switch (entry.op) {
    case 'update': {
      if (!filter || matches(filter, entry.value!)) return 'update';
      return entry.prev !== undefined && matches(filter, entry.prev) ? 'delete' : undefined;
    }
    case 'delete':
      if (!filter) return 'delete';
      return entry.prev !== undefined && matches(filter, entry.prev) ? 'delete' : undefined;
    case 'publish': {
      if (!filter) return 'publish';
      const record = current();
      return record !== undefined && matches(filter, record) ? 'publish' : undefined;
    }
  }
}

/** Builds the shared event object for an entry seen as `type`. */
function buildEvent(def: TableDef, entry: ChangeEntry, type: EventType): HubEvent {
  const pk = def.primaryKey;
  const data = type === 'update' ? entry.value : type === 'delete' ? { [pk]: entry.key } : { [pk]: entry.key, message: entry.message };
  let frame: string | undefined;
  return {
    seq: entry.seq,
    type,
    table: entry.table,
    key: entry.key,
    ...(type === 'update' ? { record: entry.value! } : {}),
    ...(type === 'publish' ? { message: entry.message } : {}),
    data,
    frame: () => (frame ??= encodeSseFrame({ event: type, id: entry.seq, data: JSON.stringify(data) })),
  };
}

/**
 * Caches the events of one entry by type, so N subscribers of the same entry share one object
 * and one serialisation (an entry yields at most an `update`/`publish` and a leaving `delete`).
 */
export function eventCache(def: TableDef, entry: ChangeEntry): (type: EventType) => HubEvent {
  const cache: Partial<{ [T in EventType]: HubEvent }> = {};
  return (type) => (cache[type] ??= buildEvent(def, entry, type));
}

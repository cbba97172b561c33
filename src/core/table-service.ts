/**
 * The operations on one table that every front end (REST, GraphQL, the programmatic API) calls:
 * validate, then write in one transaction, then answer with the stored record. No front end talks
 * to the store directly, so all of them share validation, errors and events.
 */
import { AppError } from '../errors.ts';
import { parseQuery } from '../query/parse.ts';
import type { Filter, Query } from '../query/types.ts';
import type { Key, Record, TableDef } from '../schema/model.ts';
import { buildValidators, stampTimes } from '../schema/validators.ts';
import { toKey } from '../store/keys.ts';
import type { Store, TableHandle } from '../store/store.ts';

/** A record as written, with its version (the change sequence number of the write; the ETag). */
export interface Written {
  key: Key;
  record: Record;
  version: number;
}

export interface TableService {
  readonly def: TableDef;
  readonly handle: TableHandle;
  /** Parses a raw query string (`category=sw&limit(10)`) against this table. */
  parseQuery(raw: string): Query;
  /** The key type of this table from a URL segment or body value. */
  key(raw: unknown): Key;
  get(key: Key): Written;
  /** Like `get`, but `undefined` instead of NOT_FOUND. */
  find(key: Key): Written | undefined;
  search(query: Query): unknown[];
  /** Records matching a filter, lazily in key order (streams' retained data). */
  matching(filter: Filter | undefined): Iterable<Record>;
  create(input: unknown): Promise<Written>;
  /** Creates or replaces the whole record at `key`. */
  put(key: Key, input: unknown): Promise<Written & { created: boolean }>;
  patch(key: Key, input: unknown): Promise<Written>;
  delete(key: Key): Promise<void>;
  /** Deletes every record matching a query that has a filter; resolves to the count. */
  deleteWhere(query: Query): Promise<number>;
  /** Sends a custom message to the record's subscribers; resolves to its change sequence number. */
  publish(key: Key, message: unknown): Promise<number>;
}

/**
 * Builds the service for one table; validators are compiled here, once.
 * @example const messages = createTableService(store, def); await messages.create({ title: 'Hi', content: '…' })
 */
export function createTableService(store: Store, def: TableDef): TableService {
  const handle = store.table(def);
  const v = buildValidators(def);
  const pk = def.primaryKey;
  const label = def.export?.name ?? def.typeName;
  const notFound = (key: Key) => new AppError('NOT_FOUND', `${label} ${String(key)} not found`);

  /** The key in a body must agree with the key in the URL. */
  const checkBodyKey = (key: Key, data: Record) => {
    const raw = data[pk];
    if (raw === undefined || raw === null) return;
    const bodyKey = toKey(def, raw);
    if (bodyKey !== key) {
      throw new AppError('KEY_MISMATCH', `${pk} in the body (${String(bodyKey)}) does not match the URL (${String(key)})`, {
        details: [{ path: pk, message: 'must match the key in the URL' }],
      });
    }
  };

  /** Keeps the key as the first attribute, as most schemas declare it. */
  const withKey = (key: Key, data: Record): Record => ({ [pk]: key, ...data, ...{ [pk]: key } });

  const find = (key: Key): Written | undefined => {
    const stored = store.get(handle, key);
    return stored && { key, record: stored.record, version: stored.version };
  };

  return {
    def,
    handle,
    parseQuery: (raw) => parseQuery(raw, def),
    key: (raw) => toKey(def, raw),
    find,
    get(key) {
      const found = find(key);
      if (!found) throw notFound(key);
      return found;
    },
    search: (query) => store.search(handle, query),
    matching: (filter) => store.matching(handle, filter),
    async create(input) {
      const data = v.validateCreate(input);
      const given = data[pk] === undefined || data[pk] === null ? undefined : toKey(def, data[pk]);
      return store.transact((tx) => {
        const key = given ?? tx.nextKey(handle);
        if (tx.get(handle, key)) throw new AppError('CONFLICT', `${label} ${String(key)} already exists`);
        const record = stampTimes(def, withKey(key, data), undefined, tx.now);
        const { entry } = tx.put(handle, key, record);
        return { key, record, version: entry.seq };
      });
    },
    async put(key, input) {
      const data = v.validateReplace(input);
      checkBodyKey(key, data);
      return store.transact((tx) => {
        const existing = tx.get(handle, key);
        const record = stampTimes(def, withKey(key, data), existing?.record, tx.now);
        const { entry, created } = tx.put(handle, key, record);
        return { key, record, version: entry.seq, created };
      });
    },
    async patch(key, input) {
      const changes = v.validatePatch(input);
      checkBodyKey(key, changes);
      return store.transact((tx) => {
        const existing = tx.get(handle, key);
        if (!existing) throw notFound(key);
        // The merged record is validated as a whole: a patch can never leave an invalid record.
        const merged = v.validateRecord({ ...existing.record, ...changes, [pk]: key });
        const record = stampTimes(def, merged, existing.record, tx.now);
        const { entry } = tx.put(handle, key, record);
        return { key, record, version: entry.seq };
      });
    },
    async delete(key) {
      await store.transact((tx) => {
        if (!tx.remove(handle, key)) throw notFound(key);
      });
    },
    async deleteWhere(query) {
      if (!query.filter) {
        throw new AppError('QUERY_INVALID', 'DELETE on a collection needs a query (for example ?status=done); use a filter that matches everything on purpose');
      }
      const keysOnly: Query = { ...query, select: { attributes: [pk], bare: true } };
      return store.transact((tx) => {
        let n = 0;
        for (const key of store.search(handle, keysOnly)) if (tx.remove(handle, key as Key)) n++;
        return n;
      });
    },
    async publish(key, message) {
      if (message === undefined) throw new AppError('VALIDATION_FAILED', 'a published message needs a body');
      const entry = await store.transact((tx) => tx.publish(handle, key, message));
      return entry.seq;
    },
  };
}

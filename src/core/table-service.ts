/**
 * The operations on one table that every front end (REST, GraphQL, the programmatic API) calls:
 * validate, then write in one transaction, then answer with the stored record. No front end talks
 * to the store directly, so all of them share validation, errors and events.
 */
import { createPolicy, type Policy, type Principal } from '../auth/policy.ts';
import { AppError } from '../errors.ts';
import { allOf } from '../query/evaluate.ts';
import { queryFromArguments, type QueryArguments } from '../query/from-arguments.ts';
import { DEFAULT_MAX_QUERY_TERMS, parseQuery } from '../query/parse.ts';
import type { Filter, Query } from '../query/types.ts';
import { hasNumericKey, type Key, type Record, type TableDef } from '../schema/model.ts';
import { buildValidators, validateMessage } from '../schema/validators.ts';
import { toKey, uuidv7 } from '../store/keys.ts';
import type { ReadLimits, SnapshotCursor, Store, TableHandle, WriteTx } from '../store/store.ts';
import type { CreateIntent, IntentWriter, PutIntent, WriteIntent } from './intents.ts';
import { BULK_WRITE_BATCH } from '../store/write-tx.ts';
import type { Precondition } from './preconditions.ts';
import { atRecord, tableRules, tableWrites, type Written } from './table-writes.ts';

export type { SnapshotCursor } from '../store/store.ts';
export type { Precondition } from './preconditions.ts';

export type { Written } from './table-writes.ts';

export interface TableService {
  readonly def: TableDef;
  readonly handle: TableHandle;
  /** Parses a raw query string (`category=sw&limit(10)`) against this table. */
  parseQuery(raw: string): Query;
  /** The same from typed arguments (GraphQL), under the same cap on conditions. */
  queryOf(args: QueryArguments): Query;
  /** The key type of this table from a URL segment or body value. */
  key(raw: unknown): Key;
  /** The record, or NOT_FOUND (also for a record outside the principal's read filter). */
  get(key: Key, principal?: Principal): Written;
  /** Like `get` for trusted callers, but `undefined` instead of NOT_FOUND. */
  find(key: Key): Written | undefined;
  /**
   * The records matching a query (sorted, limited, selected), read in chunks that each hold the
   * event loop for a few ms at most. The whole answer is in memory at the end: for large answers
   * use `openSearch`.
   */
  search(query: Query, principal?: Principal): Promise<unknown[]>;
  /**
   * The same answer chunk by chunk, all from one LMDB snapshot taken in this synchronous call, with
   * the change-log head of that snapshot (`head`). The role's read permission is checked here
   * (UNAUTHORIZED/FORBIDDEN are thrown before anything is read) and its row filter applied. Call
   * `next()` until it resolves to `undefined`, one call at a time, or `close()` to stop early.
   * `snapshot: false` holds no snapshot between chunks (each reads on after the last key, in the
   * latest state): for reads paced by a client, which must not pin one of LMDB's reader slots.
   */
  openSearch(query: Query, principal?: Principal, options?: { snapshot?: boolean }): SnapshotCursor;
  /** The principal's row filter for reading (throws UNAUTHORIZED/FORBIDDEN when it may not read). */
  readFilter(principal?: Principal): Filter | undefined;
  create(input: unknown, principal?: Principal): Promise<Written>;
  /**
   * Creates every record of an array in one transaction, all or nothing (at most `maxBulkRecords`):
   * the first record refused (invalid, a key taken or repeated, outside the role's filter) names
   * its index in the message and in `details[].path`, and nothing is written.
   */
  createMany(inputs: unknown, principal?: Principal): Promise<Written[]>;
  /**
   * The write one record of an import makes, validated as a REST create is: a create, or with
   * `replace` a put when the record has its key. Throws VALIDATION_FAILED. Apply it with `apply`.
   */
  importIntent(input: unknown, replace: boolean): CreateIntent | PutIntent;
  /** Creates or replaces the whole record at `key`. */
  put(key: Key, input: unknown, principal?: Principal, precondition?: Precondition): Promise<Written & { created: boolean }>;
  patch(key: Key, input: unknown, principal?: Principal, precondition?: Precondition): Promise<Written>;
  delete(key: Key, principal?: Principal, precondition?: Precondition): Promise<void>;
  /** Deletes every record matching a query that has a filter; resolves to the count. */
  deleteWhere(query: Query, principal?: Principal): Promise<number>;
  /** Sends a custom message to the record's subscribers; resolves to its change sequence number. */
  publish(key: Key, message: unknown, principal?: Principal): Promise<number>;
  /**
   * Applies a write intent of this table inside `tx` and returns its outcome (throws the error it
   * is refused with): what the methods above commit, and what a cluster node runs for each entry
   * of the cluster's log (core/intents.ts).
   */
  apply(tx: WriteTx, intent: WriteIntent): unknown;
}

/** Bounds of the reads of one table (config `maxQueryTerms`, `maxSortRecords`). */
export interface QueryLimits {
  /** Most conditions in a query parsed for a request (QUERY_TOO_COMPLEX past it). */
  maxQueryTerms?: number;
  /** Most records held to sort one query (QUERY_TOO_COMPLEX past it). */
  maxSortRecords?: number;
  /** Most values in one record or published message (VALIDATION_FAILED past it). */
  maxRecordValues?: number;
  /** Most records in one bulk create (PAYLOAD_TOO_LARGE past it). */
  maxBulkRecords?: number;
}

/** Records one bulk create may hold by default (config `maxBulkRecords`). */
export const DEFAULT_MAX_BULK_RECORDS = 1000;

const EMPTY_QUERY: Query = Object.freeze({ reserved: Object.freeze({}) });

/**
 * Builds the service for one table; validators are compiled here, once. Without a principal a call
 * is trusted (the programmatic API inside the server process); with one, the policy decides, before
 * validation (so a refused caller learns nothing about the schema) and again on the rows a role's
 * filter restricts, inside the write transaction (table-writes.ts).
 * @example const messages = createTableService(store, def); await messages.create({ title: 'Hi', content: '…' })
 */
export function createTableService(store: Store, def: TableDef, policy: Policy = createPolicy(undefined, []), limits: QueryLimits = {}, writer?: IntentWriter): TableService {
  const handle = store.table(def);
  const maxTerms = limits.maxQueryTerms ?? DEFAULT_MAX_QUERY_TERMS;
  const maxBulk = limits.maxBulkRecords ?? DEFAULT_MAX_BULK_RECORDS;
  const readLimits: Partial<ReadLimits> = limits.maxSortRecords !== undefined ? { maxSortRecords: limits.maxSortRecords } : {};
  const v = buildValidators(def, limits.maxRecordValues);
  const pk = def.primaryKey;
  const rules = tableRules(def, policy);
  const { notFound, allow, inside } = rules;
  const { apply, removeIfMatching } = tableWrites({ def, handle, policy, rules, validators: v });
  /**
   * The key of a new record: the body's, or a UUID drawn here, where the request arrived (applied
   * on several nodes of a cluster, the record must get the same key everywhere); integer keys are
   * counted where applied (undefined here).
   */
  const newKey = (data: Record): Key | undefined => {
    const given = data[pk] === undefined || data[pk] === null ? undefined : toKey(def, data[pk]);
    return given ?? (hasNumericKey(def) ? undefined : uuidv7(Date.now()));
  };

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

  const find = (key: Key): Written | undefined => {
    const stored = store.get(handle, key);
    return stored && { key, record: stored.record, version: stored.version };
  };

  /**
   * A delete by query through the writer (a cluster): one intent per matching key, each deleting
   * its record only if it still matches where it is applied; `BULK_WRITE_BATCH` in flight at a time.
   */
  const deleteEach = async (keys: Key[], where: Filter, principal: Principal | undefined): Promise<number> => {
    let deleted = 0;
    for (let from = 0; from < keys.length; from += BULK_WRITE_BATCH) {
      const outcomes = await Promise.all(keys.slice(from, from + BULK_WRITE_BATCH).map((key) => commit<boolean>({ op: 'delete', table: handle.id, key, where, ...(principal ? { principal } : {}) })));
      deleted += outcomes.filter(Boolean).length;
    }
    return deleted;
  };

  /** Applies a write here, in one local transaction, or hands it to the writer (a cluster's log). */
  const commit = <T>(intent: WriteIntent): Promise<T> => (writer ? (writer.write(intent) as Promise<T>) : store.transact((tx) => apply(tx, intent) as T));

  return {
    def,
    handle,
    // Most requests have no query string: one shared empty query instead of a parse.
    parseQuery: (raw) => (raw === '' ? EMPTY_QUERY : parseQuery(raw, def, { maxTerms })),
    queryOf: (args) => queryFromArguments(def, args, { maxTerms }),
    key: (raw) => toKey(def, raw),
    find,
    readFilter: (principal) => allow(principal, 'read'),
    get(key, principal) {
      const filter = allow(principal, 'read');
      const found = find(key);
      // Outside the read filter reads as absent: a role must not learn which records exist.
      if (!found || !inside(filter, found.record)) throw notFound(key);
      return found;
    },
    search(query, principal) {
      const filter = allow(principal, 'read');
      return store.search(handle, filter ? { ...query, filter: allOf(query.filter, filter)! } : query, readLimits);
    },
    openSearch(query, principal, options) {
      const filter = allow(principal, 'read');
      return store.openSearch(handle, filter ? { ...query, filter: allOf(query.filter, filter)! } : query, readLimits, options);
    },
    async create(input, principal) {
      allow(principal, 'insert');
      const data = v.validateCreate(input);
      const key = newKey(data);
      return commit<Written>({ op: 'create', table: handle.id, ...(key !== undefined ? { key } : {}), data, ...(principal ? { principal } : {}) });
    },
    async createMany(inputs, principal) {
      allow(principal, 'insert');
      if (!Array.isArray(inputs)) throw new AppError('VALIDATION_FAILED', 'a bulk create takes a JSON array of records', { details: [{ path: '', message: 'must be an array' }] });
      if (inputs.length === 0) throw new AppError('VALIDATION_FAILED', 'the array holds no records', { details: [{ path: '', message: 'must hold at least one record' }] });
      if (inputs.length > maxBulk) throw new AppError('PAYLOAD_TOO_LARGE', `a bulk create takes at most ${maxBulk} records (the maxBulkRecords setting); this one has ${inputs.length}`);
      const records = inputs.map((input, index) => {
        try {
          const data = v.validateCreate(input);
          const key = newKey(data);
          return key !== undefined ? { key, data } : { data };
        } catch (err) {
          throw atRecord(index, err);
        }
      });
      return commit<Written[]>({ op: 'createMany', table: handle.id, records, ...(principal ? { principal } : {}) });
    },
    importIntent(input, replace) {
      const data = v.validateCreate(input);
      const key = newKey(data);
      if (replace && data[pk] !== undefined && data[pk] !== null) return { op: 'put', table: handle.id, key: key!, data };
      return { op: 'create', table: handle.id, ...(key !== undefined ? { key } : {}), data };
    },
    async put(key, input, principal, precondition) {
      // PUT creates or replaces: which permission applies is known only inside the transaction,
      // but a caller with neither is refused before anything else.
      if (principal && !policy.grant(principal, 'insert', def).allowed && !policy.grant(principal, 'update', def).allowed) allow(principal, 'update');
      const data = v.validateReplace(input);
      checkBodyKey(key, data);
      return commit<Written & { created: boolean }>({ op: 'put', table: handle.id, key, data, ...(principal ? { principal } : {}), ...(precondition ? { precondition } : {}) });
    },
    async patch(key, input, principal, precondition) {
      allow(principal, 'update');
      const changes = v.validatePatch(input);
      checkBodyKey(key, changes);
      return commit<Written>({ op: 'patch', table: handle.id, key, changes, ...(principal ? { principal } : {}), ...(precondition ? { precondition } : {}) });
    },
    async delete(key, principal, precondition) {
      allow(principal, 'delete');
      await commit<void>({ op: 'delete', table: handle.id, key, ...(principal ? { principal } : {}), ...(precondition ? { precondition } : {}) });
    },
    async deleteWhere(query, principal) {
      const filter = allow(principal, 'delete');
      if (!query.filter) {
        throw new AppError('QUERY_INVALID', 'DELETE on a collection needs a query (for example ?status=done); use a filter that matches everything on purpose');
      }
      const where = allOf(query.filter, filter)!;
      // Bounded: the matching keys are read first, in slices of event-loop time (keys only, a few
      // bytes each), and then deleted in transactions of at most BULK_WRITE_BATCH records, each
      // checking every record again (one changed since the read is deleted only if it still
      // matches). One transaction for every match held the loop for seconds on 100k records; and
      // deleting while the read's snapshot stays open kept LMDB from reusing any page the deletes
      // freed (+200 MiB of RSS and file for 89k deletes). Each batch is atomic with its change
      // entries and events; the whole is not (README, Durability).
      const keys = await store.search(handle, { ...query, filter: where, select: { attributes: [pk], bare: true } }, readLimits);
      if (writer) return deleteEach(keys as Key[], where, principal);
      let deleted = 0;
      try {
        for (let from = 0; from < keys.length; from += BULK_WRITE_BATCH) {
          const batch = keys.slice(from, from + BULK_WRITE_BATCH);
          deleted += await store.transact((tx) => {
            let n = 0;
            // The store types results unknown; a bare select of the primary key gives keys.
            for (const key of batch) if (removeIfMatching(tx, key as Key, where)) n++;
            return n;
          });
        }
      } catch (err) {
        if (deleted === 0 || !(err instanceof AppError)) throw err;
        // The batches before the failure are committed: say how many, as the success answer would.
        throw new AppError(err.code, `${err.message} (${deleted} matching records were deleted before this failure)`, {
          details: { deleted, ...(err.details !== undefined ? { cause: err.details } : {}) },
          ...(err.headers ? { headers: err.headers } : {}),
          cause: err,
        });
      }
      return deleted;
    },
    async publish(key, message, principal) {
      allow(principal, 'publish');
      if (message === undefined) throw new AppError('VALIDATION_FAILED', 'a published message needs a body');
      // Checked against this server's cap before the write (the store checks again, at the default).
      if (limits.maxRecordValues !== undefined) validateMessage(message, limits.maxRecordValues);
      return commit<number>({ op: 'publish', table: handle.id, key, message, ...(principal ? { principal } : {}) });
    },
    apply,
  };
}

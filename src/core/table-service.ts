/**
 * The operations on one table that every front end (REST, GraphQL, the programmatic API) calls:
 * validate, then write in one transaction, then answer with the stored record. No front end talks
 * to the store directly, so all of them share validation, errors and events.
 */
import { createPolicy, type Action, type Policy, type Principal } from '../auth/policy.ts';
import { AppError } from '../errors.ts';
import { allOf, matches } from '../query/evaluate.ts';
import { queryFromArguments, type QueryArguments } from '../query/from-arguments.ts';
import { DEFAULT_MAX_QUERY_TERMS, parseQuery } from '../query/parse.ts';
import type { Filter, Query } from '../query/types.ts';
import { hasNumericKey, type Key, type Record, type TableDef } from '../schema/model.ts';
import { buildValidators, stampTimes, validateMessage } from '../schema/validators.ts';
import { toKey, uuidv7 } from '../store/keys.ts';
import type { ReadLimits, SnapshotCursor, Store, TableHandle, WriteTx } from '../store/store.ts';
import type { CreateIntent, CreateManyIntent, DeleteIntent, ExpireIntent, IntentWriter, PatchIntent, PublishIntent, PutIntent, WriteIntent } from './intents.ts';
import { BULK_WRITE_BATCH } from '../store/write-tx.ts';
import { checkPrecondition, type Precondition } from './preconditions.ts';

export type { SnapshotCursor } from '../store/store.ts';
export type { Precondition } from './preconditions.ts';

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

/** An error of record `index` of a bulk create: its message and issue paths start with the index. */
function atRecord(index: number, err: unknown): unknown {
  if (!(err instanceof AppError)) return err;
  const issues = Array.isArray(err.details)
    ? err.details.map((d: { path?: unknown; message?: unknown }) => ({ ...d, path: typeof d.path === 'string' && d.path !== '' ? `${index}.${d.path}` : String(index) }))
    : [{ path: String(index), message: err.message }];
  return new AppError(err.code, `record ${index}: ${err.message}`, { details: issues, ...(err.headers ? { headers: err.headers } : {}), cause: err });
}

const EMPTY_QUERY: Query = Object.freeze({ reserved: Object.freeze({}) });

/**
 * Without a principal a call is trusted (the programmatic API inside the server process); with
 * one, the policy decides, before validation (so a refused caller learns nothing about the
 * schema) and again on the rows a role's filter restricts, inside the write transaction.
 */

/**
 * Builds the service for one table; validators are compiled here, once.
 * @example const messages = createTableService(store, def); await messages.create({ title: 'Hi', content: '…' })
 */
export function createTableService(store: Store, def: TableDef, policy: Policy = createPolicy(undefined, []), limits: QueryLimits = {}, writer?: IntentWriter): TableService {
  const handle = store.table(def);
  const maxTerms = limits.maxQueryTerms ?? DEFAULT_MAX_QUERY_TERMS;
  const maxBulk = limits.maxBulkRecords ?? DEFAULT_MAX_BULK_RECORDS;
  const readLimits: Partial<ReadLimits> = limits.maxSortRecords !== undefined ? { maxSortRecords: limits.maxSortRecords } : {};
  const v = buildValidators(def, limits.maxRecordValues);
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

  /** The row filter of a permitted action; throws UNAUTHORIZED/FORBIDDEN; nothing for trusted calls. */
  const allow = (principal: Principal | undefined, action: Action): Filter | undefined => (principal ? policy.require(principal, action, def) : undefined);
  const inside = (filter: Filter | undefined, record: Record) => filter === undefined || matches(filter, record);
  const outside = (principal: Principal | undefined, action: Action) =>
    new AppError('FORBIDDEN', `${principal?.user ?? 'anonymous'} may not ${action} this ${label} record (outside the role's filter)`);
  /**
   * An existing record (or none) outside the filter of `action`: NOT_FOUND unless the principal may
   * read that record, as `get` answers. (It was always FORBIDDEN, so PATCH, DELETE or a publish on
   * a key told a filtered role which records exist outside its view: 403 there, 404 elsewhere.)
   */
  const refused = (principal: Principal | undefined, action: Action, key: Key, record: Record | undefined) => {
    if (!record || !principal) return notFound(key);
    const read = policy.grant(principal, 'read', def);
    if (!read.allowed || !inside(read.filter, record)) return notFound(key);
    return outside(principal, action);
  };

  /** Keeps the key as the first attribute, as most schemas declare it. */
  const withKey = (key: Key, data: Record): Record => ({ [pk]: key, ...data, [pk]: key });

  const find = (key: Key): Written | undefined => {
    const stored = store.get(handle, key);
    return stored && { key, record: stored.record, version: stored.version };
  };

  /**
   * A write, decided against the state inside its transaction: the same intent applied to the same
   * state gives the same outcome, so every node of a cluster that applies it in the log's order
   * decides alike (SPEC §10). Permissions are checked again here on the record as it is now.
   */
  const applyCreate = (tx: WriteTx, i: CreateIntent): Written => {
    const { principal, data } = i;
    const filter = allow(principal, 'insert');
    const key = i.key ?? tx.nextKey(handle);
    const existing = tx.get(handle, key);
    if (existing) {
      // A record this caller cannot read is answered as a PUT of the same body to that key
      // would be (403 as an update outside its filter, or refused the update), not 409: a
      // CONFLICT told a filtered role that a record it may not see exists. A write to a taken
      // key still cannot succeed (README, Security: what a shared key space discloses).
      const read = principal ? policy.grant(principal, 'read', def) : undefined;
      if (read && (!read.allowed || !inside(read.filter, existing.record))) {
        const update = allow(principal, 'update');
        const replaced = stampTimes(def, withKey(key, data), existing.record, tx.now);
        if (!inside(update, existing.record) || !inside(update, replaced)) throw outside(principal, 'update');
      }
      throw new AppError('CONFLICT', `${label} ${String(key)} already exists`);
    }
    const record = stampTimes(def, withKey(key, data), undefined, tx.now);
    if (!inside(filter, record)) throw outside(principal, 'insert');
    const { entry } = tx.put(handle, key, record);
    return { key, record, version: entry.seq };
  };

  /** Each record as `applyCreate` would write it; a key the array holds twice is a CONFLICT too. */
  const applyCreateMany = (tx: WriteTx, i: CreateManyIntent): Written[] => {
    const taken = new Set<Key>();
    return i.records.map((r, index) => {
      try {
        if (r.key !== undefined && taken.has(r.key)) throw new AppError('CONFLICT', `${label} ${String(r.key)} appears twice in the array`);
        const written = applyCreate(tx, { op: 'create', table: i.table, ...(r.key !== undefined ? { key: r.key } : {}), data: r.data, ...(i.principal ? { principal: i.principal } : {}) });
        taken.add(written.key);
        return written;
      } catch (err) {
        throw atRecord(index, err);
      }
    });
  };

  const applyPut = (tx: WriteTx, i: PutIntent): Written & { created: boolean } => {
    const { principal, key } = i;
    const existing = tx.get(handle, key);
    const record = stampTimes(def, withKey(key, i.data), existing?.record, tx.now);
    if (principal) {
      const action = existing ? 'update' : 'insert';
      const filter = allow(principal, action);
      if ((existing && !inside(filter, existing.record)) || !inside(filter, record)) throw outside(principal, action);
    }
    checkPrecondition(i.precondition, existing, `${label} ${String(key)}`);
    const { entry, created } = tx.put(handle, key, record);
    return { key, record, version: entry.seq, created };
  };

  const applyPatch = (tx: WriteTx, i: PatchIntent): Written => {
    const { principal, key } = i;
    const filter = allow(principal, 'update');
    const existing = tx.get(handle, key);
    if (!existing) throw notFound(key);
    // Before validating the merge: its errors would tell a filtered role the record exists.
    if (!inside(filter, existing.record)) throw refused(principal, 'update', key, existing.record);
    checkPrecondition(i.precondition, existing, `${label} ${String(key)}`);
    // The merged record is validated as a whole: a patch can never leave an invalid record.
    const merged = v.validateRecord({ ...existing.record, ...i.changes, [pk]: key });
    const record = stampTimes(def, merged, existing.record, tx.now);
    if (!inside(filter, record)) throw outside(principal, 'update');
    const { entry } = tx.put(handle, key, record);
    return { key, record, version: entry.seq };
  };

  /** One record of a delete by query (`where` holds the role's filter), checked again in the transaction. */
  const removeIfMatching = (tx: WriteTx, key: Key, where: Filter): boolean => {
    const current = tx.get(handle, key);
    return current !== undefined && matches(where, current.record) && tx.remove(handle, key) !== undefined;
  };

  const applyDelete = (tx: WriteTx, i: DeleteIntent): boolean => {
    const { principal, key } = i;
    if (i.where) return removeIfMatching(tx, key, i.where);
    const filter = allow(principal, 'delete');
    const existing = tx.get(handle, key);
    if (!existing) throw notFound(key);
    if (!inside(filter, existing.record)) throw refused(principal, 'delete', key, existing.record);
    checkPrecondition(i.precondition, existing, `${label} ${String(key)}`);
    tx.remove(handle, key);
    return true;
  };

  const applyExpire = (tx: WriteTx, i: ExpireIntent): boolean => {
    // Only the deadline that was found, and only once it has passed at the intent's time: a write
    // since then renewed the record (another deadline), or it is gone.
    const at = handle.expires?.get(i.key);
    return at === i.at && at <= tx.now && tx.remove(handle, i.key, true) !== undefined;
  };

  const applyPublish = (tx: WriteTx, i: PublishIntent): number => {
    const { principal, key } = i;
    const filter = allow(principal, 'publish');
    if (filter) {
      const current = tx.get(handle, key);
      if (!current || !inside(filter, current.record)) throw refused(principal, 'publish', key, current?.record);
    }
    return tx.publish(handle, key, i.message).seq;
  };

  function apply(tx: WriteTx, intent: WriteIntent): unknown {
    switch (intent.op) {
      case 'create':
        return applyCreate(tx, intent);
      case 'createMany':
        return applyCreateMany(tx, intent);
      case 'put':
        return applyPut(tx, intent);
      case 'patch':
        return applyPatch(tx, intent);
      case 'delete':
        return applyDelete(tx, intent);
      case 'publish':
        return applyPublish(tx, intent);
      case 'expire':
        return applyExpire(tx, intent);
    }
  }

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
      const given = data[pk] === undefined || data[pk] === null ? undefined : toKey(def, data[pk]);
      // A UUID key is drawn here, where the request arrived: applied on several nodes (a cluster),
      // the record must get the same key everywhere. Integer keys are counted where applied.
      const key = given ?? (hasNumericKey(def) ? undefined : uuidv7(Date.now()));
      return commit<Written>({ op: 'create', table: handle.id, ...(key !== undefined ? { key } : {}), data, ...(principal ? { principal } : {}) });
    },
    async createMany(inputs, principal) {
      allow(principal, 'insert');
      if (!Array.isArray(inputs)) throw new AppError('VALIDATION_FAILED', 'a bulk create takes a JSON array of records', { details: [{ path: '', message: 'must be an array' }] });
      if (inputs.length === 0) throw new AppError('VALIDATION_FAILED', 'the array holds no records', { details: [{ path: '', message: 'must hold at least one record' }] });
      if (inputs.length > maxBulk) throw new AppError('PAYLOAD_TOO_LARGE', `a bulk create takes at most ${maxBulk} records (the maxBulkRecords setting); this one has ${inputs.length}`);
      // A cluster's log numbers each entry's one change with the entry's own sequence (SPEC §10):
      // an entry of several changes has no numbers to give them, and split in several entries the
      // create would no longer be all or nothing.
      if (writer) throw new AppError('NOT_IMPLEMENTED', 'a bulk create is not available on a cluster node: create the records one by one');
      const records = inputs.map((input, index) => {
        try {
          const data = v.validateCreate(input);
          const given = data[pk] === undefined || data[pk] === null ? undefined : toKey(def, data[pk]);
          const key = given ?? (hasNumericKey(def) ? undefined : uuidv7(Date.now()));
          return key !== undefined ? { key, data } : { data };
        } catch (err) {
          throw atRecord(index, err);
        }
      });
      return commit<Written[]>({ op: 'createMany', table: handle.id, records, ...(principal ? { principal } : {}) });
    },
    importIntent(input, replace) {
      const data = v.validateCreate(input);
      const given = data[pk] === undefined || data[pk] === null ? undefined : toKey(def, data[pk]);
      if (replace && given !== undefined) return { op: 'put', table: handle.id, key: given, data };
      const key = given ?? (hasNumericKey(def) ? undefined : uuidv7(Date.now()));
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

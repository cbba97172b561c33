/**
 * How one table's writes are decided: each write intent (core/intents.ts) applied inside a write
 * transaction against the state it finds there, with the role's permissions checked again on the
 * records as they are now. Deterministic, so every node of a cluster that applies the same intent
 * in the log's order decides alike (SPEC §10); the single server runs the same code.
 */
import type { Action, Policy, Principal } from '../auth/policy.ts';
import { AppError } from '../errors.ts';
import { matches } from '../query/evaluate.ts';
import type { Filter } from '../query/types.ts';
import type { Key, Record, TableDef } from '../schema/model.ts';
import { stampTimes, type TableValidators } from '../schema/validators.ts';
import type { TableHandle, WriteTx } from '../store/store.ts';
import type { CreateIntent, CreateManyIntent, DeleteIntent, ExpireIntent, PatchIntent, PublishIntent, PutIntent, WriteIntent } from './intents.ts';
import { checkPrecondition } from './preconditions.ts';

/** A record as written, with its version (the change sequence number of the write; the ETag). */
export interface Written {
  key: Key;
  record: Record;
  version: number;
}

/** The permission checks of one table, shared by its reads (table-service.ts) and its writes. */
export interface TableRules {
  readonly label: string;
  notFound(key: Key): AppError;
  /** The row filter of a permitted action; throws UNAUTHORIZED/FORBIDDEN; nothing for trusted calls. */
  allow(principal: Principal | undefined, action: Action): Filter | undefined;
  inside(filter: Filter | undefined, record: Record): boolean;
}

/**
 * The permission checks of one table under a policy.
 * @example const rules = tableRules(def, policy); rules.allow(principal, 'read')
 */
export function tableRules(def: TableDef, policy: Policy): TableRules {
  const label = def.export?.name ?? def.typeName;
  return {
    label,
    notFound: (key) => new AppError('NOT_FOUND', `${label} ${String(key)} not found`),
    allow: (principal, action) => (principal ? policy.require(principal, action, def) : undefined),
    inside: (filter, record) => filter === undefined || matches(filter, record),
  };
}

/** What a table's writes need: the table, its compiled validators, the policy and its rules. */
export interface WriteContext {
  def: TableDef;
  handle: TableHandle;
  policy: Policy;
  rules: TableRules;
  validators: TableValidators;
}

/** An error of record `index` of a bulk create: its message and issue paths start with the index. */
export function atRecord(index: number, err: unknown): unknown {
  if (!(err instanceof AppError)) return err;
  const issues = Array.isArray(err.details)
    ? err.details.map((d: { path?: unknown; message?: unknown }) => ({ ...d, path: typeof d.path === 'string' && d.path !== '' ? `${index}.${d.path}` : String(index) }))
    : [{ path: String(index), message: err.message }];
  return new AppError(err.code, `record ${index}: ${err.message}`, { details: issues, ...(err.headers ? { headers: err.headers } : {}), cause: err });
}

/**
 * The appliers of one table's write intents.
 * @example const { apply } = tableWrites(ctx); store.transact((tx) => apply(tx, intent))
 */
export function tableWrites(ctx: WriteContext): {
  apply(tx: WriteTx, intent: WriteIntent): unknown;
  /** One record of a delete by query (`where` holds the role's filter), checked again in the transaction. */
  removeIfMatching(tx: WriteTx, key: Key, where: Filter): boolean;
} {
  const { def, handle, policy, validators: v } = ctx;
  const { label, notFound, allow, inside } = ctx.rules;
  const pk = def.primaryKey;
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

  return { apply, removeIfMatching };
}

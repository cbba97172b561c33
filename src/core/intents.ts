/**
 * Write intents: a table write as data, after the request was authenticated, authorized and
 * validated, before it is decided. A single server decides it at once, in a local transaction
 * (`TableService.apply`); a cluster node appends it to the cluster's log and every node decides it
 * there, in the log's order (SPEC §10). So an intent holds everything the decision needs and nothing
 * a node would compute differently: the validated data, the key when it is drawn at random (UUIDs;
 * integer keys are counted where applied), the caller (their role decides, with the policy every
 * node has), and the precondition. Plain JSON, so it travels as it is.
 */
import type { Principal } from '../auth/policy.ts';
import type { Filter } from '../query/types.ts';
import type { Key, Record } from '../schema/model.ts';
import type { Precondition } from './preconditions.ts';

interface IntentBase {
  /** The table's id (`database/table`). */
  table: string;
  /** Absent for trusted callers (the programmatic API). */
  principal?: Principal;
}

export interface CreateIntent extends IntentBase {
  op: 'create';
  /** Absent: the next integer key where it is applied. */
  key?: Key;
  data: Record;
}

/**
 * Several creates in one transaction, all or nothing (a bulk `POST`): each record as a create
 * intent would carry it. Refused as a whole, naming the record, if any one of them is.
 */
export interface CreateManyIntent extends IntentBase {
  op: 'createMany';
  records: Array<{ key?: Key; data: Record }>;
}

export interface PutIntent extends IntentBase {
  op: 'put';
  key: Key;
  data: Record;
  precondition?: Precondition;
}

export interface PatchIntent extends IntentBase {
  op: 'patch';
  key: Key;
  changes: Record;
  precondition?: Precondition;
}

export interface DeleteIntent extends IntentBase {
  op: 'delete';
  key: Key;
  precondition?: Precondition;
  /**
   * One record of a delete by query: deleted only if it still matches (the query's filter with the
   * role's), and a record that is gone or no longer matches is no error. Outcome: deleted or not.
   */
  where?: Filter;
}

export interface PublishIntent extends IntentBase {
  op: 'publish';
  key: Key;
  message: unknown;
}

/**
 * An expired record's delete, from the node that found its deadline passed: applied only if the
 * record still has that deadline and it has passed at the intent's time (a write since renewed it).
 */
export interface ExpireIntent {
  op: 'expire';
  table: string;
  key: Key;
  /** The deadline found (epoch ms). */
  at: number;
}

export type WriteIntent = CreateIntent | CreateManyIntent | PutIntent | PatchIntent | DeleteIntent | PublishIntent | ExpireIntent;

/**
 * A logout: every node refuses the token from its entry on (kept in memory until the token
 * expires, as a single server keeps it). Not a table write: no transaction, no change entry.
 */
export interface RevokeIntent {
  op: 'revoke';
  /** The token's id and expiry (epoch s). */
  jti: string;
  exp: number;
}

/**
 * A password change (`POST /auth/password`), checked where the request arrived: every node stores
 * the new hash (never the password) and counts the user's generation on from its own record.
 */
export interface PasswordIntent {
  op: 'password';
  user: string;
  hash: string;
  /** The configuration's hash it replaces. */
  base: string;
  /** The generation the current password was checked at: another change applied first refuses this one (CONFLICT). */
  expect: number;
}

/** Everything a cluster's log carries. */
export type LogIntent = WriteIntent | RevokeIntent | PasswordIntent;

/** A cluster node's view of its log, for `/health` and `/metrics`. */
export interface LogState {
  /** Whether the node is connected to the log (NATS). */
  connected: boolean;
  /** The last log sequence applied here. */
  applied: number;
  /** Entries in the log after `applied` when the last one was delivered (0: caught up). */
  lagEntries: number;
  /** How far behind in time: the age of the last applied entry while entries wait, else 0 (ms). */
  lagMs: number;
}

/**
 * Where a table service sends its writes instead of its own transaction: a cluster node's log.
 * Resolves with the outcome `TableService.apply` gave where the write was decided, or rejects with
 * the error it was refused with.
 */
export interface IntentWriter {
  /**
   * `id` names the intent in the log: an intent with the id of one already there is not stored
   * twice (an expiry found by several nodes); absent, the writer makes a unique one.
   */
  write(intent: LogIntent, id?: string): Promise<unknown>;
  /** Where the writer's log stands (a cluster node). */
  state?(): LogState;
}

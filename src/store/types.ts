/**
 * Types shared by the store's modules and by the layers above that read the change log.
 */
import type { Key, Record } from '../schema/model.ts';

/** The operation a change-log entry records; the same names as the SSE events. */
export type ChangeOp = 'update' | 'delete' | 'publish';

/**
 * One committed change. Written in the same LMDB transaction as the record it describes, so the
 * log and the tables never disagree. `seq` is the global change sequence number (SSE `id:`).
 */
export interface ChangeEntry {
  seq: number;
  /** Commit time, epoch ms (retention is measured with it). */
  time: number;
  /** Table id: `database/table`. */
  table: string;
  op: ChangeOp;
  key: Key;
  /** `update`: the whole stored record. */
  value?: Record;
  /**
   * `update` of an existing record and `delete`: the record before the change, so that filtered
   * streams can tell a record leaving their filter from one that never matched.
   */
  prev?: Record;
  /** `publish`: the custom message. */
  message?: unknown;
  /**
   * `publish`: the record as it stood when the message was published (absent: no such record).
   * `null`: there was no such record. Entries written before this field existed have none; see
   * `publishState` in the hub.
   */
  state?: Record | null;
  /** `delete` caused by expiry rather than a request. */
  expired?: boolean;
}

/** A stored record with its version (the `seq` of the change that wrote it; the ETag). */
export interface StoredRecord {
  record: Record;
  version: number;
}

/**
 * A password changed at run time (`POST /auth/password`), kept in the store so that every worker
 * process and cluster node sees it and it survives restarts.
 */
export interface StoredCredential {
  /** The scrypt hash of the new password. */
  hash: string;
  /** The configuration's hash it replaced (while the configuration holds it, `hash` wins). */
  base: string;
  /** Changes so far: tokens carry the generation they were issued in. */
  generation: number;
  /** When it was changed (epoch ms). */
  changedAt: number;
}

/**
 * Opens the one LMDB environment under the data directory and lays out its sub-databases:
 * one per table, one per `@indexed` attribute, the change log, expiry bookkeeping, meta and the
 * passwords users changed at run time.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { AppError } from '../errors.ts';
import type { FieldDef, Key, Record, TableDef } from '../schema/model.ts';
import { createChangeLog, type ChangeAppender, type ChangeLog } from './change-log.ts';
import { updateIndexes, type IndexHandle } from './indexes.ts';
import type { ChangeEntry, StoredCredential } from './types.ts';
import { messageOf } from '../util/guards.ts';

/** Everything the store keeps for one table. */
export interface TableHandle {
  /** `database/table`: the id in change entries. */
  id: string;
  def: TableDef;
  records: Database<Record, Key>;
  indexes: readonly IndexHandle[];
  /** Indexed fields by name, for the planner. */
  indexed: ReadonlyMap<string, FieldDef>;
  /** Expiring tables: key → expiresAt (epoch ms). */
  expires?: Database<number, Key>;
  /** Records read by searches and snapshots (metrics; lets tests prove a path does not scan). */
  stats: { recordsRead: number };
}

/** The raw sub-databases, shared by the store's modules (not exported from the package). */
export interface Layout {
  root: RootDatabase;
  tables: Map<string, TableHandle>;
  changeLog: ChangeLog & ChangeAppender;
  meta: Database<number, string>;
  /** Passwords changed at run time, by user name. */
  credentials: Database<StoredCredential, string>;
  /** Expiry queue: [expiresAt, tableId, key] → null, so the sweeper reads due records in order. */
  expiryQueue: Database<null, [number, string, Key]>;
}

export interface OpenOptions {
  dataDir: string;
  tables: readonly TableDef[];
  /** Initial map size in bytes; LMDB grows it as needed. */
  mapSize?: number;
  /** Other processes write to the same store at the same time (`--workers`): see openLayout. */
  shared?: boolean;
}

/** The id of a table in change entries and sub-database names. */
export function tableId(def: TableDef): string {
  return `${def.database}/${def.table}`;
}

/**
 * Opens (creating if needed) the environment, and builds any index the schema declares that the
 * stored data does not have yet, so a schema that gains `@indexed` works on existing records.
 * @example const layout = openLayout({ dataDir: './data', tables: model.tables })
 */
export function openLayout(options: OpenOptions): Layout {
  const dir = options.dataDir;
  let root: RootDatabase;
  try {
    mkdirSync(dir, { recursive: true });
    // eventTurnBatching off: with it, lmdb-js queues a batch-start write per event turn and drops
    // the promise it returns, so every failed commit (a full disk) also rejected a promise nobody
    // handles, and Node ended the process (test/fault/disk.test.ts, about 1 run in 5). Without it,
    // the transactions of one turn still share one commit (they join one queued instruction, and
    // the commit starts on setImmediate); measured write throughput is the same. Nothing may call
    // `root.on('beforecommit')`: lmdb-js turns event-turn batching back on for it.
    //
    // maxReaders: lmdb-js's default of 126 reader slots is a hard ceiling on read transactions
    // open at once; with 126 held (say, slow SSE clients each reading retained data from its own
    // snapshot) every other read fails with MDB_READERS_FULL. A slot costs 64 bytes of lock file.
    // Retained reads hold at most a quarter of them (core/retained.ts).
    //
    // overlappingSync off when other processes write too: lmdb-js 3.5.6 then commits without
    // deferring the flush, because with the deferred flush (its default) a process killed with -9
    // while it held the writer lock made the next writer resume from the last *flushed* commit,
    // and writes other processes had committed (and answered) since were lost: 1–2 of ~3,000 in 15
    // kills, every run; none with it off (test/fault/shared-store.test.ts). One process alone is
    // not affected (a restart takes the latest commit), so it keeps the faster deferred flush.
    root = open({
      path: join(dir, 'tablecast.mdb'),
      maxDbs: 4096,
      maxReaders: 2048,
      eventTurnBatching: false,
      ...(options.shared ? { overlappingSync: false } : {}),
      ...(options.mapSize ? { mapSize: options.mapSize } : {}),
    });
  } catch (err) {
    const reason = messageOf(err);
    throw new AppError('CONFIG_INVALID', `cannot open the data directory ${dir}: ${reason}`, { cause: err });
  }
  const meta = root.openDB<number, string>('meta', {});
  const changes = root.openDB<ChangeEntry, number>('changes', {});
  const expiryQueue = root.openDB<null, [number, string, Key]>('expiry', {});
  const tables = new Map<string, TableHandle>();
  for (const def of options.tables) {
    const id = tableId(def);
    const indexedFields = def.fields.filter((f) => f.indexed);
    const handle: TableHandle = {
      id,
      def,
      records: root.openDB<Record, Key>(`t:${id}`, { useVersions: true }),
      indexes: indexedFields.map((field) => ({
        field,
        // biome-ignore lint/suspicious/noExplicitAny: see IndexHandle.db
        db: root.openDB<Key, any>(`i:${id}:${field.name}`, { dupSort: true, encoding: 'ordered-binary' }),
      })),
      indexed: new Map(indexedFields.map((f) => [f.name, f])),
      stats: { recordsRead: 0 },
    };
    if (def.expiration !== undefined) handle.expires = root.openDB<number, Key>(`x:${id}`, {});
    tables.set(id, handle);
  }
  const credentials = root.openDB<StoredCredential, string>('credentials', {});
  const layout: Layout = { root, tables, changeLog: createChangeLog(changes, meta), meta, credentials, expiryQueue };
  buildMissingIndexes(layout);
  return layout;
}

/** Indexes that were declared after records were stored are filled from the records, once. */
function buildMissingIndexes(layout: Layout): void {
  // An index dropped from the schema goes stale while it is not maintained: forget it, so that
  // declaring it again rebuilds it rather than trusting old entries.
  const declared = new Set<string>();
  for (const table of layout.tables.values()) for (const i of table.indexes) declared.add(`index:${table.id}:${i.field.name}`);
  for (const key of layout.meta.getKeys({ start: 'index:', end: 'index;' })) {
    if (!declared.has(key)) layout.meta.removeSync(key);
  }
  for (const table of layout.tables.values()) {
    for (const index of table.indexes) {
      const marker = `index:${table.id}:${index.field.name}`;
      if (layout.meta.get(marker) === 1) continue;
      layout.root.transactionSync(() => {
        index.db.clearSync();
        for (const { key, value } of table.records.getRange({})) updateIndexes([index], key, undefined, value);
        layout.meta.putSync(marker, 1);
      });
    }
  }
}

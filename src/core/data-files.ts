/**
 * The data directory for the CLI's data commands, without a server: the store with one table
 * service per table (trusted: no roles), NDJSON export from one read snapshot of the store opened
 * read-only, and the store's backup. Import is in ndjson-import.ts.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { SchemaModel, TableDef } from '../schema/model.ts';
import { backupStore, readTables, storeHolders, STORE_FILE } from '../store/backup.ts';
import { createStore, type Store } from '../store/store.ts';
import { createTableService, type QueryLimits, type TableService } from './table-service.ts';

export { backupStore, storeHolders, STORE_FILE };

export interface DataStore {
  store: Store;
  /** Every table's service, by `database/table`. */
  services: ReadonlyMap<string, TableService>;
  close(): Promise<void>;
}

/**
 * Opens the store of `dataDir` for `model`'s tables, as a process among others (servers may have it
 * open: LMDB's multi-process mode, as `--workers` uses).
 * @example const data = openDataStore(model, './data', { maxRecordValues: 5000 })
 */
export function openDataStore(model: SchemaModel, dataDir: string, limits: QueryLimits = {}): DataStore {
  const store = createStore({ dataDir, tables: model.tables, shared: true });
  const services = new Map(model.tables.map((def) => [`${def.database}/${def.table}`, createTableService(store, def, undefined, limits)]));
  return { store, services, close: () => store.close() };
}

/** A table an export writes: its id (`database/table`) and definition. */
export interface ExportTable {
  id: string;
  def: TableDef;
}

/**
 * Writes every live record of `tables` in the store of `dataDir` as NDJSON (one record per line,
 * as stored) to the sink each table gets, all from one LMDB read snapshot of the store opened
 * read-only (store/backup.ts `readTables`: nothing written, no index built), waiting for a sink to
 * drain whenever it asks to. Expired records not yet swept are left out. Stops, rejecting with
 * `signal`'s reason, once `signal` is aborted. Resolves to the records written per table.
 */
export async function exportNdjson(
  dataDir: string,
  tables: readonly ExportTable[],
  sinks: ReadonlyMap<string, Writable>,
  options: { now?: number; onProgress?: (records: number) => void; signal?: AbortSignal } = {},
): Promise<Map<string, number>> {
  const now = options.now ?? Date.now();
  const counts = new Map(tables.map((t) => [t.id, 0]));
  let total = 0;
  await readTables(
    dataDir,
    tables.map((t) => t.def),
    async (rows) => {
      options.signal?.throwIfAborted();
      // One write per table per batch of rows (rows come table by table).
      let text = '';
      let table: string | undefined;
      const flush = async () => {
        const sink = table === undefined ? undefined : sinks.get(table);
        const chunk = text;
        text = '';
        if (sink && chunk !== '' && !sink.write(chunk)) await once(sink, 'drain', options.signal ? { signal: options.signal } : {});
      };
      for (const row of rows) {
        if (row.x !== undefined && row.x <= now) continue;
        if (row.t !== table) {
          await flush();
          table = row.t;
        }
        text += `${JSON.stringify(row.v)}\n`;
        counts.set(row.t, (counts.get(row.t) ?? 0) + 1);
        total++;
      }
      await flush();
      options.onProgress?.(total);
    },
    1000,
  );
  return counts;
}

/**
 * What `tablecast export`, `import` and `backup` open and check: the settings and schemas exactly
 * as `start` reads them (prepareStart), the store of the data directory, the table a name means,
 * and a backup directory with the store and the data directory's other files.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { backupStore, openDataStore, STORE_FILE, storeHolders, type DataStore, type ExportTable } from '../core/data-files.ts';
import type { TableDef } from '../schema/model.ts';
import { AppError } from '../errors.ts';
import { prepareStart } from './preflight.ts';

export { exportNdjson } from '../core/data-files.ts';
export { importMark, importNdjson, type ImportProgress } from '../core/ndjson-import.ts';

/**
 * Reads the configuration and schemas, and opens the store (refusing when `exclusive` and another
 * process, a running server, has it open: `selfPid` is the caller's own).
 */
export async function openData(input: unknown, cwd: string, options: { exclusive?: { selfPid: number } } = {}): Promise<{ config: Config; data: DataStore }> {
  const { config, model } = await prepareStart(input, { cwd });
  if (options.exclusive && existsSync(join(config.data, STORE_FILE))) {
    const others = (await storeHolders(config.data)).filter((pid) => pid !== options.exclusive?.selfPid);
    if (others.length > 0) {
      throw new AppError(
        'SERVICE_UNAVAILABLE',
        `the store in ${config.data} is open in process ${others.join(', ')} (a running server?): stop it first; an import writes beside a server's back, whose subscribers would not be told`,
      );
    }
  }
  return { config, data: openDataStore(model, config.data, { maxRecordValues: config.maxRecordValues }) };
}

/**
 * Reads the configuration and schemas for an export, which reads the store without opening it for
 * writing (core/data-files.ts `exportNdjson`); refuses a data directory without a store (a
 * misspelt `--data` would otherwise export nothing and succeed).
 */
export async function openExport(input: unknown, cwd: string): Promise<{ config: Config; tables: ExportTable[] }> {
  const { config, model } = await prepareStart(input, { cwd });
  refuseNoStore(config);
  return { config, tables: model.tables.map((def) => ({ id: `${def.database}/${def.table}`, def })) };
}

function refuseNoStore(config: Config): void {
  if (!existsSync(join(config.data, STORE_FILE))) throw new AppError('NOT_FOUND', `there is no store in ${config.data} (the data setting)`);
}

/** The table `name` means among `tables` (table services, export tables): `database/table`, by table name or export name. */
export function tableNamed<T extends { def: TableDef }>(tables: Iterable<T>, name: string): T {
  const [database, table] = name.split('/');
  const all = [...tables];
  for (const t of all) {
    if (t.def.database === database && (t.def.table === table || t.def.export?.name === table)) return t;
  }
  throw new AppError('TABLE_NOT_FOUND', `no table "${name}"; tables: ${all.map((t) => `${t.def.database}/${t.def.table}`).join(', ')}`);
}

/** The NDJSON file name of a table in an export directory: `<database>.<table>.ndjson`. */
export function fileNameOf(table: { def: TableDef }): string {
  return `${table.def.database}.${table.def.table}.ndjson`;
}

/**
 * Copies the data directory of `config` into `target` (missing or empty): the store from one read
 * transaction while servers may write (store/backup.ts), then every other file there (the auth
 * secret, the generated certificate). Resolves to the names copied.
 */
export async function backupDataDir(config: Config, target: string): Promise<string[]> {
  refuseNoStore(config);
  if (existsSync(target) && (await readdir(target)).length > 0) throw new AppError('CONFLICT', `${target} is not empty: back up into a new directory`);
  await mkdir(target, { recursive: true });
  await backupStore(config.data, join(target, STORE_FILE));
  const copied = [STORE_FILE];
  for (const name of await readdir(config.data)) {
    if (name === STORE_FILE || name === `${STORE_FILE}-lock`) continue;
    await cp(join(config.data, name), join(target, name), { recursive: true, preserveTimestamps: true });
    copied.push(name);
  }
  return copied;
}

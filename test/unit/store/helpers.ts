/**
 * Store test helpers: a store over a real LMDB in a temp dir, built from SDL, with a movable clock.
 */
import { rmSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { parseSchema } from '../../../src/schema/parse.ts';
import type { TableDef } from '../../../src/schema/model.ts';
import { createStore, type Store, type TableHandle } from '../../../src/store/store.ts';
import { tmpDir } from '../../helpers/server.ts';

export interface Clock {
  now: number;
  (): number;
}

/** A clock tests move by assigning `clock.now`. */
export function clock(start = 1_800_000_000_000): Clock {
  const c = (() => c.now) as Clock;
  c.now = start;
  return c;
}

export function tables(sdl: string): readonly TableDef[] {
  return parseSchema([{ file: 'test.graphql', sdl }]).tables;
}

export interface Opened {
  store: Store;
  dir: string;
  handle(typeName: string): TableHandle;
}

/** Opens a store on `dir` (a fresh temp dir by default, removed after the test). */
export function openStore(t: TestContext, sdl: string, options: { dir?: string; now?: () => number } = {}): Opened {
  const dir = options.dir ?? tmpDir('tablecast-store-');
  const defs = tables(sdl);
  const store = createStore({ dataDir: dir, tables: defs, ...(options.now ? { now: options.now } : {}) });
  // One hook, so the store is closed before its directory is removed (close is idempotent).
  t.after(async () => {
    await store.close();
    if (!options.dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    store,
    dir,
    handle(typeName) {
      const def = defs.find((d) => d.typeName === typeName);
      if (!def) throw new Error(`no table ${typeName}`);
      return store.table(def);
    },
  };
}

/** Every [indexKey, primaryKey] pair of one index, in index order. */
export function indexEntries(handle: TableHandle, attribute: string): Array<[unknown, unknown]> {
  const index = handle.indexes.find((i) => i.field.name === attribute);
  if (!index) throw new Error(`no index on ${attribute}`);
  // A range from the start does not return the `null` key (it encodes below every bound): read it on its own.
  const nulls = [...index.db.getValues(null as never)].map((value): [unknown, unknown] => [null, value]);
  return [...nulls, ...[...index.db.getRange({})].map(({ key, value }): [unknown, unknown] => [key, value])];
}

/**
 * Secondary indexes on a real LMDB: kept in the record's transaction on insert, replace, patch and
 * delete (lists index each distinct element, null and absent index as null), built for existing
 * records when a schema gains @indexed, and rebuilt when an index was dropped and declared again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { parseQuery } from '../../../src/query/parse.ts';
import { MAX_INDEXED_STRING } from '../../../src/store/indexes.ts';
import { tmpDir } from '../../helpers/server.ts';
import { indexEntries, openStore } from './helpers.ts';

const SDL = `type Product @table(database: "shop") @export(name: "product") {
  id: ID! @primaryKey
  category: String @indexed
  price: Float @indexed
  tags: [String] @indexed
  inStock: Boolean @indexed
  note: String
}`;

test('insert indexes every indexed attribute; null and absent index as null; lists index each distinct element', async (t) => {
  const { store, handle } = openStore(t, SDL);
  const p = handle('Product');
  await store.transact((tx) => {
    tx.put(p, 'a', { id: 'a', category: 'tools', price: 10, tags: ['x', 'y', 'x'], inStock: true });
    tx.put(p, 'b', { id: 'b', category: null, price: 2.5, tags: [], inStock: false });
    tx.put(p, 'c', { id: 'c', tags: null });
  });
  assert.deepEqual(indexEntries(p, 'category'), [
    [null, 'b'],
    [null, 'c'],
    ['tools', 'a'],
  ]);
  assert.deepEqual(indexEntries(p, 'price'), [
    [null, 'c'],
    [2.5, 'b'],
    [10, 'a'],
  ]);
  // An empty list has no elements to index; a null list indexes as null; duplicates once.
  assert.deepEqual(indexEntries(p, 'tags'), [
    [null, 'c'],
    ['x', 'a'],
    ['y', 'a'],
  ]);
  assert.deepEqual(
    indexEntries(p, 'inStock')
      .map(([k, v]) => `${String(k)}:${String(v)}`)
      .sort(),
    ['false:b', 'null:c', 'true:a'],
  );
  // Non-indexed attributes have no index at all.
  assert.equal(
    p.indexes.some((i) => i.field.name === 'note'),
    false,
  );
});

test('replace, patch and delete move index entries with the record', async (t) => {
  const { store, handle } = openStore(t, SDL);
  const p = handle('Product');
  await store.transact((tx) => tx.put(p, 'a', { id: 'a', category: 'tools', price: 10, tags: ['x', 'y'] }));
  await store.transact((tx) => tx.put(p, 'b', { id: 'b', category: 'tools', price: 10, tags: ['y'] }));

  // Replace: a whole new record; attributes that disappear index as null.
  await store.transact((tx) => tx.put(p, 'a', { id: 'a', category: 'garden', tags: ['y', 'z'] }));
  assert.deepEqual(indexEntries(p, 'category'), [
    ['garden', 'a'],
    ['tools', 'b'],
  ]);
  assert.deepEqual(indexEntries(p, 'price'), [
    [null, 'a'],
    [10, 'b'],
  ]);
  assert.deepEqual(indexEntries(p, 'tags'), [
    ['y', 'a'],
    ['y', 'b'],
    ['z', 'a'],
  ]);

  // Patch (a put of the merged record): only the changed attribute moves.
  const merged = { ...store.get(p, 'b')!.record, tags: null, price: 12 };
  await store.transact((tx) => tx.put(p, 'b', merged));
  assert.deepEqual(indexEntries(p, 'category'), [
    ['garden', 'a'],
    ['tools', 'b'],
  ]);
  assert.deepEqual(indexEntries(p, 'price'), [
    [null, 'a'],
    [12, 'b'],
  ]);
  assert.deepEqual(indexEntries(p, 'tags'), [
    [null, 'b'],
    ['y', 'a'],
    ['z', 'a'],
  ]);

  // Delete: every entry of the record goes.
  await store.transact((tx) => tx.remove(p, 'a'));
  assert.deepEqual(indexEntries(p, 'category'), [['tools', 'b']]);
  assert.deepEqual(indexEntries(p, 'tags'), [[null, 'b']]);
  await store.transact((tx) => tx.remove(p, 'b'));
  for (const attribute of ['category', 'price', 'tags', 'inStock']) assert.deepEqual(indexEntries(p, attribute), [], attribute);
});

test('long strings are indexed by a prefix and still answered exactly', async (t) => {
  const { store, handle } = openStore(t, SDL);
  const p = handle('Product');
  const long = 'c'.repeat(MAX_INDEXED_STRING + 50);
  await store.transact((tx) => {
    tx.put(p, 'long1', { id: 'long1', category: `${long}1` });
    tx.put(p, 'long2', { id: 'long2', category: `${long}2` });
  });
  const keys = indexEntries(p, 'category').map(([k]) => k as string);
  assert.ok(keys.every((k) => k.length === MAX_INDEXED_STRING));
  assert.deepEqual(await store.search(p, parseQuery(`category=${long}2`, p.def)), [{ id: 'long2', category: `${long}2` }]);
  assert.deepEqual((await store.search(p, parseQuery(`category=sw=${long}1`, p.def))).length, 1);
  assert.deepEqual(await store.search(p, parseQuery(`category=gt=${long}1&select(id)`, p.def)), ['long2']);
});

test('a schema that gains @indexed builds the index from existing records at open', async (t) => {
  const dir = tmpDir('tablecast-store-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const plain = `type Item @table(database: "t") @export { id: ID! @primaryKey  color: String  size: Int }`;
  const indexed = `type Item @table(database: "t") @export { id: ID! @primaryKey  color: String @indexed  size: Int }`;

  const v1 = openStore(t, plain, { dir });
  const items1 = v1.handle('Item');
  await v1.store.transact((tx) => {
    tx.put(items1, 'a', { id: 'a', color: 'red', size: 1 });
    tx.put(items1, 'b', { id: 'b', color: 'blue', size: 2 });
    tx.put(items1, 'c', { id: 'c', size: 3 });
  });
  await v1.store.close();

  const v2 = openStore(t, indexed, { dir });
  const items2 = v2.handle('Item');
  assert.deepEqual(indexEntries(items2, 'color'), [
    [null, 'c'],
    ['blue', 'b'],
    ['red', 'a'],
  ]);
  assert.deepEqual(await v2.store.search(items2, parseQuery('color=red&select(id)', items2.def)), ['a']);
  await v2.store.close();

  // The index is dropped from the schema, records change meanwhile, then it is declared again:
  // the stale index must be rebuilt, not trusted.
  const v3 = openStore(t, plain, { dir });
  const items3 = v3.handle('Item');
  await v3.store.transact((tx) => {
    tx.put(items3, 'a', { id: 'a', color: 'green', size: 1 });
    tx.remove(items3, 'b');
    tx.put(items3, 'd', { id: 'd', color: 'red', size: 4 });
  });
  await v3.store.close();

  const v4 = openStore(t, indexed, { dir });
  const items4 = v4.handle('Item');
  assert.deepEqual(indexEntries(items4, 'color'), [
    [null, 'c'],
    ['green', 'a'],
    ['red', 'd'],
  ]);
  assert.deepEqual(await v4.store.search(items4, parseQuery('color=red&select(id)', items4.def)), ['d']);
  assert.deepEqual(await v4.store.search(items4, parseQuery('color=blue', items4.def)), []);
  await v4.store.close();

  // Reopening with the same schema keeps the index as it is (no rebuild needed, same answers).
  const v5 = openStore(t, indexed, { dir });
  assert.deepEqual(indexEntries(v5.handle('Item'), 'color'), [
    [null, 'c'],
    ['green', 'a'],
    ['red', 'd'],
  ]);
});

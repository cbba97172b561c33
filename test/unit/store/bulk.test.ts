/**
 * Bulk writes are committed in batches of at most BULK_WRITE_BATCH records, one transaction each
 * (so no single callback holds the event loop for a whole table): the expiry sweep and a `DELETE`
 * by query. Every record still gets its own change entry, in order, and the answer counts all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTableService } from '../../../src/core/table-service.ts';
import { BULK_WRITE_BATCH } from '../../../src/store/write-tx.ts';
import { clock, indexEntries, openStore } from './helpers.ts';

const SDL = `type Session @table(database: "auth", expiration: 60) @export {
  id: ID! @primaryKey
  user: String @indexed
}
type Item @table(database: "shop") @export {
  id: ID! @primaryKey
  cat: String @indexed
  n: Int
}`;

const COUNT = 2 * BULK_WRITE_BATCH + 1;
const id = (i: number) => `k${String(i).padStart(5, '0')}`;

test('the expiry sweep deletes everything due, in batches of at most BULK_WRITE_BATCH, in one call', async (t) => {
  const c = clock();
  const { store, handle } = openStore(t, SDL, { now: c });
  const s = handle('Session');
  await store.transact((tx) => {
    for (let i = 0; i < COUNT; i++) tx.put(s, id(i), { id: id(i), user: `u${i % 7}` });
  });
  const heads: number[] = [];
  store.onCommit((head) => heads.push(head));
  c.now += 60_000;

  assert.equal(await store.sweepExpired(), COUNT);
  assert.deepEqual(heads, [COUNT + BULK_WRITE_BATCH, COUNT + 2 * BULK_WRITE_BATCH, 2 * COUNT], 'three commits');
  const log = store.changeLog.readAfter(COUNT);
  assert.equal(log.length, COUNT);
  assert.ok(log.every((e, i) => e.op === 'delete' && e.expired === true && e.key === id(i)));
  assert.deepEqual(indexEntries(s, 'user'), []);
  assert.equal(await store.sweepExpired(), 0, 'nothing left');
});

test('DELETE by query removes every match in batches, each with its change entries, and counts them all', async (t) => {
  const { store, handle } = openStore(t, SDL);
  const items = handle('Item');
  await store.transact((tx) => {
    for (let i = 0; i < 2 * COUNT; i++) tx.put(items, id(i), { id: id(i), cat: i % 2 === 0 ? 'even' : 'odd', n: i });
  });
  const service = createTableService(store, items.def);
  const heads: number[] = [];
  store.onCommit((head) => heads.push(head));

  // An indexed filter and an unindexed one, each matching COUNT records.
  assert.equal(await service.deleteWhere(service.parseQuery('cat=even')), COUNT);
  assert.deepEqual(heads, [2 * COUNT + BULK_WRITE_BATCH, 2 * COUNT + 2 * BULK_WRITE_BATCH, 3 * COUNT]);
  assert.equal(await service.deleteWhere(service.parseQuery('n=ge=0')), COUNT);
  assert.equal(heads.length, 6);
  assert.equal(store.changeLog.head(), 4 * COUNT);
  const log = store.changeLog.readAfter(2 * COUNT);
  assert.deepEqual(
    log.map((e) => [e.op, e.key]),
    [...Array.from({ length: COUNT }, (_, i) => ['delete', id(2 * i)]), ...Array.from({ length: COUNT }, (_, i) => ['delete', id(2 * i + 1)])],
  );
  assert.deepEqual(indexEntries(items, 'cat'), []);
  assert.deepEqual(await store.search(items, service.parseQuery('')), []);

  // limit() bounds a delete as it bounds a read.
  await store.transact((tx) => {
    for (let i = 0; i < 10; i++) tx.put(items, id(i), { id: id(i), cat: 'x', n: i });
  });
  assert.equal(await service.deleteWhere(service.parseQuery('cat=x&limit(3)')), 3);
  assert.deepEqual(await store.search(items, service.parseQuery('select(id)&limit(1)')), [id(3)]);
});

/**
 * The persisted change log on a real LMDB: appended in the writer's transaction with gap-free
 * sequence numbers, read after a cursor, pruned by age but never past a cursor still needed, and
 * untouched by a transaction that throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clock, indexEntries, openStore } from './helpers.ts';

const SDL = `type Item @table(database: "t") @export {
  id: ID! @primaryKey
  name: String @indexed
}`;

test('append: one entry per write, gap-free seqs, in commit order, with op, key, value and prev', async (t) => {
  const c = clock();
  const { store, handle } = openStore(t, SDL, { now: c });
  const items = handle('Item');
  assert.equal(store.changeLog.head(), 0);
  assert.deepEqual(store.changeLog.readAfter(0), []);

  const first = await store.transact((tx) => tx.put(items, 'a', { id: 'a', name: 'one' }));
  assert.equal(first.created, true);
  assert.equal(first.entry.seq, 1);
  c.now += 10;
  const second = await store.transact((tx) => tx.put(items, 'a', { id: 'a', name: 'two' }));
  assert.equal(second.created, false);
  const published = await store.transact((tx) => tx.publish(items, 'a', { text: 'typing' }));
  const removed = await store.transact((tx) => tx.remove(items, 'a'));
  assert.ok(removed);

  assert.equal(store.changeLog.head(), 4);
  assert.equal(store.changeLog.size(), 4);
  assert.deepEqual(store.changeLog.readAfter(0), [
    { seq: 1, time: c.now - 10, table: 't/Item', op: 'update', key: 'a', value: { id: 'a', name: 'one' } },
    { seq: 2, time: c.now, table: 't/Item', op: 'update', key: 'a', value: { id: 'a', name: 'two' }, prev: { id: 'a', name: 'one' } },
    // A publish carries the record as it stood, so filtered streams judge it without searching the log.
    { seq: 3, time: c.now, table: 't/Item', op: 'publish', key: 'a', message: { text: 'typing' }, state: { id: 'a', name: 'two' } },
    { seq: 4, time: c.now, table: 't/Item', op: 'delete', key: 'a', prev: { id: 'a', name: 'two' } },
  ]);
  assert.equal(published.seq, 3);
  const orphan = await store.transact((tx) => tx.publish(items, 'nobody', 'hi'));
  assert.equal(orphan.state, null, 'a publish to no record says so');
  // The version of a record is the seq of the change that wrote it.
  await store.transact((tx) => tx.put(items, 'b', { id: 'b' }));
  assert.equal(store.get(items, 'b')?.version, 6);
});

test('readAfter and iterateAfter start after the cursor and honour a limit', async (t) => {
  const { store, handle } = openStore(t, SDL);
  const items = handle('Item');
  for (let i = 0; i < 10; i++) await store.transact((tx) => tx.put(items, `k${i}`, { id: `k${i}` }));
  assert.deepEqual(
    store.changeLog.readAfter(7).map((e) => e.seq),
    [8, 9, 10],
  );
  assert.deepEqual(
    store.changeLog.readAfter(2, 3).map((e) => e.seq),
    [3, 4, 5],
  );
  assert.deepEqual(store.changeLog.readAfter(10), []);
  assert.deepEqual(
    [...store.changeLog.iterateAfter(6)].map((e) => e.key),
    ['k6', 'k7', 'k8', 'k9'],
  );
});

test('concurrent writers share commits but each gets its own gap-free seq', async (t) => {
  const { store, handle } = openStore(t, SDL);
  const items = handle('Item');
  const seqs = await Promise.all(Array.from({ length: 50 }, (_, i) => store.transact((tx) => tx.put(items, `c${i}`, { id: `c${i}` }).entry.seq)));
  assert.deepEqual(
    [...seqs].sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i + 1),
  );
  assert.deepEqual(
    store.changeLog.readAfter(0).map((e) => e.seq),
    Array.from({ length: 50 }, (_, i) => i + 1),
  );
});

test('prune removes entries older than the cutoff, never from keepFrom on, and records prunedThrough', async (t) => {
  const c = clock(1_000_000);
  const { store, handle } = openStore(t, SDL, { now: c });
  const items = handle('Item');
  for (let i = 1; i <= 10; i++) {
    c.now = 1_000_000 + i * 1000; // entry i is written at 1_000_000 + i s
    await store.transact((tx) => tx.put(items, `p${i}`, { id: `p${i}` }));
  }
  assert.equal(store.changeLog.prunedThrough(), 0);

  // Older than entry 4's time: 1, 2, 3 go.
  assert.equal(await store.changeLog.prune(1_000_000 + 4000), 3);
  assert.equal(store.changeLog.prunedThrough(), 3);
  assert.deepEqual(
    store.changeLog.readAfter(0).map((e) => e.seq),
    [4, 5, 6, 7, 8, 9, 10],
  );

  // A replay still needs seq 6: pruning stops before it even though 6..8 are old enough.
  assert.equal(await store.changeLog.prune(1_000_000 + 9000, 6), 2);
  assert.equal(store.changeLog.prunedThrough(), 5);
  assert.deepEqual(
    store.changeLog.readAfter(0).map((e) => e.seq),
    [6, 7, 8, 9, 10],
  );

  // Nothing old enough: nothing removed, prunedThrough unchanged.
  assert.equal(await store.changeLog.prune(0), 0);
  assert.equal(store.changeLog.prunedThrough(), 5);

  // Small batches still prune everything that qualifies.
  assert.equal(await store.changeLog.prune(Infinity, Infinity, 2), 5);
  assert.equal(store.changeLog.size(), 0);
  assert.equal(store.changeLog.prunedThrough(), 10);
  // The head survives an empty log: the next write continues the sequence.
  assert.equal(store.changeLog.head(), 10);
  const next = await store.transact((tx) => tx.put(items, 'after', { id: 'after' }));
  assert.equal(next.entry.seq, 11);
});

test('a transaction that throws writes nothing: no record, no index entry, no change entry, no seq used', async (t) => {
  const { store, handle } = openStore(t, SDL);
  const items = handle('Item');
  await store.transact((tx) => tx.put(items, 'kept', { id: 'kept', name: 'k' }));
  const boom = new Error('boom');
  await assert.rejects(
    store.transact((tx) => {
      tx.put(items, 'lost', { id: 'lost', name: 'l' });
      tx.remove(items, 'kept');
      tx.publish(items, 'kept', 'hello');
      throw boom;
    }),
    (err) => err === boom,
  );
  assert.equal(store.get(items, 'lost'), undefined);
  assert.deepEqual(store.get(items, 'kept')?.record, { id: 'kept', name: 'k' });
  assert.deepEqual(indexEntries(items, 'name'), [['k', 'kept']]);
  assert.equal(store.changeLog.head(), 1);
  assert.deepEqual(
    store.changeLog.readAfter(0).map((e) => e.key),
    ['kept'],
  );

  // A failing writer in the same batch as successful ones rolls back alone, and seqs stay gap-free.
  const results = await Promise.allSettled([
    store.transact((tx) => tx.put(items, 'x1', { id: 'x1' })),
    store.transact((tx) => {
      tx.put(items, 'bad', { id: 'bad' });
      throw boom;
    }),
    store.transact((tx) => tx.put(items, 'x2', { id: 'x2' })),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.equal(store.get(items, 'bad'), undefined);
  assert.deepEqual(
    store.changeLog.readAfter(0).map((e) => [e.seq, e.key]),
    [
      [1, 'kept'],
      [2, 'x1'],
      [3, 'x2'],
    ],
  );
});

test('a rolled-back transaction does not use up a generated integer key', async (t) => {
  const { store, handle } = openStore(t, `type Row @table @export { id: Int @primaryKey  v: String }`);
  const rows = handle('Row');
  await assert.rejects(
    store.transact((tx) => {
      const key = tx.nextKey(rows);
      tx.put(rows, key, { id: key });
      throw new Error('no');
    }),
  );
  const key = await store.transact((tx) => {
    const k = tx.nextKey(rows);
    tx.put(rows, k, { id: k });
    return k;
  });
  assert.equal(key, 1);
  // Keys are never reused, even after a delete of the highest one.
  await store.transact((tx) => tx.remove(rows, 1));
  assert.equal(await store.transact((tx) => tx.nextKey(rows)), 2);
});

test('numbered from outside (a cluster log): a run of seqs gives each change of one transaction its seq; more changes than the run, or a run not after the head, write nothing', async (t) => {
  const { store, handle } = openStore(t, SDL);
  const items = handle('Item');
  const one = await store.transact((tx) => tx.put(items, 'a', { id: 'a', name: 'one' }).entry.seq, { seq: 5, position: 5 });
  assert.equal(one, 5);
  const run = await store.transact((tx) => ['b', 'c', 'd'].map((k) => tx.put(items, k, { id: k, name: k }).entry.seq), { seq: 9, seqs: 3, position: 11 });
  assert.deepEqual(run, [9, 10, 11]);
  assert.equal(store.changeLog.head(), 11);
  assert.equal(store.logPosition(), 11);
  await assert.rejects(
    store.transact((tx) => ['e', 'f', 'g'].map((k) => tx.put(items, k, { id: k, name: k })), { seq: 12, seqs: 2, position: 13 }),
    /makes 2 changes at most/,
  );
  await assert.rejects(
    store.transact((tx) => tx.put(items, 'h', { id: 'h', name: 'h' }), { seq: 11, seqs: 2, position: 12 }),
    /would not follow the head 11/,
  );
  assert.equal(store.changeLog.head(), 11);
  assert.equal(store.logPosition(), 11);
  assert.equal(store.get(items, 'e'), undefined);
  assert.deepEqual(
    store.changeLog.readAfter(0).map((e) => [e.seq, e.key]),
    [
      [5, 'a'],
      [9, 'b'],
      [10, 'c'],
      [11, 'd'],
    ],
  );
});

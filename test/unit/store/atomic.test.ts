/**
 * All or nothing inside LMDB. lmdb-js runs every write callback of a batch in one shared LMDB
 * transaction without a child transaction around each: a callback that throws keeps what it wrote
 * before the throw. These tests make a write fail while the store applies it, among good writes
 * sharing its batch, and then compare every sub-database, byte for byte, with a store that only
 * ever saw the good writes; and check the events a real hub delivered.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { createHub } from '../../../src/realtime/hub.ts';
import type { HubEvent } from '../../../src/realtime/events.ts';
import { createStore, type Store, type TableHandle } from '../../../src/store/store.ts';
import type { WriteTx } from '../../../src/store/write-tx.ts';
import { tmpDir } from '../../helpers/server.ts';
import { clock, tables } from './helpers.ts';

const SDL = `type Good @table(database: "t") @export {
  id: ID! @primaryKey
  cat: String @indexed
  n: Any
}
type Doc @table(database: "t", expiration: 60) @export {
  id: ID! @primaryKey
  tag: String @indexed
  n: Any
}
type Num @table(database: "t") @export {
  id: Int! @primaryKey
  v: String @indexed
}`;

interface World {
  store: Store;
  dir: string;
  good: TableHandle;
  doc: TableHandle;
  num: TableHandle;
}

/** A store on a fresh directory with a fixed clock (two worlds given the same writes are byte-identical). */
function world(t: TestContext): World {
  const dir = tmpDir('tablecast-atomic-');
  const defs = tables(SDL);
  const store = createStore({ dataDir: dir, tables: defs, now: clock() });
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const handle = (name: string) => store.table(defs.find((d) => d.typeName === name)!);
  return { store, dir, good: handle('Good'), doc: handle('Doc'), num: handle('Num') };
}

/** The same starting state in every world: records with index entries, an expiring record, a key counter. */
async function seed(w: World): Promise<void> {
  await w.store.transact((tx) => {
    tx.put(w.good, 'g1', { id: 'g1', cat: 'old', n: 1 });
    tx.put(w.good, 'g2', { id: 'g2', cat: 'old', n: 2 });
    tx.put(w.doc, 'd1', { id: 'd1', tag: 'first', n: 1 });
    const k = tx.nextKey(w.num);
    tx.put(w.num, k, { id: k, v: 'one' });
  });
}

/** Good writes that run alongside the failing one, in the same turn (so in the same lmdb batch). */
const goodWrites = (w: World): Array<(tx: WriteTx) => unknown> => [
  (tx) => tx.put(w.good, 'a', { id: 'a', cat: 'new', n: 10 }),
  (tx) => {
    tx.put(w.doc, 'd2', { id: 'd2', tag: 'second', n: 2 });
    tx.publish(w.good, 'g1', { hello: 1 });
  },
];

/**
 * A write that touches every kind of bookkeeping before it fails: a replaced expiring record (its
 * index entry and deadline move), a removed record (its index entry goes), a key counter, a record
 * written twice, a publish; then a value msgpack cannot encode, which lmdb-js throws while the
 * store applies the buffered writes.
 */
const failingInsideCommit = (w: World) => (tx: WriteTx) => {
  tx.put(w.doc, 'd1', { id: 'd1', tag: 'moved', n: 3 });
  tx.remove(w.good, 'g2');
  const k = tx.nextKey(w.num);
  tx.put(w.num, k, { id: k, v: 'two' });
  tx.put(w.good, 'g1', { id: 'g1', cat: 'once', n: 4 });
  tx.put(w.good, 'g1', { id: 'g1', cat: 'twice', n: 5 });
  tx.publish(w.good, 'g1', { bye: 1 });
  tx.put(w.good, 'bad', { id: 'bad', cat: 'new', n: 2n ** 70n });
};

/**
 * Runs the writes in one turn and checks that lmdb-js ran them in one LMDB write transaction (the
 * case under test); resolves to each one's outcome.
 */
async function together(store: Store, writes: Array<(tx: WriteTx) => unknown>): Promise<PromiseSettledResult<unknown>[]> {
  const records = [...store.tables.values()][0]!.records;
  const txns = new Set<number>();
  const results = await Promise.allSettled(
    writes.map((fn) =>
      store.transact((tx) => {
        txns.add(records.getWriteTxnId());
        return fn(tx);
      }),
    ),
  );
  assert.equal(txns.size, 1, 'the writes shared one LMDB transaction');
  return results;
}

/**
 * Every sub-database of the environment, raw: keys and values as hex (versions included), every
 * duplicate of the dupSort indexes. Read after the store is closed, through a separate handle.
 */
async function dump(w: World): Promise<Record<string, string[]>> {
  await w.store.close();
  const root = open({ path: join(w.dir, 'tablecast.mdb'), encoding: 'binary', keyEncoding: 'binary', readOnly: true });
  try {
    const out: Record<string, string[]> = {};
    const names = [...root.getKeys({})].map((k) =>
      Buffer.from(k as Buffer)
        .toString()
        .replace(/\0$/, ''),
    );
    for (const name of names) {
      const db = root.openDB(name, { encoding: 'binary', keyEncoding: 'binary', ...(name.startsWith('i:') ? { dupSort: true } : {}) });
      out[name] = [...db.getRange({})].map(({ key, value }) => `${Buffer.from(key as Buffer).toString('hex')}=${Buffer.from(value as Buffer).toString('hex')}`);
    }
    return out;
  } finally {
    await root.close();
  }
}

/** A hub with one subscriber per table, collecting what it delivers. */
function listen(w: World): HubEvent[] {
  const hub = createHub(w.store, { retention: 86_400_000 });
  const seen: HubEvent[] = [];
  for (const table of [w.good, w.doc, w.num]) hub.subscribe({ table: table.id, after: w.store.changeLog.head(), deliver: (e) => seen.push(e) });
  return seen;
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

test('a write that fails while the store applies it leaves nothing; good writes in its batch commit with their events', async (t) => {
  const a = world(t);
  const b = world(t);
  await seed(a);
  await seed(b);
  const headBefore = a.store.changeLog.head();
  const events = listen(a);

  const [first, failed, second] = await together(a.store, [goodWrites(a)[0]!, failingInsideCommit(a), goodWrites(a)[1]!]);
  assert.equal(first!.status, 'fulfilled');
  assert.equal(second!.status, 'fulfilled');
  assert.equal(failed!.status, 'rejected');
  assert.match(String((failed as PromiseRejectedResult).reason), /too large to fit in MessagePack/);
  await together(b.store, goodWrites(b));

  // Nothing of the failed write: the records, indexes, deadlines, counters and log are as in a
  // store that never saw it.
  assert.equal(a.store.get(a.good, 'bad'), undefined);
  assert.deepEqual(a.store.get(a.good, 'g2')?.record, { id: 'g2', cat: 'old', n: 2 });
  assert.deepEqual(a.store.get(a.doc, 'd1')?.record, { id: 'd1', tag: 'first', n: 1 });
  const log = a.store.changeLog.readAfter(headBefore);
  assert.deepEqual(
    log.map((e) => [e.seq, e.op, e.key]),
    [
      [headBefore + 1, 'update', 'a'],
      [headBefore + 2, 'update', 'd2'],
      [headBefore + 3, 'publish', 'g1'],
    ],
  );
  assert.equal(a.store.changeLog.head(), headBefore + 3);

  // The events of the good writes, in order, and nothing else.
  await turn();
  await turn();
  assert.deepEqual(
    events.map((e) => [e.seq, e.type, e.key]),
    [
      [headBefore + 1, 'update', 'a'],
      [headBefore + 2, 'update', 'd2'],
      [headBefore + 3, 'publish', 'g1'],
    ],
  );

  assert.deepEqual(await dump(a), await dump(b));
});

test('an over-long key is refused with VALIDATION_FAILED before anything applies, among good writes', async (t) => {
  const a = world(t);
  const b = world(t);
  await seed(a);
  await seed(b);
  const events = listen(a);
  const long = 'x'.repeat(3000);
  const wide = 'é'.repeat(1000); // 1,000 UTF-16 units, 2,000 bytes
  const results = await together(a.store, [
    goodWrites(a)[0]!,
    (tx) => {
      tx.put(a.good, 'b', { id: 'b', cat: 'new', n: 1 });
      tx.put(a.good, long, { id: long, cat: 'new' });
    },
    (tx) => {
      tx.remove(a.good, 'g1');
      tx.put(a.doc, wide, { id: wide, tag: 'x' });
    },
    goodWrites(a)[1]!,
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'rejected', 'fulfilled'],
  );
  const refused = (results[1] as PromiseRejectedResult).reason as { code: string; message: string; details: unknown };
  assert.equal(refused.code, 'VALIDATION_FAILED');
  assert.equal(refused.message, `id is 3000 bytes long; a key of this table holds at most ${1978 - 16} bytes`);
  assert.deepEqual(refused.details, [{ path: 'id', message: `at most ${1978 - 16} bytes (UTF-8)` }]);
  // An expiring table's keys leave room for the rest of their expiry-queue key.
  const wider = (results[2] as PromiseRejectedResult).reason as { code: string; message: string };
  assert.equal(wider.code, 'VALIDATION_FAILED');
  assert.equal(wider.message, `id is 2000 bytes long; a key of this table holds at most ${1978 - 16 - 't/Doc'.length * 3} bytes`);

  await together(b.store, goodWrites(b));
  await turn();
  await turn();
  assert.deepEqual(
    events.map((e) => [e.type, e.key]),
    [
      ['update', 'a'],
      ['update', 'd2'],
      ['publish', 'g1'],
    ],
  );
  assert.deepEqual(await dump(a), await dump(b));
});

test('indexed values of any length never make an index key LMDB refuses', async (t) => {
  const a = world(t);
  await seed(a);
  // Index keys are cut at 300 UTF-16 units: at most 900 bytes, whatever the characters.
  const values = ['a'.repeat(100_000), '€'.repeat(5000), '😀'.repeat(5000)];
  await a.store.transact((tx) =>
    values.forEach((cat, i) => {
      tx.put(a.good, `long${i}`, { id: `long${i}`, cat });
    }),
  );
  for (const [i, cat] of values.entries()) assert.equal(a.store.get(a.good, `long${i}`)?.record.cat, cat);
});

test('a store opened with a tiny map grows it: a full map is not a failure a write can meet', async (t) => {
  const dir = tmpDir('tablecast-atomic-');
  const defs = tables(SDL);
  const store = createStore({ dataDir: dir, tables: defs, mapSize: 64 * 1024 });
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const good = store.table(defs.find((d) => d.typeName === 'Good')!);
  const big = 'z'.repeat(64 * 1024);
  // 8 MiB through a 64 KiB map, in concurrent writes sharing batches.
  await Promise.all(Array.from({ length: 128 }, (_, i) => store.transact((tx) => tx.put(good, `k${i}`, { id: `k${i}`, cat: 'c', n: big }))));
  assert.equal(store.get(good, 'k127')?.record.n, big);
  assert.equal(store.changeLog.head(), 128);
});

/**
 * The chunked reader (store/read.ts) and the snapshot cursor (`store.openSearch`): limits stop the
 * read early, sorts are stable and bounded (`maxSortRecords`), chunks have the promised size, and
 * one read sees one LMDB snapshot, whose change-log head it reports, however many turns it spans.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuery } from '../../../src/query/parse.ts';
import type { Record } from '../../../src/schema/model.ts';
import { openResults } from '../../../src/store/read.ts';
import type { Store, TableHandle } from '../../../src/store/store.ts';
import { mergeSorted } from '../../../src/store/merge-keys.ts';
import { openStore } from './helpers.ts';
import { jsonArray } from '../../../src/http/rest-routes.ts';

const SDL = `type Item @table(database: "t") @export {
  id: ID! @primaryKey
  grp: Int @indexed
  v: Int
  name: String
}`;

const id = (i: number) => `i${String(i).padStart(5, '0')}`;

/** A store with `n` items: grp = i % 7, v = i % 3 (many ties), name = `n<i>`. */
async function seeded(t: Parameters<typeof openStore>[0], n: number): Promise<{ store: Store; items: TableHandle }> {
  const { store, handle } = openStore(t, SDL);
  const items = handle('Item');
  await store.transact((tx) => {
    for (let i = 0; i < n; i++) tx.put(items, id(i), { id: id(i), grp: i % 7, v: i % 3, name: `n${i}` });
  });
  return { store, items };
}

async function all(cursor: { next(): Promise<unknown[] | undefined> }): Promise<unknown[][]> {
  const chunks: unknown[][] = [];
  for (let c = await cursor.next(); c; c = await cursor.next()) chunks.push(c);
  return chunks;
}

test('without a sort, limit(offset, count) stops reading at the limit and releases the read', async (t) => {
  const { store, items } = await seeded(t, 1000);
  const q = (raw: string) => parseQuery(raw, items.def);
  const before = items.stats.recordsRead;
  assert.deepEqual(await store.search(items, q('grp=0&limit(2,5)&select(id)')), [id(14), id(21), id(28)]);
  assert.equal(items.stats.recordsRead - before, 5, 'only the records up to the limit were read');
  assert.deepEqual(await store.search(items, q('limit(0)')), []);
  assert.deepEqual(await store.search(items, q('v=2&limit(2)')), [
    { id: id(2), grp: 2, v: 2, name: 'n2' },
    { id: id(5), grp: 5, v: 2, name: 'n5' },
  ]);
});

test('chunks hold at most chunkSize results, in key order, and the last one says done', async (t) => {
  const { store, items } = await seeded(t, 1000);
  const cursor = openResults(items, parseQuery('select(id)', items.def), Date.now(), { limits: { chunkSize: 300 } });
  const chunks = await all(cursor);
  // A chunk also ends with its time slice (a busy machine gives shorter ones), never past 300.
  assert.ok(chunks.length >= 4 && chunks.every((c) => c.length > 0 && c.length <= 300), String(chunks.map((c) => c.length)));
  assert.deepEqual(
    chunks.flat(),
    Array.from({ length: 1000 }, (_, i) => id(i)),
  );
  assert.equal(cursor.done, true);
  assert.equal(await cursor.next(), undefined);
  void store;
});

test('a sort is stable (ties in key order) across sorted runs, with and without a limit', async (t) => {
  const { store, items } = await seeded(t, 5000); // more than one run of 2,048
  const q = (raw: string) => parseQuery(raw, items.def);
  const expected = Array.from({ length: 5000 }, (_, i) => ({ id: id(i), v: i % 3 })).sort((a, b) => b.v - a.v); // stable
  assert.deepEqual(await store.search(items, q('sort(-v)&select(id,v)')), expected);
  assert.deepEqual(await store.search(items, q('sort(-v)&limit(1990,2010)&select(id,v)')), expected.slice(1990, 2010));
  assert.deepEqual(await store.search(items, q('grp=3&sort(-v,-id)&limit(1,4)&select(id,v)')), [
    // grp 3 and v 2: i ≡ 17 (mod 21); the highest is 4994, skipped by the offset.
    { id: id(4973), v: 2 },
    { id: id(4952), v: 2 },
    { id: id(4931), v: 2 },
  ]);
  assert.deepEqual(await store.search(items, q('sort(-id)&select([id,name])&limit(2)')), [
    [id(4999), 'n4999'],
    [id(4998), 'n4998'],
  ]);
  assert.deepEqual(await store.search(items, q('grp=1&sort(id)&limit(5000,5010)')), []);
});

test('a sort that would hold more than maxSortRecords records is QUERY_TOO_COMPLEX; a limit within it is not', async (t) => {
  const { store, items } = await seeded(t, 1000);
  const q = (raw: string) => parseQuery(raw, items.def);
  await assert.rejects(store.search(items, q('sort(v)'), { maxSortRecords: 500 }), (err: { code?: string; message?: string }) => {
    assert.equal(err.code, 'QUERY_TOO_COMPLEX');
    assert.match(err.message!, /maxSortRecords/);
    return true;
  });
  // The top 10 only need 10 records held at a time, whatever the table's size.
  assert.equal((await store.search(items, q('sort(v)&limit(10)'), { maxSortRecords: 500 })).length, 10);
  // A filter that leaves fewer matches than the cap sorts fine.
  assert.equal((await store.search(items, q('grp=2&sort(v)'), { maxSortRecords: 500 })).length, 143);
});

test('openSearch reads one snapshot: a write committed between chunks is not seen, and head is from before it', async (t) => {
  const { store, items } = await seeded(t, 600);
  const headBefore = store.changeLog.head();
  for (const raw of ['select(id,name)', 'grp=gt=-1&select(id,name)', 'sort(id)&select(id,name)']) {
    const cursor = store.openSearch(items, parseQuery(raw, items.def), { chunkSize: 100 });
    assert.equal(cursor.head, store.changeLog.head());
    const first = (await cursor.next()) as Record[];
    assert.ok(first.length > 0 && first.length <= 100);
    // Committed while the read is between chunks: a change, a delete and a new record.
    await store.transact((tx) => {
      tx.put(items, id(500), { id: id(500), grp: 0, v: 0, name: 'changed' });
      tx.remove(items, id(501));
      tx.put(items, 'zz-new', { id: 'zz-new', grp: 0, v: 0, name: 'new' });
    });
    const rest = (await all(cursor)).flat() as Record[];
    const seen = [...first, ...rest];
    assert.equal(seen.length, 600, raw);
    assert.deepEqual(seen[500], { id: id(500), name: 'n500' }, `${raw}: the old version`);
    assert.deepEqual(seen[501], { id: id(501), name: 'n501' }, `${raw}: the deleted record is still there`);
    assert.ok(!seen.some((r) => r.id === 'zz-new'), `${raw}: the new record is not`);
    assert.ok(cursor.head < store.changeLog.head());
    // Put the data back for the next round.
    await store.transact((tx) => {
      tx.put(items, id(500), { id: id(500), grp: 500 % 7, v: 500 % 3, name: 'n500' });
      tx.put(items, id(501), { id: id(501), grp: 501 % 7, v: 501 % 3, name: 'n501' });
      tx.remove(items, 'zz-new');
    });
  }
  assert.equal(store.changeLog.head(), headBefore + 6 * 3);
});

test('a cursor closed early stops; closing the store ends reads still open', async (t) => {
  const { store, items } = await seeded(t, 600);
  const cursor = store.openSearch(items, parseQuery('', items.def), { chunkSize: 100 });
  assert.ok(((await cursor.next()) ?? []).length > 0);
  cursor.close();
  assert.equal(cursor.done, true);
  assert.equal(await cursor.next(), undefined);
  const open = store.openSearch(items, parseQuery('grp=gt=-1', items.def), { chunkSize: 100 });
  assert.ok(((await open.next()) ?? []).length > 0);
  await store.close(); // must not throw or crash with the read transaction still in use
  assert.equal(open.done, true);
  assert.equal(await open.next(), undefined);
});

test('mergeSorted: a k-way merge that drops repeats, or keeps ties in source order, and closes its sources', () => {
  const num = (a: number, b: number) => a - b;
  const it = (xs: number[]) => xs[Symbol.iterator]();
  assert.deepEqual([...mergeSorted([it([1, 4, 9]), it([2, 4, 10]), it([]), it([0, 4])], num)], [0, 1, 2, 4, 9, 10]);
  const tagged = (xs: Array<[number, string]>) => xs[Symbol.iterator]();
  const byNumber = (a: [number, string], b: [number, string]) => a[0] - b[0];
  assert.deepEqual(
    [
      ...mergeSorted(
        [
          tagged([
            [1, 'a'],
            [2, 'a'],
          ]),
          tagged([
            [1, 'b'],
            [2, 'b'],
          ]),
        ],
        byNumber,
        false,
      ),
    ].map(([n, s]) => `${n}${s}`),
    ['1a', '1b', '2a', '2b'],
  );
  let closed = 0;
  function* counted(xs: number[]) {
    try {
      yield* xs;
    } finally {
      closed++;
    }
  }
  const merged = mergeSorted([counted([1, 3, 5]), counted([2, 4, 6]), counted([7])], num);
  assert.deepEqual([merged.next().value, merged.next().value], [1, 2]);
  merged.return(undefined);
  assert.equal(closed, 3, 'every source still open is closed');
});

test('a read paced by its consumer holds no LMDB reader between chunks (snapshot: false), nor does a sort once collected', async (t) => {
  const { store, items } = await seeded(t, 600);
  const q = (raw: string) => parseQuery(raw, items.def);
  // LMDB has 126 reader slots, and each read snapshot kept open across a commit takes one. 300
  // reads waiting between chunks, with a commit between each, would take 300.
  const open: Array<{ close(): void }> = [];
  for (let i = 0; i < 300; i++) {
    const raw = ['select(id)', 'grp=gt=-1&select(id)', 'sort(-name)&select(id)'][i % 3]!;
    const cursor = raw.startsWith('sort') ? store.openSearch(items, q(raw), { chunkSize: 100 }) : store.openSearch(items, q(raw), { chunkSize: 100 }, { snapshot: false });
    assert.ok(((await cursor.next()) ?? []).length > 0);
    open.push(cursor);
    await store.transact((tx) => tx.put(items, `zz${i}`, { id: `zz${i}`, grp: 1, v: 0, name: 'late' }));
    // Consumers slower than the idle time (20 ms) of a resumable read, every few reads.
    if (i % 10 === 9) await new Promise((r) => setTimeout(r, 30));
  }
  assert.ok(store.get(items, id(0)), 'reads still work');
  for (const c of open) c.close();
});

test('snapshot: false reads on after the last key: later records are seen once, in order, nothing is repeated', async (t) => {
  const { store, items } = await seeded(t, 600);
  for (const raw of ['select(id)', 'grp=gt=-1&select(id)', 'v=0|v=1|v=2&select(id)']) {
    const cursor = store.openSearch(items, parseQuery(raw, items.def), { chunkSize: 100 }, { snapshot: false });
    const first = (await cursor.next()) as string[];
    assert.ok(first.length > 0 && first.length <= 100);
    assert.deepEqual(
      first,
      Array.from({ length: first.length }, (_, i) => id(i)),
      raw,
    );
    await new Promise((r) => setTimeout(r, 60)); // a slow consumer: the read gives its cursors back
    await store.transact((tx) => {
      tx.put(items, 'a-before', { id: 'a-before', grp: 1, v: 1, name: 'x' }); // before the position: not seen
      tx.put(items, `${id(450)}x`, { id: `${id(450)}x`, grp: 1, v: 1, name: 'x' }); // ahead: seen
      tx.remove(items, id(451)); // ahead: gone
    });
    const rest = (await all(cursor)).flat() as string[];
    const expected = [...Array.from({ length: 600 - first.length }, (_, i) => id(i + first.length)).filter((k) => k !== id(451)), `${id(450)}x`].sort();
    assert.deepEqual(rest, expected, raw);
    await store.transact((tx) => {
      tx.remove(items, 'a-before');
      tx.remove(items, `${id(450)}x`);
      tx.put(items, id(451), { id: id(451), grp: 451 % 7, v: 451 % 3, name: 'n451' });
    });
  }
});

test('first() reads one slice at once; an empty first slice and the streamed array still make one valid answer', async (t) => {
  const { store, items } = await seeded(t, 300);
  const query = parseQuery(`id=${id(299)}|id=${id(298)}`, items.def);
  // A slice of 0 ms ends at the first checkpoint (64 candidates), before either match.
  const cursor = store.openSearch(items, { ...query, filter: query.filter! }, { sliceMs: 0 }, { snapshot: false });
  const first = cursor.first();
  assert.deepEqual(first, []);
  assert.equal(cursor.done, false);
  assert.equal(cursor.first(), undefined, 'only once');
  let text = '';
  for await (const part of jsonArray(cursor, first!)) text += part;
  assert.deepEqual(
    JSON.parse(text).map((r: Record) => r.id),
    [id(298), id(299)],
  );
  // A read that fits one slice is done after first(): no promise needed.
  const small = store.openSearch(items, { reserved: {}, limit: { offset: 0, count: 3 } }, undefined, { snapshot: false });
  assert.deepEqual(
    small.first()!.map((r) => (r as Record).id),
    [id(0), id(1), id(2)],
  );
  assert.equal(small.done, true);
});

/**
 * The planner (`planFilter`) picks an index for indexed attributes and a scan otherwise, and
 * `candidates` answers from the index by reading only the candidate records, with the same
 * answers as a scan.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuery } from '../../../src/query/parse.ts';
import type { Key, Record } from '../../../src/schema/model.ts';
import { mergeRanges, planFilter, type Plan } from '../../../src/store/plan.ts';
import { CHECKPOINT, candidates } from '../../../src/store/scan.ts';
import type { Query } from '../../../src/query/types.ts';
import type { TableHandle } from '../../../src/store/store.ts';
import { openStore, tables } from './helpers.ts';

const SDL = `enum Status { DRAFT ACTIVE }
type Product @table(database: "shop") @export(name: "product") {
  id: ID! @primaryKey
  name: String
  category: String @indexed
  price: Float @indexed
  stock: Int
  status: Status @indexed
  tags: [String] @indexed
  big: BigInt @indexed
  meta: Any
}`;

const def = tables(SDL)[0]!;
const indexed = new Map(def.fields.filter((f) => f.indexed).map((f) => [f.name, f]));
const plan = (q: string): Plan => planFilter(parseQuery(q, def).filter, indexed);
const MAX = '\u{10FFFF}';

/** The candidate records of a query, checkpoints dropped. */
function candidateRecords(handle: TableHandle, query: Query, now: number): Record[] {
  return [...candidates(handle, query.filter, now)].filter((r): r is Record => r !== CHECKPOINT);
}

test('equality on an indexed attribute is an exact index lookup', () => {
  assert.deepEqual(plan('category=tools'), { kind: 'index', ranges: [{ attribute: 'category', exact: 'tools' }] });
  assert.deepEqual(plan('price=9.5'), { kind: 'index', ranges: [{ attribute: 'price', exact: 9.5 }] });
  assert.deepEqual(plan('status=ACTIVE'), { kind: 'index', ranges: [{ attribute: 'status', exact: 'ACTIVE' }] });
  assert.deepEqual(plan('tags=red'), { kind: 'index', ranges: [{ attribute: 'tags', exact: 'red' }] });
  assert.deepEqual(plan('category=null'), { kind: 'index', ranges: [{ attribute: 'category', exact: null }] });
  // Harper's wildcard is starts-with.
  assert.deepEqual(plan('category==to*'), { kind: 'index', ranges: [{ attribute: 'category', start: 'to', end: `to${MAX}` }] });
});

test('ranges and starts-with use index bounds; two bounds on one attribute merge', () => {
  assert.deepEqual(plan('price=gt=5'), { kind: 'index', ranges: [{ attribute: 'price', start: 5 }] });
  assert.deepEqual(plan('price=ge=5'), { kind: 'index', ranges: [{ attribute: 'price', start: 5 }] });
  assert.deepEqual(plan('price=lt=5'), { kind: 'index', ranges: [{ attribute: 'price', end: 5 }] });
  assert.deepEqual(plan('price=le=5'), { kind: 'index', ranges: [{ attribute: 'price', end: 5 }] });
  assert.deepEqual(plan('price=ge=1&price=le=9'), { kind: 'index', ranges: [{ attribute: 'price', start: 1, end: 9 }] });
  assert.deepEqual(plan('category=sw=ga'), { kind: 'index', ranges: [{ attribute: 'category', start: 'ga', end: `ga${MAX}` }] });
});

test('AND uses one indexed condition, preferring equality, then a two-sided range', () => {
  assert.deepEqual(plan('name=x&category=tools'), { kind: 'index', ranges: [{ attribute: 'category', exact: 'tools' }] });
  assert.deepEqual(plan('price=gt=1&status=DRAFT'), { kind: 'index', ranges: [{ attribute: 'status', exact: 'DRAFT' }] });
  assert.deepEqual(plan('category=gt=a&price=ge=1&price=lt=2'), { kind: 'index', ranges: [{ attribute: 'price', start: 1, end: 2 }] });
  assert.deepEqual(plan('stock=1&[category=a|category=b]'), {
    kind: 'index',
    ranges: [
      { attribute: 'category', exact: 'a' },
      { attribute: 'category', exact: 'b' },
    ],
  });
});

test('OR uses the index only when every branch can', () => {
  assert.deepEqual(plan('category=a|price=lt=3'), {
    kind: 'index',
    ranges: [
      { attribute: 'category', exact: 'a' },
      { attribute: 'price', end: 3 },
    ],
  });
  assert.deepEqual(plan('category=a|stock=3'), { kind: 'scan' });
});

test('what an index cannot answer scans', () => {
  for (const q of [
    'stock=3', // not indexed
    'name=x', // not indexed
    'category=ne=a', // negation
    'category!=a',
    'category=ct=oo', // contains
    'category=ew=ls', // ends with
    'big=gt=10', // BigInt strings do not sort numerically
    'meta=1', // Any is untyped
    'extra=1', // undeclared attribute
    `${'price=gt=null'.replace('null', '1')}|stock=1`,
  ]) {
    assert.deepEqual(plan(q), { kind: 'scan' }, q);
  }
  assert.deepEqual(planFilter(undefined, indexed), { kind: 'scan' });
  assert.deepEqual(planFilter(parseQuery('category=a', def).filter, new Map()), { kind: 'scan' });
  // BigInt equality is exact text, so it may use the index.
  assert.deepEqual(plan('big=0042'), { kind: 'index', ranges: [{ attribute: 'big', exact: '42' }] });
});

test('-0 is planned and indexed as 0', () => {
  assert.deepEqual(plan('price=-0'), { kind: 'index', ranges: [{ attribute: 'price', exact: 0 }] });
  const r = plan('price=ge=-0');
  assert.ok(r.kind === 'index' && Object.is(r.ranges[0]!.start, 0));
});

/** The handle with its record reads counted. */
function counting(handle: TableHandle): { handle: TableHandle; reads: () => number } {
  let reads = 0;
  const records = new Proxy(handle.records, {
    get(target, prop, receiver) {
      if (prop === 'get' || prop === 'getEntry') {
        return (key: Key) => {
          reads++;
          return target.get(key);
        };
      }
      if (prop === 'getRange') {
        return (options: object) =>
          target.getRange(options).map((entry) => {
            reads++;
            return entry;
          });
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  return { handle: { ...handle, records }, reads: () => reads };
}

test('an indexed query reads only its candidates; a scan reads every record; both answer the same', async (t) => {
  const { store, handle } = openStore(t, SDL);
  const p = handle('Product');
  const categories = ['tools', 'garden', 'kitchen', 'toys'];
  await store.transact((tx) => {
    for (let i = 0; i < 200; i++) {
      const id = `p${String(i).padStart(3, '0')}`;
      tx.put(p, id, { id, name: `n${i}`, category: categories[i % 4], price: i % 50, stock: i % 7, status: i % 2 ? 'ACTIVE' : 'DRAFT', tags: [`t${i % 10}`] });
    }
    // -0 is stored as 0 and must be found by price=0 through the index.
    tx.put(p, 'zero', { id: 'zero', price: -0, category: 'neg' });
  });

  const cases: Array<[string, number]> = [
    ['category=garden', 50],
    ['price=ge=10&price=le=11', 8],
    ['tags=t3', 20],
    ['category=sw=to', 100],
    ['price=0', 5],
    ['price=le=0', 5],
  ];
  for (const [q, expected] of cases) {
    const query = parseQuery(q, def);
    const indexedRun = counting(p);
    const viaIndex = [...candidateRecords(indexedRun.handle, query, Date.now())];
    // The same handle without indexes scans.
    const scanRun = counting({ ...p, indexes: [], indexed: new Map() });
    const viaScan = [...candidateRecords(scanRun.handle, query, Date.now())];
    assert.equal(viaIndex.length, expected, q);
    assert.deepEqual(
      viaIndex.map((r: Record) => r.id),
      viaScan.map((r: Record) => r.id),
      `${q}: index and scan agree`,
    );
    assert.equal(scanRun.reads(), 201, `${q}: a scan reads every record`);
    assert.equal(indexedRun.reads(), expected, `${q}: the index reads only the ${expected} candidates`);
  }
  // Results come in primary-key order from the index too.
  const ids = [...candidateRecords(p, parseQuery('price=lt=2', def), Date.now())].map((r) => r.id as string);
  assert.deepEqual(ids, [...ids].sort());
  // limit() stops reading early on an equality lookup.
  const limited = counting(p);
  assert.equal((await store.search(limited.handle, parseQuery('category=toys&limit(3)', def))).length, 3);
  assert.equal(limited.reads(), 3);
});

test('ranges on one attribute are merged: duplicates and overlaps become one range, disjoint ones stay apart', () => {
  const many = Array.from({ length: 1000 }, () => 'category=sw=ga').join('|');
  assert.deepEqual(plan(many), { kind: 'index', ranges: [{ attribute: 'category', start: 'ga', end: `ga${MAX}` }] });
  // An exact value inside a range, a range inside another, touching bounds: all one.
  assert.deepEqual(plan('category=sw=ga|category=garden|category=sw=gar|[price=ge=1&price=le=3]|price=2|[price=ge=3&price=le=4]'), {
    kind: 'index',
    ranges: [
      { attribute: 'category', start: 'ga', end: `ga${MAX}` },
      { attribute: 'price', start: 1, end: 4 },
    ],
  });
  assert.deepEqual(plan('price=lt=3|price=gt=1'), { kind: 'index', ranges: [{ attribute: 'price' }] }, 'two open ends cover everything');
  assert.deepEqual(plan('price=5|price=5|[price=ge=7&price=le=9]|price=8|price=1'), {
    kind: 'index',
    ranges: [
      { attribute: 'price', exact: 1 },
      { attribute: 'price', exact: 5 },
      { attribute: 'price', start: 7, end: 9 },
    ],
  });
  // null is read on its own: lmdb's ranges never return the null key.
  assert.deepEqual(plan('category=null|category=lt=b|category=null'), {
    kind: 'index',
    ranges: [
      { attribute: 'category', exact: null },
      { attribute: 'category', end: 'b' },
    ],
  });
  // Attributes come out by name, each merged on its own.
  assert.deepEqual(plan('tags=b|category=x|tags=a|tags=b'), {
    kind: 'index',
    ranges: [
      { attribute: 'category', exact: 'x' },
      { attribute: 'tags', exact: 'a' },
      { attribute: 'tags', exact: 'b' },
    ],
  });
});

test('mergeRanges on its own: unbounded starts and ends, inclusive bounds, empty ranges', () => {
  assert.deepEqual(
    mergeRanges([
      { attribute: 'a', end: 5 },
      { attribute: 'a', start: 5, end: 8 },
      { attribute: 'a', start: 9 },
    ]),
    [
      { attribute: 'a', end: 8 },
      { attribute: 'a', start: 9 },
    ],
  );
  assert.deepEqual(
    mergeRanges([
      { attribute: 'a', start: 'b', end: 'c' },
      { attribute: 'a', exact: 'bb' },
      { attribute: 'a', start: 'a', end: 'b' },
    ]),
    [{ attribute: 'a', start: 'a', end: 'c' }],
  );
  assert.deepEqual(
    mergeRanges([
      { attribute: 'a', exact: true },
      { attribute: 'a', exact: false },
      { attribute: 'a', exact: true },
    ]),
    [
      { attribute: 'a', exact: false },
      { attribute: 'a', exact: true },
    ],
  );
});

test('a range over many values answers in key order, merged lazily, collected, or by a scan when too wide', async (t) => {
  const { store, handle } = openStore(t, SDL);
  const p = handle('Product');
  // 12,000 products with 400 distinct prices: wider than the lazy merge (256 values), and more
  // entries than are ever collected (10,000), so `price=ge=0` scans while `price=lt=300` collects.
  await store.transact((tx) => {
    for (let i = 0; i < 12_000; i++) {
      const id = `p${String((i * 7919) % 12_000).padStart(5, '0')}`; // written out of key order
      tx.put(p, id, { id, price: i % 400, category: `c${i % 300}` });
    }
  });
  for (const q of ['price=lt=100', 'price=lt=300', 'price=ge=0', 'category=sw=c1|category=sw=c2', 'price=3|price=ge=390|category=c7']) {
    const query = parseQuery(q, def);
    const viaIndex = candidateRecords(p, query, Date.now()).map((r) => r.id as string);
    const viaScan = candidateRecords({ ...p, indexes: [], indexed: new Map() }, query, Date.now()).map((r) => r.id as string);
    assert.ok(viaIndex.length > 0, q);
    assert.deepEqual(viaIndex, viaScan, `${q}: same records, in key order, once each`);
  }
  // limit(n) on a lazily merged range reads n records.
  const before = p.stats.recordsRead;
  assert.equal((await store.search(p, parseQuery('price=lt=100&limit(5)', def))).length, 5);
  assert.equal(p.stats.recordsRead - before, 5);
});

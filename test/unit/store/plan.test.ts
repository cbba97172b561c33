/**
 * The planner (`planFilter`) picks an index for indexed attributes and a scan otherwise, and
 * `candidateRecords` answers from the index by reading only the candidate records, with the same
 * answers as a scan.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuery } from '../../../src/query/parse.ts';
import type { Key, Record } from '../../../src/schema/model.ts';
import { planFilter, type Plan } from '../../../src/store/plan.ts';
import { candidateRecords } from '../../../src/store/scan.ts';
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
    ranges: [{ attribute: 'category', exact: 'a' }, { attribute: 'category', exact: 'b' }],
  });
});

test('OR uses the index only when every branch can', () => {
  assert.deepEqual(plan('category=a|price=lt=3'), {
    kind: 'index',
    ranges: [{ attribute: 'category', exact: 'a' }, { attribute: 'price', end: 3 }],
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
    'price=gt=null'.replace('null', '1') + '|stock=1',
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
    assert.deepEqual(viaIndex.map((r: Record) => r.id), viaScan.map((r: Record) => r.id), `${q}: index and scan agree`);
    assert.equal(scanRun.reads(), 201, `${q}: a scan reads every record`);
    assert.equal(indexedRun.reads(), expected, `${q}: the index reads only the ${expected} candidates`);
  }
  // Results come in primary-key order from the index too.
  const ids = [...candidateRecords(p, parseQuery('price=lt=2', def), Date.now())].map((r) => r.id as string);
  assert.deepEqual(ids, [...ids].sort());
  // limit() stops reading early on an equality lookup.
  const limited = counting(p);
  assert.equal(store.search(limited.handle, parseQuery('category=toys&limit(3)', def)).length, 3);
  assert.equal(limited.reads(), 3);
});

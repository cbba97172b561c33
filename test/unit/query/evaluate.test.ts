import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareCodePoints, compareIntegers, compareRecords, matches, project } from '../../../src/query/evaluate.ts';
import { parseQuery } from '../../../src/query/parse.ts';
import type { Record } from '../../../src/schema/model.ts';
import { product } from './fixture.ts';

/** Whether the record matches the filter of this query string (against the Product fixture). */
function m(raw: string, record: Record): boolean {
  const filter = parseQuery(raw, product).filter;
  assert.ok(filter, raw);
  return matches(filter, record);
}

/** Which of these records (by id) match. */
function ids(raw: string, records: Record[]): unknown[] {
  return records.filter((r) => m(raw, r)).map((r) => r.id);
}

test('equality is typed: no match across types', () => {
  assert.equal(m('name=Keyboard', { name: 'Keyboard' }), true);
  assert.equal(m('name=keyboard', { name: 'Keyboard' }), false);
  assert.equal(m('rating=5', { rating: 5 }), true);
  assert.equal(m('rating=5', { rating: '5' }), false);
  assert.equal(m('inStock=true', { inStock: true }), true);
  assert.equal(m('inStock=true', { inStock: 'true' }), false);
  assert.equal(m('created=1704412800000', { created: '2024-01-05T00:00:00.000Z' }), true);
  assert.equal(m('big=0042', { big: '42' }), true);
  assert.equal(m('color=red', { color: 'red' }), true);
});

test('null matches null and absent; != null matches present values', () => {
  assert.equal(m('name=null', { name: null }), true);
  assert.equal(m('name=null', {}), true);
  assert.equal(m('name=null', { name: '' }), false);
  assert.equal(m('name!=null', { name: 'a' }), true);
  assert.equal(m('name!=null', { name: null }), false);
  assert.equal(m('name!=null', {}), false);
  assert.equal(m('dimensions.width=null', {}), true);
  assert.equal(m('dimensions.width=null', { dimensions: { width: 2 } }), false);
});

test('ne is the negation of eq (absent values are not equal)', () => {
  assert.equal(m('rating=ne=5', { rating: 4 }), true);
  assert.equal(m('rating=ne=5', { rating: 5 }), false);
  assert.equal(m('rating!=5', {}), true);
  assert.equal(m('rating!==5', { rating: 5 }), false);
});

test('comparisons: numbers, code-point strings, ISO dates, BigInt numerically; never null or other types', () => {
  const records = [{ id: 1, rating: 1 }, { id: 2, rating: 5 }, { id: 3, rating: 9 }, { id: 4 }, { id: 5, rating: null }, { id: 6, rating: '7' }];
  assert.deepEqual(ids('rating=gt=5', records), [3]);
  assert.deepEqual(ids('rating=ge=5', records), [2, 3]);
  assert.deepEqual(ids('rating=lt=5', records), [1]);
  assert.deepEqual(ids('rating=le=5', records), [1, 2]);
  assert.deepEqual(ids('rating>1&rating<9', records), [2]);
  assert.equal(m('name=gt=B', { name: 'a' }), true);
  assert.equal(m('name=lt=b', { name: 'B' }), true);
  // U+FFFD sorts below an astral character by code point (UTF-16 units would say otherwise).
  assert.equal(m('name=gt=%EF%BF%BD', { name: '😀' }), true);
  assert.equal(m('created=gt=2024-01-01', { created: '2024-06-01T00:00:00.000Z' }), true);
  assert.equal(m('created=lt=2024-01-01', { created: '2024-06-01T00:00:00.000Z' }), false);
  assert.equal(m('big=gt=9', { big: '10' }), true);
  assert.equal(m('big=gt=-10', { big: '-9' }), true);
  assert.equal(m('big=lt=-10', { big: '-9' }), false);
  assert.equal(m('big=le=123456789012345678901234567890', { big: '123456789012345678901234567890' }), true);
  assert.equal(m('color=gt=blue', { color: 'green' }), true);
});

test('ct, sw, ew on text', () => {
  assert.equal(m('name=ct=eyb', { name: 'Keyboard' }), true);
  assert.equal(m('name=ct=xyz', { name: 'Keyboard' }), false);
  assert.equal(m('name=sw=Key', { name: 'Keyboard' }), true);
  assert.equal(m('name=sw=board', { name: 'Keyboard' }), false);
  assert.equal(m('name=ew=board', { name: 'Keyboard' }), true);
  assert.equal(m('name==Key*', { name: 'Keyboard' }), true);
  assert.equal(m('name=ct=a', {}), false);
  assert.equal(m('created=sw=2024-01', { created: '2024-01-05T00:00:00.000Z' }), true);
});

test('lists match when any element does; ne means no element equals', () => {
  const r = { tags: ['fast', 'scalable'], scores: [2, 8] };
  assert.equal(m('tags=fast', r), true);
  assert.equal(m('tags=slow', r), false);
  assert.equal(m('tags=ct=cal', r), true); // an element contains the text
  assert.equal(m('tags=sw=sca', r), true);
  assert.equal(m('tags=ne=fast', r), false);
  assert.equal(m('tags=ne=slow', r), true);
  assert.equal(m('scores=gt=7', r), true);
  assert.equal(m('scores=gt=8', r), false);
  assert.equal(m('scores=ct=8', r), true); // membership for non-text lists
  assert.equal(m('scores=ct=3', r), false);
  assert.equal(m('tags=null', { tags: [] }), false);
  assert.equal(m('tags=null', {}), true);
});

test('nested paths walk objects and lists of objects', () => {
  const r = {
    dimensions: { width: 2.5, unit: 'cm' },
    parts: [
      { name: 'key', qty: 1 },
      { name: 'cap', qty: 4 },
    ],
  };
  assert.equal(m('dimensions.width=2.5', r), true);
  assert.equal(m('dimensions.width=gt=3', r), false);
  assert.equal(m('parts.qty=gt=3', r), true);
  assert.equal(m('parts.name=cap', r), true);
  assert.equal(m('parts.name=bolt', r), false);
  assert.equal(m('dimensions.width=1', { dimensions: 'flat' }), false);
  assert.equal(m('meta.a.b=x', { meta: [{ a: { b: 'y' } }, { a: [{ b: 'x' }] }] }), true);
});

test('untyped attributes match loosely: the text, or the number/boolean/null it spells', () => {
  assert.equal(m('extra=5', { extra: 5 }), true);
  assert.equal(m('extra=5', { extra: '5' }), true);
  assert.equal(m('extra=5', { extra: 6 }), false);
  assert.equal(m('extra=true', { extra: true }), true);
  assert.equal(m('extra=null', { extra: null }), true);
  assert.equal(m('extra=null', {}), true);
  assert.equal(m('extra=null', { extra: 'null' }), true);
  assert.equal(m('extra=abc', { extra: 'abc' }), true);
  assert.equal(m('extra=gt=4', { extra: 5 }), true);
  assert.equal(m('extra=gt=b', { extra: 'c' }), true);
  assert.equal(m('extra=gt=b', { extra: 5 }), false);
  assert.equal(m('extra=ct=5', { extra: [1, 5] }), true);
  assert.equal(m('extra=ct=5', { extra: 'a5b' }), true);
  assert.equal(m('extra=sw=5', { extra: 5 }), false);
  assert.equal(m('meta=1', { meta: 1 }), true);
  // Explicit types and strict operators compare exactly.
  assert.equal(m('extra=number:5', { extra: 5 }), true);
  assert.equal(m('extra=number:5', { extra: '5' }), false);
  assert.equal(m('extra=string:5', { extra: 5 }), false);
  assert.equal(m('extra===5', { extra: 5 }), false);
  assert.equal(m('extra===5', { extra: '5' }), true);
});

test('own properties only: constructor and __proto__ are absent on a plain record', () => {
  assert.equal(m('constructor=null', {}), true);
  assert.equal(m('toString=null', {}), true);
  assert.equal(m('a.constructor=null', { a: {} }), true);
});

test('and / or / nested groups', () => {
  const records = [
    { id: 1, rating: 5, price: 150, tags: ['fast'] },
    { id: 2, rating: 3, price: 150, tags: ['slow'] },
    { id: 3, rating: 5, price: 50, tags: ['slow'] },
    { id: 4, rating: 2, price: 300, tags: ['fast'] },
  ];
  assert.deepEqual(ids('rating=5&price=gt=100', records), [1]);
  assert.deepEqual(ids('rating=5|price=gt=100', records), [1, 2, 3, 4]);
  assert.deepEqual(ids('rating=5|[price=gt=100&price=lt=200]', records), [1, 2, 3]);
  assert.deepEqual(ids('[rating=5|rating=2]&[tags=fast]', records), [1, 4]);
  assert.deepEqual(ids('price=lt=100|[rating=5&[tags=fast|tags=scalable]]', records), [1, 3]);
});

test('compareCodePoints and compareIntegers', () => {
  assert.equal(compareCodePoints('a', 'b'), -1);
  assert.equal(compareCodePoints('b', 'a'), 1);
  assert.equal(compareCodePoints('a', 'ab'), -1);
  assert.equal(compareCodePoints('', ''), 0);
  assert.equal(compareCodePoints('Z', 'a'), -1);
  assert.equal(compareCodePoints('\uFFFD', '😀'), -1);
  assert.equal(compareCodePoints('😀', '\uE000'), 1);
  assert.equal(compareIntegers('9', '10'), -1);
  assert.equal(compareIntegers('-10', '-9'), -1);
  assert.equal(compareIntegers('-1', '0'), -1);
  assert.equal(compareIntegers('123', '123'), 0);
  assert.equal(compareIntegers('124', '123'), 1);
});

test('compareRecords: typed order, nulls last both ways, ties broken by the next key, stable', () => {
  const rows: Record[] = [
    { id: 'a', rating: 5, name: 'b' },
    { id: 'b', rating: null, name: 'a' },
    { id: 'c', rating: 10, name: 'c' },
    { id: 'd', name: 'd' },
    { id: 'e', rating: 5, name: 'a' },
    { id: 'f', rating: 5, name: 'a' },
  ];
  const order = (raw: string) => [...rows].sort(compareRecords(parseQuery(raw, product).sort ?? [])).map((r) => r.id);
  assert.deepEqual(order('sort(rating)'), ['a', 'e', 'f', 'c', 'b', 'd']);
  assert.deepEqual(order('sort(-rating)'), ['c', 'a', 'e', 'f', 'b', 'd']);
  assert.deepEqual(order('sort(+rating,name)'), ['e', 'f', 'a', 'c', 'b', 'd']);
  assert.deepEqual(order('sort(-rating,-name)'), ['c', 'a', 'e', 'f', 'd', 'b']);
  assert.deepEqual(order('sort(name,-id)'), ['f', 'e', 'b', 'a', 'c', 'd']);
  const bigs: Record[] = [{ big: '10' }, { big: '-3' }, { big: '9' }];
  assert.deepEqual(
    bigs.sort(compareRecords(parseQuery('sort(big)', product).sort ?? [])).map((r) => r.big),
    ['-3', '9', '10'],
  );
  const mixed: Record[] = [{ x: 'b' }, { x: 2 }, { x: true }, { x: { o: 1 } }, { x: 'a' }, {}, { x: 1 }];
  assert.deepEqual(
    mixed.sort(compareRecords(parseQuery('sort(x)', product).sort ?? [])).map((r) => r.x),
    [true, 1, 2, 'a', 'b', { o: 1 }, undefined],
  );
  const nested: Record[] = [{ dimensions: { width: 3 } }, { dimensions: { width: 1 } }, {}];
  assert.deepEqual(
    nested.sort(compareRecords(parseQuery('sort(dimensions.width)', product).sort ?? [])).map((r) => (r.dimensions as { width: number } | undefined)?.width),
    [1, 3, undefined],
  );
});

test('project: bare value, objects without absent keys, arrays', () => {
  const r = { id: 1, name: 'k', rating: 5 };
  assert.equal(project({ attributes: ['name'], bare: true }, r), 'k');
  assert.equal(project({ attributes: ['nope'], bare: true }, r), undefined);
  assert.deepEqual(project({ attributes: ['name', 'nope', 'id'], bare: false }, r), { name: 'k', id: 1 });
  assert.deepEqual(project({ attributes: ['rating'], bare: false }, r), { rating: 5 });
  assert.deepEqual(project({ attributes: ['rating', 'nope'], bare: false, array: true }, r), [5, undefined]);
});

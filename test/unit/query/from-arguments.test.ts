import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../../../src/errors.ts';
import { queryFromArguments } from '../../../src/query/from-arguments.ts';
import { parseQuery } from '../../../src/query/parse.ts';
import type { Condition, Group } from '../../../src/query/types.ts';
import { product, sealedProduct } from './fixture.ts';

function queryInvalid(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AppError, String(err));
    assert.equal(err.code, 'QUERY_INVALID');
    assert.match(err.message, message);
    // Built from arguments: there is no query text for a position to point into.
    assert.doesNotMatch(err.message, /at position/);
    return true;
  });
}

test('typed arguments build the query the equivalent strict URL query parses to', () => {
  const built = queryFromArguments(product, {
    equals: { name: 'a&b=c', rating: 3, price: 0.1, big: '007', inStock: false, created: 0, color: 'red', views: '12' },
    sort: ['-price', '+name', 'dimensions.width'],
    limit: 2,
    offset: 1,
  });
  const parsed = parseQuery('name===a%26b%3Dc&rating===3&price===0.1&big===007&inStock===false&created===0&color===red&views===12&sort(-price,+name,dimensions.width)&limit(1,3)', product);
  assert.deepEqual(built, parsed);
  assert.deepEqual(built.limit, { offset: 1, count: 2 });
  // Coerced as the URL grammar coerces: a BigInt's canonical text, a Date from epoch ms.
  const values = (built.filter as Group).items.map((c) => (c as Condition).value);
  assert.deepEqual(values, ['a&b=c', 3, 0.1, '7', false, '1970-01-01T00:00:00.000Z', 'red', 12]);
});

test('null asks for a missing value; the string "null" is only text', () => {
  assert.deepEqual(queryFromArguments(product, { equals: { name: null } }).filter, parseQuery('name=null', product).filter);
  assert.equal((queryFromArguments(product, { equals: { name: 'null' } }).filter as { value: unknown }).value, 'null');
  assert.equal(queryFromArguments(product, { equals: { name: undefined } }).filter, undefined);
});

test('a sort entry is only ever an attribute path, never grammar', () => {
  // Spliced into query text, this would have read as sort(+price)&limit(0).
  const built = queryFromArguments(product, { sort: ['price)&limit(0'] });
  assert.equal(built.limit, undefined);
  assert.deepEqual(built.sort, [{ path: ['price)&limit(0'], descending: false }]);
  queryInvalid(() => queryFromArguments(sealedProduct, { sort: ['price)&limit(0'] }), /unknown attribute price\)&limit\(0/);
  queryInvalid(() => queryFromArguments(product, { sort: ['dimensions..width'] }), /sort needs attribute paths/);
  queryInvalid(() => queryFromArguments(product, { sort: ['-'] }), /sort needs attribute paths/);
  queryInvalid(() => queryFromArguments(product, { sort: ['tags'] }), /cannot sort by tags/);
});

test('an equality value is only ever a value: grammar characters in it are text', () => {
  const q = queryFromArguments(product, { equals: { name: 'x|name=y' } });
  assert.deepEqual(q.filter, { type: 'condition', path: ['name'], op: 'eq', value: 'x|name=y', typed: true, kind: 'string' });
});

test('bad values, limits and offsets are QUERY_INVALID', () => {
  queryInvalid(() => queryFromArguments(product, { equals: { big: 'not a number' } }), /invalid value 'not a number' for big \(BigInt\): expected an integer/);
  queryInvalid(() => queryFromArguments(product, { equals: { created: 'yesterday' } }), /for created \(Date\)/);
  queryInvalid(() => queryFromArguments(product, { equals: { color: 'mauve' } }), /one of red, green, blue/);
  queryInvalid(() => queryFromArguments(product, { equals: { dimensions: 'x' } }), /an object/);
  queryInvalid(() => queryFromArguments(product, { limit: -1 }), /non-negative/);
  queryInvalid(() => queryFromArguments(product, { offset: -1 }), /non-negative/);
  queryInvalid(() => queryFromArguments(product, { limit: 1.5 }), /non-negative integers/);
});

test('maxTerms caps the equality arguments as it caps URL conditions', () => {
  assert.ok(queryFromArguments(product, { equals: { name: 'a', rating: 1 } }, { maxTerms: 2 }).filter);
  assert.throws(
    () => queryFromArguments(product, { equals: { name: 'a', rating: 1, price: 2 } }, { maxTerms: 2 }),
    (err: unknown) => err instanceof AppError && err.code === 'QUERY_TOO_COMPLEX' && /more than 2 conditions \(the maxQueryTerms setting/.test(err.message),
  );
});

test('offset alone reads to the end; limit 0 reads nothing; no arguments, no clauses', () => {
  assert.deepEqual(queryFromArguments(product, { offset: 3 }).limit, { offset: 3, count: Infinity });
  assert.deepEqual(queryFromArguments(product, { limit: 0 }).limit, { offset: 0, count: 0 });
  assert.deepEqual(queryFromArguments(product, { limit: null, offset: null, sort: null }), { reserved: {} });
});

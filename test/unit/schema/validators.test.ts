import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../../../src/errors.ts';
import { parseSchema } from '../../../src/schema/parse.ts';
import type { Record, TableDef } from '../../../src/schema/model.ts';
import { buildValidators, stampTimes, validateMessage, type ValidationIssue } from '../../../src/schema/validators.ts';
import { structuralCommas } from '../../../src/http/json-body.ts';

function tableOf(sdl: string, name = 'T'): TableDef {
  const def = parseSchema([{ file: 'test.graphql', sdl }]).tables.find((t) => t.typeName === name);
  assert.ok(def);
  return def;
}

/** Validators for a table `T` with an `id: ID` key plus the given fields. */
function validators(fields: string, extra = '', sealed = false) {
  return buildValidators(tableOf(`${extra}\ntype T @table${sealed ? ' @sealed' : ''} { id: ID @primaryKey ${fields} }`));
}

function fails(run: () => unknown): AppError {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof AppError, `expected AppError, got ${String(err)}`);
    assert.equal(err.code, 'VALIDATION_FAILED');
    assert.equal(err.statusCode, 400);
    return err;
  }
  assert.fail('expected VALIDATION_FAILED');
}

const issues = (run: () => unknown) => fails(run).details as ValidationIssue[];

/** Accepts each `[input, stored]` and rejects each `[input, message]` for a single optional attribute `v`. */
function checkScalar(type: string, accept: [unknown, unknown][], reject: [unknown, string][]) {
  const v = validators(`v: ${type}`);
  for (const [input, stored] of accept) assert.deepEqual(v.validateCreate({ v: input }), { v: stored }, `${type} accepts ${String(input)}`);
  for (const [input, message] of reject) {
    assert.deepEqual(
      issues(() => v.validateCreate({ v: input })),
      [{ path: 'v', message }],
      `${type} rejects ${String(input)}`,
    );
  }
}

test('ID: strings, and integers as strings', () => {
  checkScalar(
    'ID',
    [
      ['abc', 'abc'],
      ['', ''],
      [42, '42'],
      [-7, '-7'],
    ],
    [
      [1.5, 'expected a string or an integer, got 1.5'],
      [true, 'expected a string or an integer, got true'],
      [2 ** 53, 'expected a string or an integer, got 9007199254740992'],
      [{}, 'expected a string or an integer, got an object'],
    ],
  );
});

test('String, Boolean, Float', () => {
  checkScalar(
    'String',
    [
      ['', ''],
      ['héllo', 'héllo'],
    ],
    [
      [5, 'expected a string, got 5'],
      [['a'], 'expected a string, got an array'],
    ],
  );
  checkScalar(
    'Boolean',
    [
      [true, true],
      [false, false],
    ],
    [
      ['true', 'expected true or false, got "true"'],
      [0, 'expected true or false, got 0'],
    ],
  );
  checkScalar(
    'Float',
    [
      [1.5, 1.5],
      [-0.25, -0.25],
      [3, 3],
    ],
    [
      ['1', 'expected a number, got "1"'],
      [Number.POSITIVE_INFINITY, 'expected a number, got Infinity'],
      [Number.NaN, 'expected a number, got NaN'],
    ],
  );
});

test('Int is 32-bit, Long is a safe integer', () => {
  checkScalar(
    'Int',
    [
      [0, 0],
      [2 ** 31 - 1, 2 ** 31 - 1],
      [-(2 ** 31), -(2 ** 31)],
    ],
    [
      [2 ** 31, 'expected a 32-bit integer, got 2147483648'],
      [1.5, 'expected a 32-bit integer, got 1.5'],
      ['5', 'expected a 32-bit integer, got "5"'],
    ],
  );
  checkScalar(
    'Long',
    [
      [2 ** 53 - 1, 2 ** 53 - 1],
      [-1700000000000, -1700000000000],
    ],
    [
      [2 ** 53, 'expected an integer within ±(2^53-1), got 9007199254740992'],
      [0.5, 'expected an integer within ±(2^53-1), got 0.5'],
      ['1', 'expected an integer within ±(2^53-1), got "1"'],
    ],
  );
});

test('BigInt: integers and decimal strings become canonical decimal strings', () => {
  checkScalar(
    'BigInt',
    [
      [12, '12'],
      [-3, '-3'],
      ['-0012', '-12'],
      ['+5', '5'],
      ['-0', '0'],
      ['123456789012345678901234567890', '123456789012345678901234567890'],
    ],
    [
      [1.5, 'expected an integer or a decimal integer string, got 1.5'],
      ['1e3', 'expected an integer or a decimal integer string, got "1e3"'],
      ['', 'expected an integer or a decimal integer string, got ""'],
      [2 ** 60, '1152921504606847000 is beyond ±(2^53-1); send big integers as strings'],
      [true, 'expected an integer or a decimal integer string, got true'],
    ],
  );
});

test('Date: ISO-8601 text or epoch ms, stored as toISOString()', () => {
  checkScalar(
    'Date',
    [
      ['2024-01-31', '2024-01-31T00:00:00.000Z'],
      ['2024-02-29T23:59:59Z', '2024-02-29T23:59:59.000Z'],
      ['2024-01-31T10:20:30+02:00', '2024-01-31T08:20:30.000Z'],
      ['2024-01-31T10:20:30.5-0130', '2024-01-31T11:50:30.500Z'],
      ['2024-01-31T10:20', '2024-01-31T10:20:00.000Z'],
      ['2024-01-31 10:20:30.123456z', '2024-01-31T10:20:30.123Z'],
      [0, '1970-01-01T00:00:00.000Z'],
      [1700000000000, '2023-11-14T22:13:20.000Z'],
    ],
    [
      ['2023-02-29', '"2023-02-29" is not a valid date'],
      ['2024-13-01', '"2024-13-01" is not a valid date'],
      ['2024-01-01T24:00:00Z', '"2024-01-01T24:00:00Z" is not a valid date'],
      ['2024-01-01T10:00:00+25:00', '"2024-01-01T10:00:00+25:00" has an invalid UTC offset'],
      ['yesterday', 'expected an ISO-8601 date or epoch milliseconds, got "yesterday"'],
      ['Jan 5 2024', 'expected an ISO-8601 date or epoch milliseconds, got "Jan 5 2024"'],
      [1e16, 'expected an ISO-8601 date or epoch milliseconds, got 10000000000000000'],
      [true, 'expected an ISO-8601 date or epoch milliseconds, got true'],
    ],
  );
});

test('Bytes: base64 (standard or URL alphabet), stored canonical and padded', () => {
  checkScalar(
    'Bytes',
    [
      ['aGVsbG8=', 'aGVsbG8='],
      ['aGVsbG8', 'aGVsbG8='],
      ['-_8', '+/8='],
      ['', ''],
      ['QR==', 'QQ=='],
    ],
    [
      ['a', '"a" is not valid base64'],
      ['!!!!', '"!!!!" is not valid base64'],
      ['aGVsbG8==', '"aGVsbG8==" is not valid base64'],
      ['aGV sbG8=', '"aGV sbG8=" is not valid base64'],
      [[1, 2], 'expected a base64 string, got an array'],
    ],
  );
});

test('Any: any JSON value, copied; non-JSON values refused', () => {
  const v = validators('v: Any, w: Any!');
  const input = { v: { a: [1, { b: null }], c: 'x' }, w: false };
  const out = v.validateCreate(input);
  assert.deepEqual(out, input);
  assert.notEqual(out.v, input.v, 'a fresh copy, not the caller’s object');
  assert.deepEqual(v.validateCreate({ v: null, w: [] }), { v: null, w: [] });
  assert.deepEqual(
    issues(() => v.validateCreate({ w: null })),
    [{ path: 'w', message: 'must not be null' }],
  );
  assert.deepEqual(
    issues(() => v.validateCreate({ w: { at: [1, new Date(0)] } })),
    [{ path: 'w.at.1', message: 'an object is not a JSON value' }],
  );
  assert.deepEqual(
    issues(() => v.validateCreate({ w: () => 1 })),
    [{ path: 'w', message: 'a function is not a JSON value' }],
  );
});

test('enums: one of the value names', () => {
  const v = validators('s: Status!', 'enum Status { DRAFT ACTIVE }');
  assert.deepEqual(v.validateCreate({ s: 'ACTIVE' }), { s: 'ACTIVE' });
  assert.deepEqual(
    issues(() => v.validateCreate({ s: 'active' })),
    [{ path: 's', message: 'expected one of DRAFT, ACTIVE, got "active"' }],
  );
  assert.deepEqual(
    issues(() => v.validateCreate({ s: 1 })),
    [{ path: 's', message: 'expected one of DRAFT, ACTIVE, got 1' }],
  );
});

test('lists: item types, nullable items, nested lists', () => {
  const v = validators('a: [String], b: [Int!]!, c: [[Date]]');
  assert.deepEqual(v.validateCreate({ a: ['x', null], b: [], c: [[0], null] }), { a: ['x', null], b: [], c: [['1970-01-01T00:00:00.000Z'], null] });
  assert.deepEqual(
    issues(() => v.validateCreate({ a: 'x', b: [1, null, 'z'] })),
    [
      { path: 'a', message: 'expected a list ([String]), got "x"' },
      { path: 'b.1', message: 'must not be null' },
      { path: 'b.2', message: 'expected a 32-bit integer, got "z"' },
    ],
  );
  assert.deepEqual(
    issues(() => v.validateCreate({})),
    [{ path: 'b', message: 'is required' }],
  );
});

test('nested objects: recursive checks, sealed nested types, extras kept otherwise', () => {
  const v = validators(
    'dims: Dimensions, lines: [Line!], meta: Meta',
    'type Dimensions @sealed { width: Float!, height: Float! }\ntype Line { sku: ID!, qty: Int!, next: Line }\ntype Meta { note: String }',
  );
  assert.deepEqual(v.validateCreate({ dims: { height: 2, width: 1 }, lines: [{ sku: 7, qty: 1, next: { sku: 'b', qty: 2, next: null } }], meta: { note: null, x: [1] } }), {
    dims: { width: 1, height: 2 },
    lines: [{ sku: '7', qty: 1, next: { sku: 'b', qty: 2, next: null } }],
    meta: { note: null, x: [1] },
  });
  assert.deepEqual(
    issues(() => v.validateCreate({ dims: { width: 1, depth: 3 }, lines: [{ sku: 'a', qty: 1 }, { qty: 'x' }], meta: [] })),
    [
      { path: 'dims.height', message: 'is required' },
      { path: 'dims.depth', message: 'is not declared by Dimensions, which is @sealed' },
      { path: 'lines.1.sku', message: 'is required' },
      { path: 'lines.1.qty', message: 'expected a 32-bit integer, got "x"' },
      { path: 'meta', message: 'expected an object, got an array' },
    ],
  );
});

test('top level: sealed tables refuse undeclared attributes; others keep them after the declared ones', () => {
  const open = validators('name: String!');
  const out = open.validateCreate({ extra: { deep: true }, name: 'n', id: 'k' });
  assert.deepEqual(Object.keys(out), ['id', 'name', 'extra']);
  assert.deepEqual(out, { id: 'k', name: 'n', extra: { deep: true } });
  const sealed = validators('name: String!', '', true);
  assert.deepEqual(
    issues(() => sealed.validateCreate({ name: 'n', extra: 1, more: null })),
    [
      { path: 'extra', message: 'is not declared by T, which is @sealed' },
      { path: 'more', message: 'is not declared by T, which is @sealed' },
    ],
  );
});

test('the body must be a JSON object', () => {
  const v = validators('name: String');
  for (const body of [[], null, 'text', 5, undefined, new Map()]) {
    const err = fails(() => v.validateCreate(body));
    assert.equal(err.message, 'request body must be a JSON object');
    assert.deepEqual(err.details, [{ path: '', message: 'request body must be a JSON object' }]);
  }
});

test('__proto__, constructor and prototype are refused anywhere', () => {
  const v = validators('meta: Any, tags: [Any]');
  assert.deepEqual(
    issues(() => v.validateCreate(JSON.parse('{"__proto__": {"polluted": true}}'))),
    [{ path: '__proto__', message: '"__proto__" is not allowed as an attribute name' }],
  );
  assert.deepEqual(
    issues(() => v.validatePatch(JSON.parse('{"meta": {"a": {"constructor": {}}}, "tags": [{"prototype": 1}]}'))),
    [
      { path: 'meta.a.constructor', message: '"constructor" is not allowed as an attribute name' },
      { path: 'tags.0.prototype', message: '"prototype" is not allowed as an attribute name' },
    ],
  );
  assert.equal(({} as { polluted?: boolean }).polluted, undefined);
});

test('absurd nesting is refused before it can exhaust the stack', () => {
  const v = validators('meta: Any');
  const deep = JSON.parse(`{"meta": ${'['.repeat(5000)}${']'.repeat(5000)}}`);
  assert.match(fails(() => v.validateCreate(deep)).message, /^meta(\.0)+: nests deeper than 64 levels$/);
});

test('create and replace: key optional but never null or empty; required attributes present and non-null', () => {
  const v = validators('title: String!, body: String');
  assert.deepEqual(v.validateCreate({ title: 't' }), { title: 't' });
  assert.deepEqual(v.validateReplace({ id: 9, title: 't', body: null }), { id: '9', title: 't', body: null });
  const err = fails(() => v.validateReplace({ id: null, title: null, body: 1 }));
  assert.equal(err.message, 'id: must not be null (and 2 more problems)');
  assert.deepEqual(err.details, [
    { path: 'id', message: 'must not be null' },
    { path: 'title', message: 'must not be null' },
    { path: 'body', message: 'expected a string, got 1' },
  ]);
  assert.deepEqual(
    issues(() => v.validateCreate({ id: '', title: 't' })),
    [{ path: 'id', message: 'must not be empty' }],
  );
  assert.deepEqual(
    issues(() => v.validateCreate({ id: 'x'.repeat(256), title: 't' })),
    [{ path: 'id', message: 'is longer than 255 characters' }],
  );
  assert.equal(v.validateCreate({ id: 'x'.repeat(255), title: 't' }).id, 'x'.repeat(255));
  assert.equal(fails(() => v.validateCreate({})).message, 'title: is required');
  const numeric = buildValidators(tableOf('type T @table { id: Int! @primaryKey, n: Int }'));
  assert.deepEqual(numeric.validateCreate({ id: 3 }), { id: 3 });
  assert.deepEqual(
    issues(() => numeric.validateCreate({ id: '3' })),
    [{ path: 'id', message: 'expected a 32-bit integer, got "3"' }],
  );
});

test('patch: every attribute optional; null clears optional attributes and is refused for required ones', () => {
  const v = validators('title: String!, body: String, tags: [String!]!');
  assert.deepEqual(v.validatePatch({}), {});
  assert.deepEqual(v.validatePatch({ body: null, extra: null }), { body: null, extra: null });
  assert.deepEqual(v.validatePatch({ tags: ['a'], title: 'x' }), { title: 'x', tags: ['a'] });
  assert.deepEqual(
    issues(() => v.validatePatch({ title: null, tags: null, id: null })),
    [
      { path: 'id', message: 'must not be null' },
      { path: 'title', message: 'must not be null' },
      { path: 'tags', message: 'must not be null' },
    ],
  );
});

test('validateRecord: the full check after a merge, key required', () => {
  const v = buildValidators(tableOf('type T @table { id: ID!, title: String!, at: Long @createdTime, up: Date @updatedTime }'));
  assert.deepEqual(v.validateRecord({ id: 'a', title: 't', at: 5, up: '2024-01-01' }), { id: 'a', title: 't', at: 5, up: '2024-01-01T00:00:00.000Z' });
  assert.deepEqual(
    issues(() => v.validateRecord({ title: 't', at: 'x' })),
    [
      { path: 'id', message: 'is required' },
      { path: 'at', message: 'expected an integer within ±(2^53-1), got "x"' },
    ],
  );
});

test('server-set times: input values are dropped, never required, even on sealed tables', () => {
  const v = buildValidators(tableOf('type T @table @sealed { id: ID!, createdAt: Long! @createdTime, updatedAt: Date! @updatedTime, n: Int }'));
  assert.deepEqual(v.validateCreate({ n: 1, createdAt: 'bogus', updatedAt: 5 }), { n: 1 });
  assert.deepEqual(v.validateReplace({}), {});
  assert.deepEqual(v.validatePatch({ createdAt: 1 }), {});
});

test('stampTimes: createdTime kept from the existing record, updatedTime set, in each representation', () => {
  const def = tableOf('type T @table { id: ID!, c: Long @createdTime, u: Date @updatedTime, name: String }');
  const now = Date.UTC(2024, 0, 2, 3, 4, 5);
  const created = stampTimes(def, { id: 'a', name: 'n', extra: 1 }, undefined, now);
  assert.deepEqual(created, { id: 'a', c: now, u: '2024-01-02T03:04:05.000Z', name: 'n', extra: 1 });
  assert.deepEqual(Object.keys(created), ['id', 'c', 'u', 'name', 'extra']);
  const later = stampTimes(def, { id: 'a', name: 'm' }, created, now + 1000);
  assert.deepEqual(later, { id: 'a', c: now, u: '2024-01-02T03:04:06.000Z', name: 'm' });
  assert.deepEqual(stampTimes(def, { id: 'a' }, { id: 'a', c: null }, now).c, now, 'a missing createdTime is set');

  const other = tableOf('type T @table { id: ID!, c: String @createdTime, u: Float @updatedTime }');
  assert.deepEqual(stampTimes(other, { id: 'b' }, undefined, now), { id: 'b', c: '2024-01-02T03:04:05.000Z', u: now });
  const plain = tableOf('type T @table { id: ID! }');
  const record: Record = { id: 'x' };
  assert.equal(stampTimes(plain, record, undefined, now), record);
});

test('results are fresh objects, never the input', () => {
  const v = validators('dims: D, tags: [String]', 'type D { w: Int }');
  const input = { id: 'a', dims: { w: 1 }, tags: ['x'] };
  for (const out of [v.validateCreate(input), v.validateReplace(input), v.validatePatch(input), v.validateRecord(input)]) {
    assert.deepEqual(out, input);
    assert.notEqual(out, input);
    assert.notEqual(out.dims, input.dims);
    assert.notEqual(out.tags, input.tags);
  }
});

test('a record or message holds at most maxRecordValues values, counted through lists and nesting', () => {
  const def = tableOf(`type Doc @table { id: ID! @primaryKey tags: [String] extra: Any }`, 'Doc');
  const v = buildValidators(def, 100);
  const tags = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`);
  // id, tags and its elements, extra: 3 + 97 = exactly 100 values.
  assert.doesNotThrow(() => v.validateCreate({ id: 'a', tags: tags(97), extra: 1 }));
  const over = () => v.validateCreate({ id: 'a', tags: tags(97), extra: { deep: [1] } });
  assert.throws(over, (err: AppError) => err.code === 'VALIDATION_FAILED' && /more than 100 values .*maxRecordValues/.test(err.message));
  assert.throws(
    () => validateMessage({ list: tags(200) }, 100),
    (err: AppError) => err.code === 'VALIDATION_FAILED',
  );
  assert.doesNotThrow(() => validateMessage({ list: tags(98) }, 100));
});

test('a body with many problems reports at most 100 of them', () => {
  const def = tableOf(`type Doc @table { id: ID! @primaryKey extra: Any }`, 'Doc');
  const body = { id: 'a', extra: Array.from({ length: 5000 }, () => '\uD800') };
  try {
    buildValidators(def).validateCreate(body);
    assert.fail('refused');
  } catch (err) {
    assert.equal((err as AppError).code, 'VALIDATION_FAILED');
    assert.equal(((err as AppError).details as ValidationIssue[]).length, 100);
  }
});

test('the JSON body pre-count counts commas outside strings only', () => {
  assert.equal(structuralCommas('{"a":1,"b":"x,y","c":[1,2]}', 100), 3);
  assert.equal(structuralCommas('["a\\\\",",",1]', 100), 2);
  assert.equal(structuralCommas(`[${'1,'.repeat(50)}1]`, 10), 11, 'stops counting past the cap');
});

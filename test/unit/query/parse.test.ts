import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../../../src/errors.ts';
import { parseQuery, MAX_DEPTH } from '../../../src/query/parse.ts';
import type { Condition, Filter, Query } from '../../../src/query/types.ts';
import { product, sealedProduct } from './fixture.ts';

const parse = (raw: string, def = product): Query => parseQuery(raw, def);

/** The single condition of a query. */
function cond(raw: string, def = product): Condition {
  const filter = parse(raw, def).filter;
  assert.equal(filter?.type, 'condition', `expected one condition for ${raw}`);
  return filter as Condition;
}

/** Asserts QUERY_INVALID (400) with exactly this message (position included). */
function fails(raw: string, message: string, def = product): void {
  assert.throws(
    () => parseQuery(raw, def),
    (err: unknown) => {
      assert.ok(err instanceof AppError, `expected AppError for ${raw}`);
      assert.equal(err.code, 'QUERY_INVALID');
      assert.equal(err.statusCode, 400);
      assert.equal(err.message, message);
      return true;
    },
    raw,
  );
}

const c = (path: string, op: Condition['op'], value: unknown, kind?: Condition['kind']): Condition =>
  kind === undefined ? { type: 'condition', path: path.split('.'), op, value, typed: false } : { type: 'condition', path: path.split('.'), op, value, typed: true, kind };

test('empty query', () => {
  assert.deepEqual(parse(''), { reserved: {} });
});

test('every operator', () => {
  const ops: Array<[string, Condition['op']]> = [
    ['rating=5', 'eq'],
    ['rating==5', 'eq'],
    ['rating===5', 'eq'],
    ['rating=eq=5', 'eq'],
    ['rating!=5', 'ne'],
    ['rating!==5', 'ne'],
    ['rating=ne=5', 'ne'],
    ['rating=gt=5', 'gt'],
    ['rating=ge=5', 'ge'],
    ['rating=lt=5', 'lt'],
    ['rating=le=5', 'le'],
    ['rating>5', 'gt'],
    ['rating>=5', 'ge'],
    ['rating<5', 'lt'],
    ['rating<=5', 'le'],
    ['rating=greater_than=5', 'gt'],
    ['rating=greaterThanEqual=5', 'ge'],
    ['rating=less_than=5', 'lt'],
    ['rating=lessThanEqual=5', 'le'],
    ['rating=not_equal=5', 'ne'],
    ['rating=equals=5', 'eq'],
  ];
  for (const [raw, op] of ops) assert.deepEqual(cond(raw), c('rating', op, 5, 'number'), raw);
  assert.deepEqual(cond('name=ct=ey'), c('name', 'ct', 'ey', 'string'));
  assert.deepEqual(cond('name=sw=Key'), c('name', 'sw', 'Key', 'string'));
  assert.deepEqual(cond('name=ew=board'), c('name', 'ew', 'board', 'string'));
  assert.deepEqual(cond('name=contains=ey'), c('name', 'ct', 'ey', 'string'));
  assert.deepEqual(cond('name=starts_with=K'), c('name', 'sw', 'K', 'string'));
  assert.deepEqual(cond('name=endsWith=d'), c('name', 'ew', 'd', 'string'));
});

test('Harper wildcard: == and =eq= with a trailing * mean starts-with; = keeps the *', () => {
  assert.deepEqual(cond('name==Key*'), c('name', 'sw', 'Key', 'string'));
  assert.deepEqual(cond('name=eq=Key*'), c('name', 'sw', 'Key', 'string'));
  assert.deepEqual(cond('name=Key*'), c('name', 'eq', 'Key*', 'string'));
  assert.deepEqual(cond('name===Key*'), c('name', 'eq', 'Key*', 'string'));
  assert.deepEqual(cond('name==Key%2A'), c('name', 'eq', 'Key*', 'string'));
  fails('name==K*y', 'a wildcard * is only allowed at the end of the value (write %2A for a literal *) at position 7');
});

test('& and | join conditions; a group uses one of them', () => {
  assert.deepEqual(parse('rating=5&price=1&name=a').filter, {
    type: 'and',
    items: [c('rating', 'eq', 5, 'number'), c('price', 'eq', 1, 'number'), c('name', 'eq', 'a', 'string')],
  });
  assert.deepEqual(parse('rating=5|inStock=true').filter, {
    type: 'or',
    items: [c('rating', 'eq', 5, 'number'), c('inStock', 'eq', true, 'boolean')],
  });
  fails('rating=1|rating=2&name=a', "cannot mix '&' and '|' in one group; group with [ ] to say which comes first (e.g. a=1&[b=2|c=3]) at position 17");
  fails('rating=1&rating=2|name=a', "cannot mix '&' and '|' in one group; group with [ ] to say which comes first (e.g. a=1&[b=2|c=3]) at position 17");
  fails('[a=1&b=2|c=3]', "cannot mix '&' and '|' in one group; group with [ ] to say which comes first (e.g. a=1&[b=2|c=3]) at position 8");
});

test('[ ] and ( ) group; groups nest; same-kind groups flatten; one-item groups vanish', () => {
  const expected: Filter = {
    type: 'or',
    items: [c('rating', 'eq', 5, 'number'), { type: 'and', items: [c('price', 'gt', 100, 'number'), c('price', 'lt', 200, 'number')] }],
  };
  assert.deepEqual(parse('rating=5|[price=gt=100&price=lt=200]').filter, expected);
  assert.deepEqual(parse('rating=5|(price=gt=100&price=lt=200)').filter, expected);
  assert.deepEqual(parse('[price=gt=100&price=lt=200]|rating=5').filter, { type: 'or', items: [expected.items[1], expected.items[0]] });
  // Harper's documented example, three levels deep.
  assert.deepEqual(parse('price=lt=100|[rating=5&[tags=fast|tags=scalable]&inStock=true]').filter, {
    type: 'or',
    items: [
      c('price', 'lt', 100, 'number'),
      {
        type: 'and',
        items: [c('rating', 'eq', 5, 'number'), { type: 'or', items: [c('tags', 'eq', 'fast', 'string'), c('tags', 'eq', 'scalable', 'string')] }, c('inStock', 'eq', true, 'boolean')],
      },
    ],
  });
  assert.deepEqual(parse('[rating=1&price=2]&name=a').filter, {
    type: 'and',
    items: [c('rating', 'eq', 1, 'number'), c('price', 'eq', 2, 'number'), c('name', 'eq', 'a', 'string')],
  });
  assert.deepEqual(parse('[[(rating=1)]]').filter, c('rating', 'eq', 1, 'number'));
  assert.deepEqual(parse('[rating=1|rating=2]&[name=a|name=b]').filter, {
    type: 'and',
    items: [
      { type: 'or', items: [c('rating', 'eq', 1, 'number'), c('rating', 'eq', 2, 'number')] },
      { type: 'or', items: [c('name', 'eq', 'a', 'string'), c('name', 'eq', 'b', 'string')] },
    ],
  });
  const deep = `${'['.repeat(MAX_DEPTH)}rating=1${']'.repeat(MAX_DEPTH)}`;
  assert.deepEqual(parse(deep).filter, c('rating', 'eq', 1, 'number'));
  fails(`${'['.repeat(MAX_DEPTH + 1)}rating=1${']'.repeat(MAX_DEPTH + 1)}`, `groups nested deeper than ${MAX_DEPTH} at position ${MAX_DEPTH}`);
});

test('values: each token decoded on its own; + stays a plus; parentheses end values only inside ( )', () => {
  assert.equal(cond('name=a%20b').value, 'a b');
  assert.equal(cond('name=a+b').value, 'a+b');
  assert.equal(cond('name=a%2Bb').value, 'a+b');
  assert.equal(cond('name=%26%7C%3D').value, '&|=');
  assert.equal(cond('name=f(x),y').value, 'f(x),y');
  assert.equal(cond('name=').value, '');
  assert.deepEqual(cond('na%6De=x'), c('name', 'eq', 'x', 'string'));
  assert.deepEqual(cond('created=gt=2017-03-08T09%3A30%3A00.000Z'), c('created', 'gt', '2017-03-08T09:30:00.000Z', 'date'));
  // Inside ( ) a value ends at the first ), as in Harper: prefer [ ] for values with parentheses.
  // Outside ( ) a ) belongs to the value.
  fails('(name=f(x)&rating=1)', "invalid value '1)' for rating (Int): expected a number at position 18");
  fails('(name=f(x))', "unexpected ')' with no group open at position 10");
  assert.deepEqual(parse('[name=f(x)]').filter, c('name', 'eq', 'f(x)', 'string'));
  assert.deepEqual(parse('(name=f%28x%29)').filter, c('name', 'eq', 'f(x)', 'string'));
  // A dot separates path segments only when written raw.
  assert.deepEqual(cond('a%2Eb=x').path, ['a.b']);
  assert.deepEqual(cond('a.b=x').path, ['a', 'b']);
});

test('coercion to each type', () => {
  assert.deepEqual(cond('id=42'), c('id', 'eq', '42', 'string'));
  assert.deepEqual(cond('rating=-3'), c('rating', 'eq', -3, 'number'));
  assert.deepEqual(cond('price=.5'), c('price', 'eq', 0.5, 'number'));
  assert.deepEqual(cond('price=2e3'), c('price', 'eq', 2000, 'number'));
  assert.deepEqual(cond('views=1700000000000'), c('views', 'eq', 1700000000000, 'number'));
  assert.deepEqual(cond('big=+00123456789012345678901234567890'), c('big', 'eq', '123456789012345678901234567890', 'bigint'));
  assert.deepEqual(cond('big=-0'), c('big', 'eq', '0', 'bigint'));
  assert.deepEqual(cond('big=gt=-0042'), c('big', 'gt', '-42', 'bigint'));
  assert.deepEqual(cond('inStock=true'), c('inStock', 'eq', true, 'boolean'));
  assert.deepEqual(cond('inStock=false'), c('inStock', 'eq', false, 'boolean'));
  assert.deepEqual(cond('created=2024-01-05'), c('created', 'eq', '2024-01-05T00:00:00.000Z', 'date'));
  assert.deepEqual(cond('created=ge=1704412800000'), c('created', 'ge', '2024-01-05T00:00:00.000Z', 'date'));
  assert.deepEqual(cond('created=ge=-1000'), c('created', 'ge', '1969-12-31T23:59:59.000Z', 'date'));
  assert.deepEqual(cond('color=green'), c('color', 'eq', 'green', 'enum'));
  assert.deepEqual(cond('color=gt=blue'), c('color', 'gt', 'blue', 'enum'));
  assert.deepEqual(cond('blob=AAEC'), c('blob', 'eq', 'AAEC', 'bytes'));
  // Lists are typed by their element type; nested declared types are typed.
  assert.deepEqual(cond('tags=fast'), c('tags', 'eq', 'fast', 'string'));
  assert.deepEqual(cond('scores=gt=3'), c('scores', 'gt', 3, 'number'));
  assert.deepEqual(cond('dimensions.width=ge=2.5'), c('dimensions.width', 'ge', 2.5, 'number'));
  assert.deepEqual(cond('parts.qty=2'), c('parts.qty', 'eq', 2, 'number'));
});

test('null is null for = and != on every type; other operators reject it', () => {
  for (const name of ['id', 'name', 'rating', 'price', 'big', 'inStock', 'created', 'color', 'tags', 'dimensions', 'parts', 'blob']) {
    assert.equal(cond(`${name}=null`).value, null, name);
    assert.equal(cond(`${name}!=null`).value, null, name);
    assert.equal(cond(`${name}=ne=null`).op, 'ne', name);
  }
  fails('rating=gt=null', 'null can only be compared with = or =ne= (rating) at position 10');
  // `ct`/`sw`/`ew` compare text as written.
  assert.deepEqual(cond('name=ct=null'), c('name', 'ct', 'null', 'string'));
});

test('bad values name the attribute, the value and the expectation', () => {
  fails('rating=abc', "invalid value 'abc' for rating (Int): expected a number at position 7");
  fails('rating=', "invalid value '' for rating (Int): expected a number at position 7");
  fails('price=0x10', "invalid value '0x10' for price (Float): expected a number at position 6");
  fails('price=1e999', "invalid value '1e999' for price (Float): expected a number at position 6");
  fails('price=Infinity', "invalid value 'Infinity' for price (Float): expected a number at position 6");
  fails('price=%201', "invalid value ' 1' for price (Float): expected a number at position 6");
  fails('scores=x', "invalid value 'x' for scores ([Int]): expected a number at position 7");
  fails('big=1.5', "invalid value '1.5' for big (BigInt): expected an integer at position 4");
  fails('inStock=yes', "invalid value 'yes' for inStock (Boolean): expected true or false at position 8");
  fails('created=someday', "invalid value 'someday' for created (Date): expected an ISO-8601 date or epoch milliseconds at position 8");
  fails('color=purple', "invalid value 'purple' for color (Color): expected one of red, green, blue at position 6");
  fails('dimensions.width=wide', "invalid value 'wide' for dimensions.width (Float): expected a number at position 17");
  fails('dimensions=5', 'dimensions is Dimensions, an object: compare one of its attributes (dimensions.name) or null at position 11');
});

test('operators that do not fit the type', () => {
  fails('rating=ct=5', '=ct= applies to text attributes; rating is Int at position 10');
  fails('price=sw=1', '=sw= applies to text attributes; price is Float at position 9');
  fails('inStock=gt=true', '=gt= does not apply to inStock (Boolean), which has no order at position 11');
  fails('blob=lt=AA', '=lt= does not apply to blob (Bytes), which has no order at position 8');
  fails('scores=sw=1', '=sw= applies to text attributes; scores is [Int] at position 10');
  // ct on a list of non-text values is membership, coerced like =.
  assert.deepEqual(cond('scores=ct=3'), c('scores', 'ct', 3, 'number'));
  // ct/sw/ew on dates and enums compare the text as written, never coerced.
  assert.deepEqual(cond('created=sw=2024-01'), c('created', 'sw', '2024-01', 'date'));
  assert.deepEqual(cond('created==2024*'), c('created', 'sw', '2024', 'date'));
  assert.deepEqual(cond('color=ct=ee'), c('color', 'ct', 'ee', 'enum'));
  assert.deepEqual(cond('tags=ct=as'), c('tags', 'ct', 'as', 'string'));
});

test('type prefixes (Harper): number: boolean: date: string:', () => {
  assert.deepEqual(cond('extra=number:5'), c('extra', 'eq', 5));
  assert.deepEqual(cond('extra=boolean:false'), c('extra', 'eq', false));
  assert.deepEqual(cond('extra=date:2024-01-05T20%3A07%3A27.955Z'), c('extra', 'eq', '2024-01-05T20:07:27.955Z'));
  assert.deepEqual(cond('extra=string:5'), c('extra', 'eq', '5'));
  assert.deepEqual(cond('name=string:null'), c('name', 'eq', 'null', 'string'));
  assert.deepEqual(cond('rating=gt=number:5'), c('rating', 'gt', 5, 'number'));
  assert.deepEqual(cond('created=date:1704412800000'), c('created', 'eq', '2024-01-05T00:00:00.000Z', 'date'));
  assert.deepEqual(cond('name=http:x'), c('name', 'eq', 'http:x', 'string'));
  fails('name=number:5', 'the number: prefix does not fit name (String) at position 5');
  fails('rating=date:2024', 'the date: prefix does not fit rating (Int) at position 7');
  fails('extra=number:five', "invalid value 'five' for extra (untyped): expected a number after number: at position 6");
  fails('extra=boolean:1', "invalid value '1' for extra (untyped): expected true or false after boolean: at position 6");
  fails('extra=date:x', "invalid value 'x' for extra (untyped): expected a date after date: at position 6");
});

test('strict === and !== : no null keyword, no prefixes', () => {
  assert.deepEqual(cond('name===null'), c('name', 'eq', 'null', 'string'));
  assert.deepEqual(cond('name!==number:1'), c('name', 'ne', 'number:1', 'string'));
  assert.deepEqual(cond('extra===5'), c('extra', 'eq', '5'));
  fails('rating===null', "invalid value 'null' for rating (Int): expected a number at position 9");
});

test('untyped attributes keep the text and note what it spells', () => {
  assert.deepEqual(cond('extra=5'), { ...c('extra', 'eq', '5'), spelled: 5 });
  assert.deepEqual(cond('extra=true'), { ...c('extra', 'eq', 'true'), spelled: true });
  assert.deepEqual(cond('extra=null'), { ...c('extra', 'eq', 'null'), spelled: null });
  assert.deepEqual(cond('extra=gt=-1.5'), { ...c('extra', 'gt', '-1.5'), spelled: -1.5 });
  assert.deepEqual(cond('extra=abc'), c('extra', 'eq', 'abc'));
  assert.deepEqual(cond('extra=ct=5'), { ...c('extra', 'ct', '5'), spelled: 5 });
  assert.deepEqual(cond('extra=sw=5'), c('extra', 'sw', '5'));
  // Any is declared but untyped; so are paths below it and below unsealed nested types.
  assert.deepEqual(cond('meta=5'), { ...c('meta', 'eq', '5'), spelled: 5 });
  assert.deepEqual(cond('meta.deep.er=x'), c('meta.deep.er', 'eq', 'x'));
  assert.deepEqual(cond('parts.color=red'), c('parts.color', 'eq', 'red'));
  assert.deepEqual(cond('extra.x=1').typed, false);
});

test('sealed tables reject unknown attributes; nested types follow their own @sealed', () => {
  fails('x=1', 'unknown attribute x at position 0', sealedProduct);
  fails('rating=1&[name=a|nope.deep=2]', 'unknown attribute nope.deep at position 17', sealedProduct);
  fails('dimensions.depth=1', 'unknown attribute dimensions.depth at position 0', product);
  fails('select(id,x)', 'unknown attribute x at position 10', sealedProduct);
  fails('sort(-x)', 'unknown attribute x at position 6', sealedProduct);
  assert.deepEqual(cond('rating=1', sealedProduct), c('rating', 'eq', 1, 'number'));
  assert.deepEqual(cond('parts.color=red', sealedProduct), c('parts.color', 'eq', 'red'));
  fails('name.first=a', 'name is String, which has no attribute first at position 0');
  fails('tags.x=a', 'tags is [String], which has no attribute x at position 0');
});

test('select forms', () => {
  assert.deepEqual(parse('select(name)').select, { attributes: ['name'], bare: true });
  assert.deepEqual(parse('select(name,rating)').select, { attributes: ['name', 'rating'], bare: false });
  assert.deepEqual(parse('select(name,)').select, { attributes: ['name'], bare: false });
  assert.deepEqual(parse('select([name,rating])').select, { attributes: ['name', 'rating'], bare: false, array: true });
  assert.deepEqual(parse('select(na%6De,extra)').select, { attributes: ['name', 'extra'], bare: false });
  assert.deepEqual(parse('category=software&select(name)').filter, c('category', 'eq', 'software'));
  fails('select()', 'select() needs at least one attribute at position 0');
  fails('select(a,,b)', 'expected an attribute name in select() at position 9');
  fails('select(,a)', 'expected an attribute name in select() at position 7');
  fails('select(dimensions.width)', 'select() takes top-level attribute names; dimensions.width is a path at position 7');
  fails('select(name,brand{name})', 'nested select brand{…} is not supported; select top-level attributes at position 17');
  fails('select([a,b]', "expected ')' after ']' in select([…]) at position 12");
  fails('select(a', "unclosed '(' of select() at position 0");
  fails('select(a)&select(b)', 'select() given twice at position 10');
  fails('select(a=b)', "unexpected '=' in select() at position 8");
});

test('limit forms', () => {
  assert.deepEqual(parse('limit(20)').limit, { offset: 0, count: 20 });
  assert.deepEqual(parse('limit(5,15)').limit, { offset: 5, count: 10 });
  assert.deepEqual(parse('limit(0)').limit, { offset: 0, count: 0 });
  assert.deepEqual(parse('limit(3,3)').limit, { offset: 3, count: 0 });
  assert.deepEqual(parse('rating=gt=3&inStock=true&select(rating,name)&limit(20)'), {
    reserved: {},
    filter: { type: 'and', items: [c('rating', 'gt', 3, 'number'), c('inStock', 'eq', true, 'boolean')] },
    select: { attributes: ['rating', 'name'], bare: false },
    limit: { offset: 0, count: 20 },
  });
  fails('limit(-1)', "limit() needs non-negative integers, got '-1' at position 6");
  fails('limit(5,2)', 'limit(5,2): end 2 is before start 5 at position 8');
  fails('limit()', 'limit() takes limit(count) or limit(start,end), got 0 arguments at position 0');
  fails('limit(1,2,3)', 'limit() takes limit(count) or limit(start,end), got 3 arguments at position 0');
  fails('limit(1.5)', "limit() needs non-negative integers, got '1.5' at position 6");
  fails('limit(ten)', "limit() needs non-negative integers, got 'ten' at position 6");
  fails('limit(1234567890123456)', "limit() needs non-negative integers, got '1234567890123456' at position 6");
  fails('limit(1)&limit(2)', 'limit() given twice at position 9');
});

test('sort forms', () => {
  assert.deepEqual(parse('sort(name)').sort, [{ path: ['name'], descending: false, kind: 'string' }]);
  assert.deepEqual(parse('sort(+rating,-price)').sort, [
    { path: ['rating'], descending: false, kind: 'number' },
    { path: ['price'], descending: true, kind: 'number' },
  ]);
  assert.deepEqual(parse('sort(%2Drating,%2bprice)').sort, [
    { path: ['rating'], descending: true, kind: 'number' },
    { path: ['price'], descending: false, kind: 'number' },
  ]);
  assert.deepEqual(parse('sort(-big,dimensions.width,extra)').sort, [
    { path: ['big'], descending: true, kind: 'bigint' },
    { path: ['dimensions', 'width'], descending: false, kind: 'number' },
    { path: ['extra'], descending: false },
  ]);
  fails('sort()', 'sort() needs at least one attribute at position 0');
  fails('sort(-)', 'expected an attribute name in sort() at position 6');
  fails('sort(tags)', 'cannot sort by tags ([String]); sort by a single value at position 5');
  fails('sort(dimensions)', 'cannot sort by dimensions (Dimensions); sort by a single value at position 5');
  fails('sort(a..b)', "empty segment in attribute path 'a..b' at position 7");
});

test('reserved parameters are never filters and only allowed at the top level', () => {
  assert.deepEqual(parse('stream=sse&lastEventId=41&retained=false&access_token=a%2Bb'), {
    reserved: { stream: 'sse', lastEventId: '41', retained: 'false', access_token: 'a+b' },
  });
  assert.deepEqual(parse('category=sw&stream=sse'), { reserved: { stream: 'sse' }, filter: c('category', 'eq', 'sw') });
  // Neutral: the connective next to a call or reserved parameter does not count.
  assert.deepEqual(parse('rating=1|rating=2&stream=sse&limit(5)').filter, {
    type: 'or',
    items: [c('rating', 'eq', 1, 'number'), c('rating', 'eq', 2, 'number')],
  });
  assert.equal(parse('limit(5)&rating=1|rating=2').filter?.type, 'or');
  fails('rating=1|limit(5)&rating=2', "cannot mix '&' and '|' in one group; group with [ ] to say which comes first (e.g. a=1&[b=2|c=3]) at position 17");
  // Percent-encoding a letter filters on an attribute of that name instead.
  assert.deepEqual(cond('%73tream=sse'), c('stream', 'eq', 'sse'));
  fails('[stream=sse]', 'reserved parameter stream is only allowed at the top level, not inside a group at position 1');
  fails('stream=sse&stream=sse', 'reserved parameter stream given twice at position 11');
  fails('retained=ne=false', 'reserved parameter retained takes the form retained=value at position 8');
  fails('[limit(5)]', 'limit() is only allowed at the top level, not inside a group at position 1');
});

test('syntax errors name the problem and its position', () => {
  fails('[rating=1', "unclosed '[' (no matching ']') at position 0");
  fails('rating=1&(name=a', "unclosed '(' (no matching ')') at position 9");
  fails('rating=1]', "unexpected ']' with no group open at position 8");
  fails('[(rating=1])', "expected ')' to close '(' from position 1, found ']' at position 10");
  fails('(rating=1', "unclosed '(' (no matching ')') at position 0");
  fails('[]', "empty group '[]' at position 0");
  fails('rating=1&()', "empty group '()' at position 9");
  fails('[rating=1&]', "dangling '&': expected a condition after it at position 9");
  fails('rating=1&', "dangling '&': expected a condition after it at position 8");
  fails('rating=1|', "dangling '|': expected a condition after it at position 8");
  fails('&rating=1', "expected a condition before '&' at position 0");
  fails('rating=1&&name=a', "expected a condition before '&' at position 9");
  fails('rating=1&|name=a', "expected a condition before '|' at position 9");
  fails('=5', "expected an attribute name before '=' at position 0");
  fails('=lt=5', "expected an attribute name before '=' at position 0");
  fails('foo(x)', 'unknown function foo(); expected select(), limit() or sort() at position 0');
  fails('group-by(x)', 'unknown function group-by(); expected select(), limit() or sort() at position 0');
  fails('rating', "expected an operator such as = after 'rating', found the end at position 6");
  fails('rating&name=a', "expected an operator such as = after 'rating', found '&' at position 6");
  fails('rating!5', "expected an operator such as = after 'rating', found '!' at position 6");
  fails('rating=xx=5', 'unknown operator =xx=; expected one of =eq= =ne= =gt= =ge= =lt= =le= =ct= =sw= =ew= =in= =not_in= =between= at position 6');
  fails('name=a-b=c', "unexpected '=' in the value of name; percent-encode it at position 8");
  // An identifier between = signs is read as an operator, as in Harper.
  fails('name=a=b', 'unknown operator =a=; expected one of =eq= =ne= =gt= =ge= =lt= =le= =ct= =sw= =ew= =in= =not_in= =between= at position 4');
  fails('name=a[b', "unexpected '[' in the value of name; percent-encode it at position 6");
  fails('name=%E0%A4%A', "malformed percent-encoding in '%E0%A4%A' at position 5");
  fails('na%ZZme=a', "malformed percent-encoding in 'na%ZZme' at position 0");
  fails('a..b=1', "empty segment in attribute path 'a..b' at position 2");
  fails('.a=1', "empty segment in attribute path '.a' at position 0");
  fails('[rating=1][name=a]', "unexpected '[' after a condition; expected '&', '|' or the end at position 10");
  fails('limit(5)limit(6)', "unexpected 'l' after a condition; expected '&', '|' or the end at position 8");
});

test('maxTerms caps the conditions of a query while parsing: QUERY_TOO_COMPLEX names the cap and the setting', () => {
  const terms = (n: number) => Array.from({ length: n }, (_, i) => `name=n${i}`).join('|');
  assert.equal((parseQuery(terms(3), product, { maxTerms: 3 }).filter as Filter & { items: unknown[] }).items.length, 3);
  // Calls and reserved parameters are not conditions.
  assert.doesNotThrow(() => parseQuery(`${terms(3)}&limit(1)&sort(name)&select(name)&stream=sse`, product, { maxTerms: 3 }));
  for (const raw of [terms(4), `[${terms(2)}]&[${terms(2)}]`, `name=a&[name=b|[name=c&[name=d]]]`]) {
    assert.throws(
      () => parseQuery(raw, product, { maxTerms: 3 }),
      (err: unknown) => {
        assert.ok(err instanceof AppError);
        assert.equal(err.code, 'QUERY_TOO_COMPLEX');
        assert.match(err.message, /more than 3 conditions/);
        assert.match(err.message, /maxQueryTerms/);
        return true;
      },
      raw,
    );
  }
  // The count stops the parse at the first condition past the cap, before the rest is looked at.
  assert.throws(() => parseQuery(`${terms(4)}|name=%ZZ`, product, { maxTerms: 3 }), /QUERY_TOO_COMPLEX|more than 3/);
  // Without a cap (trusted text such as row filters from the config), any number.
  assert.doesNotThrow(() => parseQuery(terms(2000), product));
});

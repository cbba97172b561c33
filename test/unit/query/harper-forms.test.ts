/**
 * Harper's range chains and value lists (src/query/harper-forms.ts) as parsed: which conditions
 * they become, how they count against maxTerms, and the 400s for the forms Harper does not document.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../../../src/errors.ts';
import { parseQuery } from '../../../src/query/parse.ts';
import type { Filter } from '../../../src/query/types.ts';
import { field, product, scalar, table } from './fixture.ts';

/** A compact form of a filter: `price>20 & price<50`, `(a=1 | a=2)`. */
function show(filter: Filter | undefined): string {
  if (!filter) return '';
  if (filter.type === 'condition') return `${filter.path.join('.')} ${filter.op} ${JSON.stringify(filter.value)}`;
  return `(${filter.items.map(show).join(filter.type === 'and' ? ' & ' : ' | ')})`;
}
const parsed = (raw: string, def = product, maxTerms?: number) => show(parseQuery(raw, def, maxTerms === undefined ? {} : { maxTerms }).filter);

function refused(raw: string, message: RegExp, def = product): void {
  assert.throws(
    () => parseQuery(raw, def),
    (err: unknown) => err instanceof AppError && err.code === 'QUERY_INVALID' && message.test(err.message),
    raw,
  );
}

test("range chains: Harper's documented price=gt=20&lt=50, its own &=lt=, either direction, inside groups", () => {
  assert.equal(parsed('price=gt=20&lt=50'), '(price gt 20 & price lt 50)');
  assert.equal(parsed('price=ge=20&le=50'), '(price ge 20 & price le 50)');
  assert.equal(parsed('price=lt=50&gt=20'), '(price lt 50 & price gt 20)');
  assert.equal(parsed('price=gt=20&=lt=50'), '(price gt 20 & price lt 50)');
  assert.equal(parsed('price>20&lt=50'), '(price gt 20 & price lt 50)');
  assert.equal(parsed('dimensions.width=gt=1&le=9'), '(dimensions.width gt 1 & dimensions.width le 9)');
  assert.equal(parsed('name=a&price=gt=1&lt=5&rating=3'), '(name eq "a" & price gt 1 & price lt 5 & rating eq 3)');
  assert.equal(parsed('[price=gt=1&lt=5]|name=a'), '((price gt 1 & price lt 5) | name eq "a")');
  // The chained value is coerced to the first condition's attribute, as if it were named.
  refused('price=gt=1&lt=abc', /invalid value 'abc' for price \(Float\)/);
});

test('chains need a range before them, joined with &; other combinations are 400s', () => {
  refused('lt=5', /^'lt=' continues a range \(price=gt=20&lt=50\) and must follow a =gt= or =ge= condition joined with '&'; write lt==… to compare an attribute named lt at position 0$/);
  refused('name=a&ge=5', /'ge=' continues a range .*=lt= or =le= condition|'ge=' cannot chain onto =eq=/);
  refused('price=gt=1&gt=5', /'gt=' cannot chain onto =gt=/);
  refused('price=gt=1|lt=5', /'lt=' continues a range/);
  refused('[price=gt=1]&lt=5', /'lt=' continues a range/);
  refused('price=gt=1&limit(2)&lt=5', /'lt=' continues a range/);
  refused('price=gt=1&=sw=5', /'&=' chains a range operator/);
  refused('price=gt=1|=lt=5', /'\|=' chains are not supported/);
  refused('name=a&=lt=5', /'&=lt=' cannot chain onto =eq=/);
  // `lt==5` is always the attribute (an undeclared one here).
  assert.equal(parsed('lt==5'), 'lt eq "5"');
});

test('a table that declares an attribute named lt keeps it; after a range, lt= is ambiguous and refused', () => {
  const def = table('T', [field('id', scalar('ID'), { primaryKey: true }), field('price', scalar('Float')), field('lt', scalar('Int'))]);
  assert.equal(parsed('lt=5', def), 'lt eq 5');
  assert.equal(parsed('id=a&lt=5', def), '(id eq "a" & lt eq 5)');
  assert.equal(parsed('price=gt=1|lt=5', def), '(price gt 1 | lt eq 5)');
  refused('price=gt=1&lt=5', /'lt=' is both an attribute and Harper's range chain; write lt==… for the attribute or &=lt=… for the chain/, def);
  assert.equal(parsed('price=gt=1&=lt=5', def), '(price gt 1 & price lt 5)');
  assert.equal(parsed('price=gt=1&lt==5', def), '(price gt 1 & lt eq 5)');
});

test('=in=, =not_in= and =between= become equalities, inequalities and a closed range', () => {
  assert.equal(parsed('rating=in=(1,2,3)'), '(rating eq 1 | rating eq 2 | rating eq 3)');
  assert.equal(parsed('rating=in=1,2'), '(rating eq 1 | rating eq 2)');
  assert.equal(parsed('rating=in=(7)'), 'rating eq 7');
  assert.equal(parsed('name=in=(a%2Cb,,c)'), '(name eq "a,b" | name eq "" | name eq "c")');
  assert.equal(parsed('name=in=(null,x)'), '(name eq null | name eq "x")');
  assert.equal(parsed('rating=not_in=(1,2)'), '(rating ne 1 & rating ne 2)');
  assert.equal(parsed('rating=between=(1,5)'), '(rating ge 1 & rating le 5)');
  assert.equal(parsed('created=between=(2024-01-01,2025-01-01)'), '(created ge "2024-01-01T00:00:00.000Z" & created le "2025-01-01T00:00:00.000Z")');
  assert.equal(parsed('tags=in=(a,b)|rating=in=(1,2)'), '(tags eq "a" | tags eq "b" | rating eq 1 | rating eq 2)');
  assert.equal(parsed('(rating=in=1,2)&name=x'), '((rating eq 1 | rating eq 2) & name eq "x")');
  refused('rating=in=()', /=in= on rating needs at least one value/);
  refused('rating=in=', /=in= on rating needs at least one value/);
  refused('rating=between=(1)', /takes two values, the lower and the upper bound \(both included\).* got 1/);
  refused('rating=between=(1,2,3)', /got 3/);
  refused('rating=in=(1,(2))', /unexpected '\(' in a value list; percent-encode it/);
  refused('rating=in=(1|2)', /unexpected '\|' in a value list/);
  refused('rating=in=(1,2', /unclosed '\(' of a value list/);
  refused('rating=in=1,x', /invalid value 'x' for rating \(Int\)/);
  refused('rating=not_ct=1', /unknown operator =not_ct=; the not_ forms are not_equal \(=ne=\) and not_in/);
  refused('stream=in=(sse)', /reserved parameter stream takes the form stream=value/);
  refused('nope.x=in=(1)', /./, table('S', [field('id', scalar('ID'), { primaryKey: true })], true));
  // Harper's not_equal stays the ne it always was.
  assert.equal(parsed('rating=not_equal=3'), 'rating ne 3');
});

test('every list value and every chained bound is one condition against maxTerms', () => {
  assert.equal(parsed('rating=in=(1,2,3)', product, 3), '(rating eq 1 | rating eq 2 | rating eq 3)');
  for (const raw of ['rating=in=(1,2,3,4)', 'rating=between=(1,2)&name=in=(a,b)', 'price=gt=1&lt=2&name=a&rating=1']) {
    assert.throws(
      () => parseQuery(raw, product, { maxTerms: 3 }),
      (err: unknown) => err instanceof AppError && err.code === 'QUERY_TOO_COMPLEX' && /more than 3 conditions/.test(err.message),
      raw,
    );
  }
  // The cap stops a long list at its first value past it, before the rest is coerced.
  assert.throws(() => parseQuery(`rating=in=(1,2,3,4,${'x,'.repeat(10_000)}x)`, product, { maxTerms: 3 }), /more than 3 conditions/);
});

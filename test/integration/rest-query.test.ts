/**
 * The query grammar over HTTP, operator by operator, on the shipped shop schema (with @indexed
 * attributes) and on a copy of its Product table without any index. Every query must give the
 * same answer on both tables (index use never changes answers) and the answer an independent
 * JavaScript predicate gives for the same data.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { planFilter } from '../../src/store/plan.ts';
import { SHOP_SDL, assertError, serve } from '../helpers/fixtures.ts';
import { agent, type TestServer } from '../helpers/server.ts';

/** The shop schema plus `PlainProduct`: Product's attributes without @indexed, at /shop/plain. */
const PRODUCT_BODY = /type Product @table\(database: "shop"\) @export\(name: "product"\) \{([^}]*)\}/.exec(SHOP_SDL)![1]!;
const PLAIN_SDL = `type PlainProduct @table(database: "shop") @export(name: "plain") {${PRODUCT_BODY.replaceAll('@indexed', '')}}\n`;

type Rec = { [k: string]: any };

const LONG = 'L'.repeat(320);
const CATEGORIES = ['tools', 'garden', 'kitchen', 'toys', 'Tools', 'tool', 'é-cat', '😀emoji', '', `${LONG}a`, `${LONG}b`, null, undefined];
const PRICES = [0, 1.5, 9.99, 10, 10, 20, 100, -5, 49.5, 1e6, 0.1, 3];
const STATUSES = ['DRAFT', 'ACTIVE', 'DISCONTINUED'];
const COLORS = [5, '5', 'green', true, 'true', null];

/** 90 products covering duplicates, nulls, absent attributes, empty lists, long and non-ASCII text. */
function products(): Rec[] {
  const out: Rec[] = [];
  for (let i = 0; i < 90; i++) {
    const r: Rec = { id: `p${String(i).padStart(3, '0')}`, name: `Product ${i}`, price: PRICES[i % PRICES.length], status: STATUSES[i % 3] };
    const category = CATEGORIES[i % CATEGORIES.length];
    if (category !== undefined) r.category = category;
    const t = i % 5;
    if (t === 1) r.tags = [];
    else if (t === 2) r.tags = ['red'];
    else if (t === 3) r.tags = ['red', 'blue'];
    else if (t === 4) r.tags = ['blue', `t${i % 7}`];
    if (i % 4 === 0) r.stock = null;
    else if (i % 4 !== 3) r.stock = i % 11;
    if (i % 6 === 0) r.dimensions = { width: i % 9, height: 2 };
    if (i % 8 < COLORS.length) r.color = COLORS[i % 8];
    out.push(r);
  }
  return out;
}

const DATA = products();

/** Code-point string order, as the server promises (no U+E000–U+FFFF in the data, so `<` agrees). */
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const isStr = (v: unknown): v is string => typeof v === 'string';
const absent = (v: unknown) => v === null || v === undefined;

/** Query → the predicate that says which records it must return. */
const CASES: Array<[string, (r: Rec) => boolean]> = [
  // Equality, typed: the value is converted to the attribute's type.
  ['category=tools', (r) => r.category === 'tools'],
  ['category=Tools', (r) => r.category === 'Tools'],
  ['category=', (r) => r.category === ''],
  [`category=${encodeURIComponent('é-cat')}`, (r) => r.category === 'é-cat'],
  [`category=${encodeURIComponent('😀emoji')}`, (r) => r.category === '😀emoji'],
  [`category=${LONG}a`, (r) => r.category === `${LONG}a`],
  ['category=eq=garden', (r) => r.category === 'garden'],
  ['category==garden', (r) => r.category === 'garden'],
  ['category=equals=garden', (r) => r.category === 'garden'],
  ['price=10', (r) => r.price === 10],
  ['price=10.0', (r) => r.price === 10],
  ['price=-5', (r) => r.price === -5],
  ['price=1e6', (r) => r.price === 1e6],
  ['price=0', (r) => r.price === 0],
  ['price=-0', (r) => r.price === 0],
  ['price=.1', (r) => r.price === 0.1],
  ['price=number:10', (r) => r.price === 10],
  ['status=ACTIVE', (r) => r.status === 'ACTIVE'],
  ['stock=3', (r) => r.stock === 3],
  ['id=p005', (r) => r.id === 'p005'],
  // null: null or absent; != null: present.
  ['category=null', (r) => absent(r.category)],
  ['category!=null', (r) => !absent(r.category)],
  ['stock=null', (r) => absent(r.stock)],
  ['tags=null', (r) => absent(r.tags)],
  ['dimensions=null', (r) => absent(r.dimensions)],
  ['dimensions!=null', (r) => !absent(r.dimensions)],
  // Not equal: the negation of equal (absent values are not equal; on a list, no element equals).
  ['category=ne=tools', (r) => r.category !== 'tools'],
  ['category!=tools', (r) => r.category !== 'tools'],
  ['category=not_equal=tools', (r) => r.category !== 'tools'],
  ['price!=10', (r) => r.price !== 10],
  ['status=ne=DRAFT', (r) => r.status !== 'DRAFT'],
  ['tags!=red', (r) => !(r.tags ?? []).includes('red')],
  ['stock!=3', (r) => r.stock !== 3],
  // Ranges on numbers (indexed price, scanned stock).
  ['price=gt=10', (r) => r.price > 10],
  ['price=ge=10', (r) => r.price >= 10],
  ['price=lt=10', (r) => r.price < 10],
  ['price=le=10', (r) => r.price <= 10],
  ['price=greater_than=20', (r) => r.price > 20],
  ['price=lessThanEqual=1.5', (r) => r.price <= 1.5],
  ['price=ge=1.5&price=le=20', (r) => r.price >= 1.5 && r.price <= 20],
  ['price=gt=1.5&price=lt=20', (r) => r.price > 1.5 && r.price < 20],
  ['price=gt=20&price=lt=10', () => false],
  ['stock=gt=5', (r) => typeof r.stock === 'number' && r.stock > 5],
  ['stock=le=0', (r) => typeof r.stock === 'number' && r.stock <= 0],
  ['dimensions.width=gt=4', (r) => (r.dimensions?.width ?? -Infinity) > 4],
  ['dimensions.width=0', (r) => r.dimensions?.width === 0],
  // Ranges on text and enums compare by code point; they never match null or absent.
  ['category=gt=tool', (r) => isStr(r.category) && cmp(r.category, 'tool') > 0],
  ['category=ge=tool', (r) => isStr(r.category) && cmp(r.category, 'tool') >= 0],
  ['category=lt=kitchen', (r) => isStr(r.category) && cmp(r.category, 'kitchen') < 0],
  ['category=le=kitchen', (r) => isStr(r.category) && cmp(r.category, 'kitchen') <= 0],
  ['category=ge=a&category=lt=u', (r) => isStr(r.category) && r.category >= 'a' && r.category < 'u'],
  [`category=gt=${LONG}a`, (r) => isStr(r.category) && cmp(r.category, `${LONG}a`) > 0],
  [`category=lt=${LONG}b`, (r) => isStr(r.category) && cmp(r.category, `${LONG}b`) < 0],
  ['status=gt=ACTIVE', (r) => r.status > 'ACTIVE'],
  ['status=le=DISCONTINUED', (r) => r.status <= 'DISCONTINUED'],
  ['id=gt=p070', (r) => r.id > 'p070'],
  // Text operators: contains, starts with (also Harper's trailing *), ends with.
  ['category=ct=oo', (r) => isStr(r.category) && r.category.includes('oo')],
  ['category=contains=arde', (r) => isStr(r.category) && r.category.includes('arde')],
  ['category=sw=to', (r) => isStr(r.category) && r.category.startsWith('to')],
  ['category=sw=', (r) => isStr(r.category)],
  ['category==to*', (r) => isStr(r.category) && r.category.startsWith('to')],
  ['category=eq=ga*', (r) => isStr(r.category) && r.category.startsWith('ga')],
  [`category=sw=${LONG}`, (r) => isStr(r.category) && r.category.startsWith(LONG)],
  ['category=ew=s', (r) => isStr(r.category) && r.category.endsWith('s')],
  ['category=ends_with=en', (r) => isStr(r.category) && r.category.endsWith('en')],
  ['name=ct=uct%201', (r) => r.name.includes('uct 1')],
  ['status=sw=D', (r) => r.status.startsWith('D')],
  ['id=sw=p00', (r) => r.id.startsWith('p00')],
  // Lists: any element matches.
  ['tags=red', (r) => (r.tags ?? []).includes('red')],
  ['tags=blue', (r) => (r.tags ?? []).includes('blue')],
  ['tags=t3', (r) => (r.tags ?? []).includes('t3')],
  ['tags=ct=lu', (r) => (r.tags ?? []).some((t: string) => t.includes('lu'))],
  ['tags=sw=t', (r) => (r.tags ?? []).some((t: string) => t.startsWith('t'))],
  ['tags=ew=d', (r) => (r.tags ?? []).some((t: string) => t.endsWith('d'))],
  ['tags=gt=r', (r) => (r.tags ?? []).some((t: string) => t > 'r')],
  ['tags=red&tags=blue', (r) => (r.tags ?? []).includes('red') && (r.tags ?? []).includes('blue')],
  // Untyped (undeclared) attributes match loosely; strict === compares text; prefixes ask for a type.
  ['color=5', (r) => r.color === 5 || r.color === '5'],
  ['color===5', (r) => r.color === '5'],
  ['color=number:5', (r) => r.color === 5],
  ['color=string:5', (r) => r.color === '5'],
  ['color=true', (r) => r.color === true || r.color === 'true'],
  ['color=boolean:true', (r) => r.color === true],
  ['color=null', (r) => absent(r.color) || r.color === 'null'],
  ['color=green', (r) => r.color === 'green'],
  ['color!=5', (r) => !(r.color === 5 || r.color === '5')],
  ['color=gt=4', (r) => (typeof r.color === 'number' && r.color > 4) || (isStr(r.color) && r.color > '4')],
  ['color=ct=ree', (r) => isStr(r.color) && r.color.includes('ree')],
  ['nothing=1', () => false],
  // AND, OR and groups.
  ['category=tools&price=gt=5', (r) => r.category === 'tools' && r.price > 5],
  ['status=ACTIVE&tags=red&stock=gt=2', (r) => r.status === 'ACTIVE' && (r.tags ?? []).includes('red') && r.stock > 2],
  ['category=tools|category=garden', (r) => r.category === 'tools' || r.category === 'garden'],
  ['category=tools|price=gt=100', (r) => r.category === 'tools' || r.price > 100],
  ['category=tools|stock=3', (r) => r.category === 'tools' || r.stock === 3],
  ['category=null|price=lt=1', (r) => absent(r.category) || r.price < 1],
  ['[category=tools|category=garden]&price=lt=10', (r) => (r.category === 'tools' || r.category === 'garden') && r.price < 10],
  ['price=lt=1|[status=DRAFT&tags=red]', (r) => r.price < 1 || (r.status === 'DRAFT' && (r.tags ?? []).includes('red'))],
  ['price=lt=1|(status=DRAFT&tags=red)', (r) => r.price < 1 || (r.status === 'DRAFT' && (r.tags ?? []).includes('red'))],
  ['[[category=tools|category=toys]&[status=ACTIVE|status=DRAFT]]|id=p001', (r) => ((r.category === 'tools' || r.category === 'toys') && r.status !== 'DISCONTINUED') || r.id === 'p001'],
  ['category=tools&category=garden', () => false],
  ['[category=tools]', (r) => r.category === 'tools'],
  // Harper's range chains: the documented `&lt=` form and Harper's own `&=lt=`, either way round.
  ['price=gt=1.5&lt=20', (r) => r.price > 1.5 && r.price < 20],
  ['price=ge=1.5&le=20', (r) => r.price >= 1.5 && r.price <= 20],
  ['price=lt=20&gt=1.5', (r) => r.price > 1.5 && r.price < 20],
  ['price=gt=1.5&=lt=20', (r) => r.price > 1.5 && r.price < 20],
  ['price=gt=20&lt=10', () => false],
  ['category=ge=a&lt=u', (r) => isStr(r.category) && r.category >= 'a' && r.category < 'u'],
  ['status=ACTIVE&stock=gt=1&le=5', (r) => r.status === 'ACTIVE' && typeof r.stock === 'number' && r.stock > 1 && r.stock <= 5],
  ['dimensions.width=ge=2&le=5', (r) => (r.dimensions?.width ?? -1) >= 2 && r.dimensions.width <= 5],
  ['[price=gt=0&lt=3]|category=tools', (r) => (r.price > 0 && r.price < 3) || r.category === 'tools'],
  // Lists: =in= (any value), =not_in= (none of them, absent included, as !=), =between= (both bounds included).
  ['price=in=(10,20,-5)', (r) => [10, 20, -5].includes(r.price)],
  ['price=in=10,20', (r) => r.price === 10 || r.price === 20],
  ['price=in=(3)', (r) => r.price === 3],
  ['category=in=(tools,garden,null)', (r) => r.category === 'tools' || r.category === 'garden' || absent(r.category)],
  [`category=in=(${encodeURIComponent('é-cat')},a%2Cb)`, (r) => r.category === 'é-cat' || r.category === 'a,b'],
  ['status=in=(DRAFT,DISCONTINUED)&price=lt=10', (r) => r.status !== 'ACTIVE' && r.price < 10],
  ['tags=in=(red,t3)', (r) => (r.tags ?? []).some((t: string) => t === 'red' || t === 't3')],
  ['color=in=(5,green)', (r) => r.color === 5 || r.color === '5' || r.color === 'green'],
  ['status=not_in=(DRAFT,ACTIVE)', (r) => r.status === 'DISCONTINUED'],
  ['category=not_in=(tools,garden)', (r) => r.category !== 'tools' && r.category !== 'garden'],
  ['tags=not_in=(red,blue)', (r) => !(r.tags ?? []).some((t: string) => t === 'red' || t === 'blue')],
  ['price=between=(1.5,20)', (r) => r.price >= 1.5 && r.price <= 20],
  ['price=between=10,10', (r) => r.price === 10],
  ['price=between=(20,1.5)', () => false],
  ['category=between=(garden,tools)', (r) => isStr(r.category) && r.category >= 'garden' && r.category <= 'tools'],
  ['stock=between=(2,4)|price=in=(0,3)', (r) => (typeof r.stock === 'number' && r.stock >= 2 && r.stock <= 4) || r.price === 0 || r.price === 3],
  // Reserved parameters are never filters.
  ['category=tools&retained=false', (r) => r.category === 'tools'],
  ['stream=json&category=tools'.replace('stream=json&', ''), (r) => r.category === 'tools'],
];

/** Queries that the indexed table must answer from an index (and the plain table by scanning). */
const INDEXED = [
  'category=tools',
  'category=null',
  `category=${LONG}a`,
  'price=10',
  'price=-0',
  'price=ge=1.5&price=le=20',
  'category=gt=tool',
  'category=sw=to',
  'category==to*',
  'status=gt=ACTIVE',
  'tags=red',
  'tags=sw=t',
  'category=tools|price=gt=100',
  'category=tools&price=gt=5',
  '[category=tools|category=garden]&price=lt=10',
  'status=ACTIVE&tags=red&stock=gt=2',
  'price=gt=1.5&lt=20',
  'price=gt=1.5&=lt=20',
  'price=in=(10,20,-5)',
  'category=in=(tools,garden,null)',
  'price=between=(1.5,20)',
];

/** Harper's `>` `>=` `<` `<=`, sent raw as curl sends them (WHATWG URL parsing would percent-encode them). */
const RAW_CASES: Array<[string, (r: Rec) => boolean]> = [
  ['price>10', (r) => r.price > 10],
  ['price>=10', (r) => r.price >= 10],
  ['price<0', (r) => r.price < 0],
  ['price<=0', (r) => r.price <= 0],
  ['category>tool', (r) => isStr(r.category) && r.category > 'tool'],
  ['price>1.5&price<20', (r) => r.price > 1.5 && r.price < 20],
  // As fetch(), undici and browsers send them.
  ['price%3E10', (r) => r.price > 10],
  ['price%3e=10', (r) => r.price >= 10],
  ['price%3C0', (r) => r.price < 0],
  ['price%3C=0&category=tools', (r) => r.price <= 0 && r.category === 'tools'],
];

/** A record without the server-set times (written at different moments in the two tables). */
function strip(r: Rec): Rec {
  const { createdAt: _c, updatedAt: _u, ...rest } = r;
  return rest;
}

async function seededShop(t: TestContext): Promise<TestServer> {
  const s = await serve(t, { 'shop.graphql': SHOP_SDL, 'plain.graphql': PLAIN_SDL });
  // Written in a shuffled order, so key order is the server's doing.
  const shuffled = DATA.map((r, i) => ({ r, k: (i * 37) % DATA.length }))
    .sort((a, b) => a.k - b.k)
    .map(({ r }) => r);
  for (const table of ['product', 'plain']) {
    for (const r of shuffled) {
      const res = await s.req('POST', `/shop/${table}`, r);
      assert.equal(res.status, 201, res.text);
    }
  }
  return s;
}

/** GETs a query on both tables, asserts 200 and equal answers (times stripped), returns the answer. */
async function both(s: TestServer, q: string): Promise<unknown[]> {
  const [indexed, plain] = await Promise.all([s.req('GET', `/shop/product?${q}`), s.req('GET', `/shop/plain?${q}`)]);
  assert.equal(indexed.status, 200, `${q}: ${indexed.text.slice(0, 300)}`);
  assert.equal(plain.status, 200, `${q}: ${plain.text.slice(0, 300)}`);
  const norm = (body: unknown[]) => body.map((v) => (v && typeof v === 'object' && !Array.isArray(v) ? strip(v as Rec) : v));
  assert.deepEqual(norm(indexed.body), norm(plain.body), `${q}: the indexed and the plain table must agree`);
  return norm(indexed.body);
}

test('every operator answers as the reference predicate, with and without an index', async (t) => {
  const s = await seededShop(t);
  for (const [q, predicate] of CASES) {
    const got = (await both(s, q)) as Rec[];
    const expected = DATA.filter(predicate).map((r) => r.id);
    assert.deepEqual(
      got.map((r) => r.id),
      expected,
      `?${q}`,
    );
  }
  for (const [q, predicate] of RAW_CASES) {
    const answers = await Promise.all(
      ['product', 'plain'].map(async (table) => {
        const res = await agent.request({ origin: s.url, path: `/shop/${table}?${q}`, method: 'GET' });
        const text = await res.body.text();
        assert.equal(res.statusCode, 200, `${q}: ${text}`);
        return (JSON.parse(text) as Rec[]).map((r) => r.id);
      }),
    );
    assert.deepEqual(
      answers[0],
      DATA.filter(predicate).map((r) => r.id),
      `?${q} (indexed)`,
    );
    assert.deepEqual(answers[1], answers[0], `?${q} (plain)`);
  }
  // Make sure the comparison exercised both paths: index plans on product, scans on plain.
  const product = s.server.app.exported('shop', 'product')!;
  const plain = s.server.app.exported('shop', 'plain')!;
  for (const q of INDEXED) {
    assert.equal(planFilter(product.parseQuery(q).filter, product.handle.indexed).kind, 'index', `?${q} uses an index`);
    assert.equal(planFilter(plain.parseQuery(q).filter, plain.handle.indexed).kind, 'scan', `?${q} scans the plain table`);
  }
  // The cases hit records: not every answer is empty.
  assert.ok(CASES.filter(([, p]) => DATA.some(p)).length > CASES.length * 0.8);
});

/** Sorts like the server: nulls last both ways, ties in key order. */
function sorted(records: Rec[], keys: Array<[string, 1 | -1]>): Rec[] {
  return [...records].sort((a, b) => {
    for (const [k, dir] of keys) {
      const x = a[k];
      const y = b[k];
      if (absent(x) && absent(y)) continue;
      if (absent(x)) return 1;
      if (absent(y)) return -1;
      const c = typeof x === 'number' ? x - y : cmp(x, y);
      if (c !== 0) return c * dir;
    }
    return cmp(a.id, b.id);
  });
}

test('sort(): ascending, descending, several keys, nulls last, ties in key order', async (t) => {
  const s = await seededShop(t);
  const ids = (rs: Rec[]) => rs.map((r) => r.id);
  assert.deepEqual(ids((await both(s, 'sort(price)')) as Rec[]), ids(sorted(DATA, [['price', 1]])));
  assert.deepEqual(ids((await both(s, 'sort(+price)')) as Rec[]), ids(sorted(DATA, [['price', 1]])));
  assert.deepEqual(ids((await both(s, 'sort(%2Bprice)')) as Rec[]), ids(sorted(DATA, [['price', 1]])));
  assert.deepEqual(ids((await both(s, 'sort(-price)')) as Rec[]), ids(sorted(DATA, [['price', -1]])));
  assert.deepEqual(
    ids((await both(s, 'sort(-price,-id)')) as Rec[]),
    ids(
      sorted(DATA, [
        ['price', -1],
        ['id', -1],
      ]),
    ),
  );
  assert.deepEqual(
    ids((await both(s, 'sort(status,-stock)')) as Rec[]),
    ids(
      sorted(DATA, [
        ['status', 1],
        ['stock', -1],
      ]),
    ),
  );
  const byCategory = (await both(s, 'sort(category)')) as Rec[];
  assert.deepEqual(ids(byCategory), ids(sorted(DATA, [['category', 1]])));
  assert.ok(absent(byCategory.at(-1)!.category), 'null and absent sort last');
  const byCategoryDesc = (await both(s, 'sort(-category)')) as Rec[];
  assert.ok(absent(byCategoryDesc.at(-1)!.category), 'also when descending');
  assert.equal(byCategoryDesc[0]!.category, '😀emoji', 'by code point, U+1F600 is above U+00E9');
  // Filter, then sort.
  assert.deepEqual(
    ids((await both(s, 'tags=red&sort(-price)')) as Rec[]),
    ids(
      sorted(
        DATA.filter((r) => r.tags?.includes('red')),
        [['price', -1]],
      ),
    ),
  );
});

test('limit(): a count, a start and end, zero; after filter and sort', async (t) => {
  const s = await seededShop(t);
  const all = DATA.map((r) => r.id).sort(cmp);
  const ids = async (q: string) => ((await both(s, q)) as Rec[]).map((r) => r.id);
  assert.deepEqual(await ids('limit(5)'), all.slice(0, 5));
  assert.deepEqual(await ids('limit(5,12)'), all.slice(5, 12));
  assert.deepEqual(await ids('limit(85,200)'), all.slice(85));
  assert.deepEqual(await ids('limit(0)'), []);
  assert.deepEqual(await ids('limit(3,3)'), []);
  const tools = DATA.filter((r) => isStr(r.category) && r.category.startsWith('to')).map((r) => r.id);
  assert.deepEqual(await ids('category=sw=to&limit(2)'), tools.slice(0, 2));
  assert.deepEqual(await ids('category=sw=to&limit(2,4)'), tools.slice(2, 4));
  assert.deepEqual(
    await ids('sort(-price)&limit(3)'),
    sorted(DATA, [['price', -1]])
      .slice(0, 3)
      .map((r) => r.id),
  );
  assert.deepEqual(
    await ids('price=lt=10&sort(-price)&limit(1,3)'),
    sorted(
      DATA.filter((r) => r.price < 10),
      [['price', -1]],
    )
      .slice(1, 3)
      .map((r) => r.id),
  );
});

test('select(): bare values, objects, one-attribute objects, arrays; after sort and limit', async (t) => {
  const s = await seededShop(t);
  const first = DATA.slice(0, 3);
  assert.deepEqual(
    await both(s, 'limit(3)&select(id)'),
    first.map((r) => r.id),
  );
  assert.deepEqual(
    await both(s, 'limit(3)&select(id,price)'),
    first.map((r) => ({ id: r.id, price: r.price })),
  );
  assert.deepEqual(
    await both(s, 'limit(3)&select(price,)'),
    first.map((r) => ({ price: r.price })),
  );
  assert.deepEqual(
    await both(s, 'limit(3)&select([id,price])'),
    first.map((r) => [r.id, r.price]),
  );
  // Absent attributes: left out of objects, null in arrays, null as bare JSON values.
  const absentCat = DATA.find((r) => !('category' in r))!;
  assert.deepEqual(await both(s, `id=${absentCat.id}&select(id,category)`), [{ id: absentCat.id }]);
  assert.deepEqual(await both(s, `id=${absentCat.id}&select([id,category])`), [[absentCat.id, null]]);
  assert.deepEqual(await both(s, `id=${absentCat.id}&select(category)`), [null]);
  // Sorting by an attribute that is not selected.
  const cheapest = sorted(DATA, [['price', 1]]).slice(0, 4);
  assert.deepEqual(
    await both(s, 'sort(price)&limit(4)&select(name)'),
    cheapest.map((r) => r.name),
  );
  assert.deepEqual(
    await both(s, 'category=tools&sort(-price)&limit(2)&select(id,price)'),
    sorted(
      DATA.filter((r) => r.category === 'tools'),
      [['price', -1]],
    )
      .slice(0, 2)
      .map((r) => ({ id: r.id, price: r.price })),
  );
});

test('DELETE with a query deletes the same records from the indexed and the plain table', async (t) => {
  const s = await seededShop(t);
  let remaining = DATA;
  for (const [q, predicate] of [
    ['category=sw=to&price=lt=20', (r: Rec) => isStr(r.category) && r.category.startsWith('to') && r.price < 20],
    ['tags=blue|category=null', (r: Rec) => (r.tags ?? []).includes('blue') || absent(r.category)],
  ] as const) {
    const expected = remaining.filter(predicate).length;
    remaining = remaining.filter((r) => !predicate(r));
    assert.ok(expected > 0);
    const a = await s.req('DELETE', `/shop/product?${q}`);
    const b = await s.req('DELETE', `/shop/plain?${q}`);
    assert.deepEqual([a.status, a.body], [200, { deleted: expected }], q);
    assert.deepEqual([b.status, b.body], [200, { deleted: expected }], q);
    // The indexes were maintained: the same query now finds nothing either way.
    assert.deepEqual(await both(s, q), []);
  }
  assert.deepEqual(
    ((await both(s, '')) as Rec[]).map((r) => r.id),
    remaining.map((r) => r.id),
  );
});

test('answers follow writes: replace and patch move records in and out of indexed results', async (t) => {
  const s = await seededShop(t);
  for (const table of ['product', 'plain']) {
    await s.req('PATCH', `/shop/${table}/p000`, { category: 'moved', tags: ['green'], price: 77 });
    await s.req('PUT', `/shop/${table}/p001`, { name: 'Replaced', price: 77, status: 'DRAFT' });
    await s.req('DELETE', `/shop/${table}/p002`);
  }
  assert.deepEqual((await both(s, 'price=77&select(id)')) as string[], ['p000', 'p001']);
  assert.deepEqual((await both(s, 'category=moved&select(id)')) as string[], ['p000']);
  assert.deepEqual((await both(s, 'tags=green&select(id)')) as string[], ['p000']);
  assert.ok(!((await both(s, 'tags=red&select(id)')) as string[]).includes('p002'));
  assert.ok(((await both(s, 'category=null&select(id)')) as string[]).includes('p001'), 'a replaced record without category is indexed as null');
});

/** 700 products (several chunks of a streamed answer), written out of key order through the service. */
async function bigShop(t: TestContext, options: { maxQueryTerms?: number; maxSortRecords?: number } = {}): Promise<{ s: TestServer; data: Rec[] }> {
  const s = await serve(t, { 'shop.graphql': SHOP_SDL }, options);
  const service = s.server.app.exported('shop', 'product')!;
  const data: Rec[] = Array.from({ length: 700 }, (_, i) => ({
    id: `b${String((i * 389) % 700).padStart(4, '0')}`,
    name: `Big ${i}`,
    category: `c${i % 30}`,
    price: (i * 7) % 101,
    status: STATUSES[i % 3],
    ...(i % 4 === 0 ? {} : { stock: i % 9 }),
  }));
  await Promise.all(data.map((r) => service.create(r)));
  data.sort((a, b) => cmp(a.id, b.id));
  return { s, data };
}

test('long answers stream their JSON array: the same records, order, limit, offset and select as a short answer', async (t) => {
  const { s, data } = await bigShop(t);
  const get = async (q: string) => {
    const res = await s.req('GET', `/shop/product${q ? `?${q}` : ''}`);
    assert.equal(res.status, 200, `${q}: ${res.text.slice(0, 200)}`);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8', q);
    return res;
  };
  const all = await get('');
  assert.equal(all.headers['content-length'], undefined, 'a long answer is streamed (no Content-Length)');
  assert.deepEqual(
    all.body.map((r: Rec) => r.id),
    data.map((r) => r.id),
  );
  assert.deepEqual(strip(all.body[123]), data[123]);
  const short = await get('limit(3)');
  assert.ok(Number(short.headers['content-length']) > 0, 'a short answer is sent whole');
  assert.deepEqual(
    short.body.map((r: Rec) => r.id),
    data.slice(0, 3).map((r) => r.id),
  );

  assert.deepEqual(
    (await get('select(id)')).body,
    data.map((r) => r.id),
  );
  assert.deepEqual(
    (await get('limit(100,650)&select(id)')).body,
    data.slice(100, 650).map((r) => r.id),
  );
  assert.deepEqual(
    (await get('select([id,stock])')).body,
    data.map((r) => [r.id, r.stock ?? null]),
  );
  assert.deepEqual(
    (await get('select(stock)')).body,
    data.map((r) => r.stock ?? null),
    'absent bare values are null',
  );
  const byPrice = sorted(data, [['price', -1]]);
  assert.deepEqual(
    (await get('sort(-price)&select(id,price)')).body,
    byPrice.map((r) => ({ id: r.id, price: r.price })),
  );
  assert.deepEqual(
    (await get('sort(-price)&limit(10,600)&select(id)')).body,
    byPrice.slice(10, 600).map((r) => r.id),
  );
  const cheap = data.filter((r) => r.price < 80);
  assert.deepEqual(
    (await get('price=lt=80&select(id)')).body,
    cheap.map((r) => r.id),
    'an index range over many values, in key order',
  );
  assert.deepEqual(
    (await get('price=lt=80|stock=3&limit(7,400)&select(id)')).body,
    data
      .filter((r) => r.price < 80 || r.stock === 3)
      .slice(7, 400)
      .map((r) => r.id),
  );
  assert.deepEqual(
    (await get('category=sw=c1|category=sw=c1|category=c2&select(id)')).body,
    data.filter((r) => r.category.startsWith('c1') || r.category === 'c2').map((r) => r.id),
  );

  // HEAD: the headers of the GET without reading; a bad query is still a 400.
  const stats = s.server.app.exported('shop', 'product')!.handle.stats;
  const readBefore = stats.recordsRead;
  const head = await s.req('HEAD', '/shop/product?sort(-price)');
  assert.equal(stats.recordsRead, readBefore, 'HEAD read no record');
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(head.text, '');
  assert.equal((await s.req('HEAD', '/shop/product?price=zz=1')).status, 400);
});

test('maxQueryTerms (default 100) caps the conditions of a query: QUERY_TOO_COMPLEX names the cap and the setting', async (t) => {
  const s = await serve(t, { 'shop.graphql': SHOP_SDL });
  const terms = (n: number) => Array.from({ length: n }, (_, i) => `category=c${i}`).join('|');
  assert.equal((await s.req('GET', `/shop/product?${terms(100)}`)).status, 200);
  const refused = assertError(await s.req('GET', `/shop/product?${terms(101)}&limit(1)`), 400, 'QUERY_TOO_COMPLEX');
  assert.match(refused.message, /more than 100 conditions/);
  assert.match(refused.message, /maxQueryTerms/);
  assertError(await s.req('DELETE', `/shop/product?${terms(101)}`), 400, 'QUERY_TOO_COMPLEX');
  assertError(await s.req('GET', `/shop/product?[${terms(60)}]&[${terms(41)}]`), 400, 'QUERY_TOO_COMPLEX', 'conditions in groups count too');
});

test("Harper's forms the grammar cannot honour are 400s naming the problem, never a silent empty answer", async (t) => {
  const s = await serve(t, { 'shop.graphql': SHOP_SDL });
  await s.req('POST', '/shop/product', { id: 'p1', name: 'one', price: 30, status: 'ACTIVE' });
  assert.deepEqual((await s.req('GET', '/shop/product?price=gt=20&lt=50&select(id)')).body, ['p1'], "the issue's example answers, where it used to return []");
  const refused: Array<[string, RegExp]> = [
    ['lt=50', /'lt=' continues a range .* write lt==… to compare an attribute named lt at position 0/],
    ['category=tools&lt=50', /'lt=' cannot chain onto =eq=/],
    ['price=gt=20|lt=50', /'lt=' continues a range/],
    ['price=gt=20&gt=50', /'gt=' cannot chain onto =gt=/],
    ['price=gt=20&=ct=5', /'&=' chains a range operator onto the previous condition/],
    ['price=gt=20|=lt=50', /'\|=' chains are not supported/],
    ['price=in=()', /=in= on price needs at least one value/],
    ['price=between=(1,2,3)', /=between= on price takes two values.* got 3/],
    ['price=in=(1,x)', /invalid value 'x' for price \(Float\)/],
    ['price=in=(1,2', /unclosed '\(' of a value list/],
    ['price=not_gt=5', /unknown operator =not_gt=; the not_ forms are not_equal \(=ne=\) and not_in/],
    ['price=in=(1,2)x', /unexpected 'x' after a condition/],
  ];
  for (const [q, message] of refused) {
    const body = assertError(await s.req('GET', `/shop/product?${q}`), 400, 'QUERY_INVALID', q);
    assert.match(body.message, message, q);
  }
  // Every value of a list is a condition: maxQueryTerms (100 by default) bounds a list's length.
  const values = (n: number) => Array.from({ length: n }, (_, i) => i).join(',');
  assert.equal((await s.req('GET', `/shop/product?price=in=(${values(100)})`)).status, 200);
  assertError(await s.req('GET', `/shop/product?price=in=(${values(101)})`), 400, 'QUERY_TOO_COMPLEX', 'a list of 101 values');
  assertError(await s.req('GET', `/shop/product?price=not_in=(${values(99)})&category=ge=a&lt=b`), 400, 'QUERY_TOO_COMPLEX', 'a chain counts too');
});

test('a configured maxQueryTerms holds for GraphQL filter arguments; maxSortRecords caps a sort without a small limit', async (t) => {
  const { s } = await bigShop(t, { maxQueryTerms: 1, maxSortRecords: 500 });
  const gql = await s.req('POST', '/shop/graphql', { query: '{ product(category: "c1", status: ACTIVE) { id } }' });
  assert.equal(gql.body.errors?.[0]?.extensions?.code, 'QUERY_TOO_COMPLEX', gql.text);
  assert.equal((await s.req('POST', '/shop/graphql', { query: '{ product(category: "c1") { id } }' })).body.data.product.length, 24);

  const sort = assertError(await s.req('GET', '/shop/product?sort(price)'), 400, 'QUERY_TOO_COMPLEX');
  assert.match(sort.message, /500 records/);
  assert.match(sort.message, /maxSortRecords/);
  assert.equal((await s.req('GET', '/shop/product?sort(price)&limit(20)')).body.length, 20);
  assert.equal((await s.req('GET', '/shop/product?status=ACTIVE&sort(price)')).body.length, 233, 'fewer matches than the cap');
});

test('a client that disconnects in the middle of a streamed answer stops the read', async (t) => {
  const s = await serve(t, { 'shop.graphql': SHOP_SDL });
  const service = s.server.app.exported('shop', 'product')!;
  const text = 'x'.repeat(4000);
  await Promise.all(Array.from({ length: 4000 }, (_, i) => service.create({ id: `d${String(i).padStart(4, '0')}`, name: text, price: i, status: 'ACTIVE' })));
  const before = service.handle.stats.recordsRead;
  const controller = new AbortController();
  const res = await fetch(`${s.url}/shop/product`, { signal: controller.signal });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  await reader.read(); // the first bytes arrived; the 16 MB answer is far from sent
  controller.abort();
  await reader.read().catch(() => undefined);
  await new Promise((r) => setTimeout(r, 300));
  const read = service.handle.stats.recordsRead - before;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(service.handle.stats.recordsRead - before, read, 'nothing more is read once the client is gone');
  assert.ok(read < 4000, `the read stopped early (${read} of 4000 records read)`);
  // The server is fine and answers the next read whole.
  assert.equal((await s.req('GET', '/shop/product?limit(3990,4000)&select(id)')).body.length, 10);
});

/**
 * SPEC §5, issue #4 (2, 4): GraphQL queries in Harper's shape, mutations through the same table
 * services as REST (checked by reading the results back over REST), AppError codes and statuses in
 * `extensions`, GraphQL validation errors per the GraphQL-over-HTTP spec, and masked internal errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { MESSAGE_SDL, schemaDir, startServer, type Res, type TestServer } from '../helpers/server.ts';
import { gql } from '../helpers/graphql.ts';

const SHOP_SDL = `
enum Status {
  DRAFT
  ACTIVE
  DISCONTINUED
}

type Dimensions @sealed {
  width: Float!
  height: Float!
  depth: Float
}

type Product @table(database: "shop") @export(name: "product") {
  id: ID! @primaryKey
  name: String!
  category: String @indexed
  price: Float! @indexed
  status: Status! @indexed
  tags: [String!] @indexed
  dimensions: Dimensions
  stock: Int
  weight: BigInt
  image: Bytes
  meta: Any
  active: Boolean
  createdAt: Long @createdTime
  updatedAt: Date @updatedTime
}

type Order @table(database: "shop") @export(name: "order") @sealed {
  id: Int @primaryKey
  customerEmail: String! @indexed
  total: Float!
}
`;

let t: TestServer;
let schemas: string;
const logs: string[] = [];
let demoUrl: string;
let shopUrl: string;

before(async () => {
  schemas = schemaDir({ 'message.graphql': MESSAGE_SDL, 'shop.graphql': SHOP_SDL });
  // Errors are logged so the masked-error test can see the cause reach the log (and not the client).
  const logStream = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  t = await startServer({ schemas, logLevel: 'error', logStream });
  demoUrl = `${t.url}/realtime-demo/graphql`;
  shopUrl = `${t.url}/shop/graphql`;
  const products = [
    { id: 'p1', name: 'Hammer', category: 'tools', price: 12.5, status: 'ACTIVE', tags: ['steel'], stock: 3, active: true, weight: '123456789012345678901234567890' },
    { id: 'p2', name: 'Nail', category: 'null', price: 0.1, status: 'ACTIVE', stock: 1000, active: false },
    { id: 'p3', name: 'Saw', price: 30, status: 'DRAFT' },
    { id: 'p4', name: 'Drill', category: 'tools', price: 99, status: 'DISCONTINUED', dimensions: { width: 1, height: 2 } },
    { id: 'p5', name: 'Glue', category: 'supplies', price: 4, status: 'ACTIVE' },
  ];
  for (const p of products) assert.equal((await t.req('POST', '/shop/product', p)).status, 201);
  for (const m of [
    { id: 'msg-1', title: 'Hello', content: 'World' },
    { id: 'msg-2', title: 'null', content: 'a title that is the text null' },
  ]) {
    assert.equal((await t.req('POST', '/realtime-demo/message', m)).status, 201);
  }
});
after(async () => {
  await t?.close();
  rmSync(schemas, { recursive: true, force: true });
});

/** The data of a successful response. */
function dataOf(res: Res): any {
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.errors, undefined, res.text);
  return res.body.data;
}

/** The single AppError of a failed operation: code, status in extensions and on the response. */
function appErrorOf(res: Res, code: string, status: number): { message: string; extensions: any } {
  assert.equal(res.body.errors?.length, 1, res.text);
  const [error] = res.body.errors;
  assert.equal(error.extensions?.code, code, res.text);
  assert.deepEqual(error.extensions?.http, { status }, res.text);
  assert.equal(res.status, status, res.text);
  assert.ok(Array.isArray(error.path), 'a field error has a path');
  return error;
}

const ids = (rows: Array<{ id: string }>) => rows.map((r) => r.id);

describe('queries', () => {
  test('message(id:) returns a list of at most one, seed 000 style', async () => {
    const data = dataOf(await gql(demoUrl, '{ message(id: "msg-1") { id title content } none: message(id: "nope") { id } }'));
    assert.deepEqual(data, { message: [{ id: 'msg-1', title: 'Hello', content: 'World' }], none: [] });
  });

  test('no arguments: every record in key order', async () => {
    assert.deepEqual(ids(dataOf(await gql(shopUrl, '{ product { id } }')).product), ['p1', 'p2', 'p3', 'p4', 'p5']);
  });

  test('equality arguments of each type, combined with AND', async () => {
    const data = dataOf(
      await gql(
        shopUrl,
        `{
          category: product(category: "tools") { id }
          float: product(price: 0.1) { id }
          enum: product(status: ACTIVE) { id }
          int: product(stock: 1000) { id }
          bool: product(active: false) { id }
          big: product(weight: "123456789012345678901234567890") { id }
          both: product(category: "tools", status: ACTIVE) { id }
          none: product(category: "tools", status: DRAFT) { id }
        }`,
      ),
    );
    assert.deepEqual(Object.fromEntries(Object.entries(data).map(([k, v]) => [k, ids(v as Array<{ id: string }>)])), {
      category: ['p1', 'p4'],
      float: ['p2'],
      enum: ['p1', 'p2', 'p5'],
      int: ['p2'],
      bool: ['p2'],
      big: ['p1'],
      both: ['p1'],
      none: [],
    });
  });

  test('equality on server-set times: Long (epoch ms) and Date (ISO string)', async () => {
    const p1 = (await t.req('GET', '/shop/product/p1')).body;
    const data = dataOf(await gql(shopUrl, 'query($c: Long, $u: Date) { long: product(createdAt: $c) { id } date: product(updatedAt: $u) { id } }', { c: p1.createdAt, u: p1.updatedAt }));
    assert.ok(ids(data.long).includes('p1'), JSON.stringify(data));
    assert.ok(ids(data.date).includes('p1'), JSON.stringify(data));
    const rest = await t.req('GET', `/shop/product/?createdAt=${p1.createdAt}`);
    assert.deepEqual(ids(data.long), ids(rest.body));
  });

  test('a string "null" matches the text null, not missing values; a GraphQL null matches missing values', async () => {
    const data = dataOf(await gql(shopUrl, '{ text: product(category: "null") { id category } missing: product(category: null) { id } }'));
    assert.deepEqual(data.text, [{ id: 'p2', category: 'null' }]);
    assert.deepEqual(ids(data.missing), ['p3']);
    const titled = dataOf(await gql(demoUrl, '{ message(title: "null") { id } }'));
    assert.deepEqual(ids(titled.message), ['msg-2']);
    // The same through variables.
    const viaVars = dataOf(await gql(shopUrl, 'query($c: String) { product(category: $c) { id } }', { c: 'null' }));
    assert.deepEqual(ids(viaVars.product), ['p2']);
  });

  test('limit, offset and sort (ascending, descending, several keys)', async () => {
    const data = dataOf(
      await gql(
        shopUrl,
        `{
          cheapest: product(sort: ["price"], limit: 2) { id }
          page2: product(sort: ["price"], limit: 2, offset: 2) { id }
          desc: product(sort: ["-price"]) { id }
          plus: product(sort: ["+price"], limit: 1) { id }
          offsetOnly: product(offset: 3) { id }
          multi: product(sort: ["status", "-price"]) { id }
          filtered: product(category: "tools", sort: ["-price"], limit: 1) { id }
          zero: product(limit: 0) { id }
        }`,
      ),
    );
    assert.deepEqual(ids(data.cheapest), ['p2', 'p5']);
    assert.deepEqual(ids(data.page2), ['p1', 'p3']);
    assert.deepEqual(ids(data.desc), ['p4', 'p3', 'p1', 'p5', 'p2']);
    assert.deepEqual(ids(data.plus), ['p2']);
    assert.deepEqual(ids(data.offsetOnly), ['p4', 'p5']);
    // Enum values sort as text: ACTIVE < DISCONTINUED < DRAFT.
    assert.deepEqual(ids(data.multi), ['p1', 'p5', 'p2', 'p4', 'p3']);
    assert.deepEqual(ids(data.filtered), ['p4']);
    assert.deepEqual(data.zero, []);
  });

  test('a sort entry is an attribute path, never query grammar; a filter value is only a value', async () => {
    // Spliced into a query string, the sort entry below would have read as sort(+price)&limit(0).
    const data = dataOf(await gql(shopUrl, '{ spliced: product(sort: ["price)&limit(0"]) { id } value: product(category: "tools&category=misc") { id } }'));
    assert.deepEqual(ids(data.spliced).sort(), ['p1', 'p2', 'p3', 'p4', 'p5']);
    assert.deepEqual(data.value, []);
    const res = await gql(shopUrl, '{ product(sort: ["dimensions..width"]) { id } }');
    assert.match(res.body.errors[0].message, /sort needs attribute paths/);
    assert.equal(res.body.errors[0].extensions.code, 'QUERY_INVALID');
  });

  test('the same records as the equivalent REST query', async () => {
    const rest = await t.req('GET', '/shop/product/?status=ACTIVE&sort(-price)&limit(1,3)');
    assert.equal(rest.status, 200);
    const data = dataOf(await gql(shopUrl, '{ product(status: ACTIVE, sort: ["-price"], limit: 2, offset: 1) { id name category price status tags stock active weight } }'));
    const pick = (r: any) => ({
      id: r.id,
      name: r.name,
      category: r.category ?? null,
      price: r.price,
      status: r.status,
      tags: r.tags ?? null,
      stock: r.stock ?? null,
      active: r.active ?? null,
      weight: r.weight ?? null,
    });
    assert.deepEqual(data.product, rest.body.map(pick));
  });

  test('nested objects, lists and server-set times come back as stored', async () => {
    const data = dataOf(await gql(shopUrl, '{ product(id: "p4") { dimensions { width height depth } tags createdAt updatedAt } }'));
    const rest = (await t.req('GET', '/shop/product/p4')).body;
    assert.deepEqual(data.product, [{ dimensions: { width: 1, height: 2, depth: null }, tags: null, createdAt: rest.createdAt, updatedAt: rest.updatedAt }]);
    assert.equal(typeof rest.createdAt, 'number');
    assert.match(rest.updatedAt, /^\d{4}-\d\d-\d\dT/);
  });

  test('a query can be sent as GET with query parameters', async () => {
    const q = encodeURIComponent('query($id: ID) { message(id: $id) { id } }');
    const v = encodeURIComponent(JSON.stringify({ id: 'msg-1' }));
    const res = await t.req('GET', `/realtime-demo/graphql?query=${q}&variables=${v}`, undefined, { accept: 'application/json' });
    assert.deepEqual(dataOf(res), { message: [{ id: 'msg-1' }] });
  });
});

describe('mutations, read back over REST', () => {
  test('createMessage stores the record; REST serves it', async () => {
    const data = dataOf(await gql(demoUrl, 'mutation { createMessage(data: { id: "m-create", title: "T", content: "C" }) { id title content } }'));
    assert.deepEqual(data.createMessage, { id: 'm-create', title: 'T', content: 'C' });
    const rest = await t.req('GET', '/realtime-demo/message/m-create');
    assert.deepEqual(rest.body, { id: 'm-create', title: 'T', content: 'C' });
  });

  test('createMessage without a key generates one, as REST POST does', async () => {
    const data = dataOf(await gql(demoUrl, 'mutation($d: MessageInput!) { createMessage(data: $d) { id title } }', { d: { title: 'no key', content: 'x' } }));
    const id = data.createMessage.id as string;
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a UUID v7');
    assert.equal((await t.req('GET', `/realtime-demo/message/${id}`)).body.title, 'no key');
  });

  test('createProduct with an enum, a list, a nested input and the JSON scalar; server-set times', async () => {
    const data = dataOf(
      await gql(shopUrl, 'mutation($d: ProductInput!) { createProduct(data: $d) { id status tags dimensions { width height depth } meta createdAt updatedAt } }', {
        d: { id: 'p-new', name: 'Box', price: 2, status: 'DRAFT', tags: ['a', 'b'], dimensions: { width: 1, height: 2, depth: 3 }, meta: { nested: [1, { x: true }] } },
      }),
    );
    const rest = (await t.req('GET', '/shop/product/p-new')).body;
    assert.deepEqual(data.createProduct, {
      id: 'p-new',
      status: 'DRAFT',
      tags: ['a', 'b'],
      dimensions: { width: 1, height: 2, depth: 3 },
      meta: { nested: [1, { x: true }] },
      createdAt: rest.createdAt,
      updatedAt: rest.updatedAt,
    });
    assert.equal(rest.status, 'DRAFT');
    assert.deepEqual(rest.meta, { nested: [1, { x: true }] });
  });

  test('an Int-keyed table: generated next integer, mutations take the key as ID', async () => {
    const first = dataOf(await gql(shopUrl, 'mutation { createOrder(data: { customerEmail: "a@b.c", total: 1 }) { id } }')).createOrder.id as number;
    assert.equal(typeof first, 'number');
    const upd = dataOf(await gql(shopUrl, `mutation { updateOrder(id: "${first}", data: { total: 5 }) { id total } }`));
    assert.deepEqual(upd.updateOrder, { id: first, total: 5 });
    assert.deepEqual(dataOf(await gql(shopUrl, `{ order(id: ${first}) { total } }`)).order, [{ total: 5 }]);
    assert.equal((await t.req('GET', `/shop/order/${first}`)).body.total, 5);
  });

  test('replaceMessage replaces the whole record', async () => {
    await t.req('PUT', '/realtime-demo/message/m-replace', { title: 'old', content: 'old', extra: 'kept until replaced' });
    const data = dataOf(await gql(demoUrl, 'mutation { replaceMessage(id: "m-replace", data: { title: "new", content: "new" }) { id title content } }'));
    assert.deepEqual(data.replaceMessage, { id: 'm-replace', title: 'new', content: 'new' });
    assert.deepEqual((await t.req('GET', '/realtime-demo/message/m-replace')).body, { id: 'm-replace', title: 'new', content: 'new' });
  });

  test('replaceMessage on a missing key creates it, as REST PUT does', async () => {
    dataOf(await gql(demoUrl, 'mutation { replaceMessage(id: "m-put-new", data: { title: "t", content: "c" }) { id } }'));
    assert.deepEqual((await t.req('GET', '/realtime-demo/message/m-put-new')).body, { id: 'm-put-new', title: 't', content: 'c' });
  });

  test('updateMessage merges a patch', async () => {
    await t.req('PUT', '/realtime-demo/message/m-update', { title: 'old', content: 'stays' });
    const data = dataOf(await gql(demoUrl, 'mutation { updateMessage(id: "m-update", data: { title: "patched" }) { id title content } }'));
    assert.deepEqual(data.updateMessage, { id: 'm-update', title: 'patched', content: 'stays' });
    assert.deepEqual((await t.req('GET', '/realtime-demo/message/m-update')).body, { id: 'm-update', title: 'patched', content: 'stays' });
  });

  test('deleteMessage removes the record', async () => {
    await t.req('PUT', '/realtime-demo/message/m-delete', { title: 'x', content: 'y' });
    assert.deepEqual(dataOf(await gql(demoUrl, 'mutation { deleteMessage(id: "m-delete") }')), { deleteMessage: true });
    assert.equal((await t.req('GET', '/realtime-demo/message/m-delete')).status, 404);
  });

  test('publishMessage records a publish in the change log and stores nothing', async () => {
    const before = t.server.app.store.changeLog.head();
    assert.deepEqual(dataOf(await gql(demoUrl, 'mutation { publishMessage(id: "msg-1", message: { text: "typing…", n: 1 }) }')), { publishMessage: true });
    const entries = t.server.app.store.changeLog.readAfter(before);
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.op, 'publish');
    assert.equal(entries[0]!.key, 'msg-1');
    assert.deepEqual(entries[0]!.message, { text: 'typing…', n: 1 });
    assert.deepEqual((await t.req('GET', '/realtime-demo/message/msg-1')).body, { id: 'msg-1', title: 'Hello', content: 'World' });
  });

  test('mutations are refused over GET (no writes from links)', async () => {
    const q = encodeURIComponent('mutation { deleteMessage(id: "msg-1") }');
    const res = await t.req('GET', `/realtime-demo/graphql?query=${q}`, undefined, { accept: 'application/json' });
    assert.ok(res.status >= 400 && res.status < 500, res.text);
    assert.ok(res.body.errors?.length, res.text);
    assert.equal((await t.req('GET', '/realtime-demo/message/msg-1')).status, 200);
  });
});

describe('errors: AppError codes as REST reports them', () => {
  for (const accept of ['application/json', 'application/graphql-response+json']) {
    describe(`Accept: ${accept}`, () => {
      test('CONFLICT: creating an existing key', async () => {
        const res = await gql(demoUrl, 'mutation { createMessage(data: { id: "msg-1", title: "a", content: "b" }) { id } }', undefined, accept);
        appErrorOf(res, 'CONFLICT', 409);
        assert.equal(res.body.data, null);
        const rest = await t.req('POST', '/realtime-demo/message', { id: 'msg-1', title: 'a', content: 'b' });
        assert.equal(rest.status, 409);
        assert.equal(res.body.errors[0].message, rest.body.message, 'the same message as REST');
      });

      test('NOT_FOUND: updating, deleting a missing record', async () => {
        appErrorOf(await gql(demoUrl, 'mutation { updateMessage(id: "missing", data: { title: "x" }) { id } }', undefined, accept), 'NOT_FOUND', 404);
        const del = await gql(demoUrl, 'mutation { deleteMessage(id: "missing") }', undefined, accept);
        appErrorOf(del, 'NOT_FOUND', 404);
        assert.equal(del.body.errors[0].message, (await t.req('DELETE', '/realtime-demo/message/missing')).body.message);
      });

      test('VALIDATION_FAILED: the core validator rejects what GraphQL types let through, as on REST', async () => {
        // `title: null` is valid GraphQL for a patch; the record would lose a required attribute.
        const res = await gql(demoUrl, 'mutation { updateMessage(id: "msg-1", data: { title: null }) { id } }', undefined, accept);
        const error = appErrorOf(res, 'VALIDATION_FAILED', 400);
        const rest = await t.req('PATCH', '/realtime-demo/message/msg-1', { title: null });
        assert.equal(rest.status, 400);
        assert.equal(rest.body.code, 'VALIDATION_FAILED');
        assert.equal(error.message, rest.body.message);
        assert.deepEqual(error.extensions.details, rest.body.details);
        assert.equal((await t.req('GET', '/realtime-demo/message/msg-1')).body.title, 'Hello', 'nothing written');
      });

      test('VALIDATION_FAILED for a bad value in a permissive scalar (BigInt)', async () => {
        const res = await gql(shopUrl, 'mutation { createProduct(data: { id: "bad-big", name: "x", price: 1, status: DRAFT, weight: "not a number" }) { id } }', undefined, accept);
        appErrorOf(res, 'VALIDATION_FAILED', 400);
        assert.equal((await t.req('GET', '/shop/product/bad-big')).status, 404);
      });

      test('KEY_MISMATCH: a body key that differs from the id argument', async () => {
        appErrorOf(await gql(demoUrl, 'mutation { replaceMessage(id: "msg-1", data: { id: "other", title: "a", content: "b" }) { id } }', undefined, accept), 'KEY_MISMATCH', 400);
      });

      test('QUERY_INVALID: a negative limit or offset', async () => {
        appErrorOf(await gql(demoUrl, '{ message(limit: -1) { id } }', undefined, accept), 'QUERY_INVALID', 400);
        appErrorOf(await gql(demoUrl, '{ message(offset: -1) { id } }', undefined, accept), 'QUERY_INVALID', 400);
      });
    });
  }

  test('errors of several fields: every error keeps its own code', async () => {
    const res = await gql(demoUrl, 'mutation { a: createMessage(data: { id: "msg-1", title: "a", content: "b" }) { id } }');
    assert.equal(res.body.errors[0].path[0], 'a');
    assert.equal(res.body.errors[0].extensions.code, 'CONFLICT');
  });
});

describe('errors: GraphQL request errors per the GraphQL-over-HTTP spec', () => {
  /** application/json: 200 with errors; application/graphql-response+json: 400. Never a data entry. */
  async function requestError(url: string, body: unknown, pattern: RegExp, code?: string) {
    for (const [accept, status] of [
      ['application/json', 200],
      ['application/graphql-response+json', 400],
    ] as const) {
      const res = await t.req('POST', url.slice(t.url.length), body, { accept });
      assert.equal(res.status, status, `${accept}: ${res.text}`);
      assert.match(String(res.headers['content-type']), new RegExp(`^${accept.replace(/[+/]/g, '\\$&')}`));
      assert.equal('data' in res.body, false, res.text);
      assert.ok(res.body.errors?.length >= 1, res.text);
      assert.match(res.body.errors[0].message, pattern);
      assert.ok(Array.isArray(res.body.errors[0].locations), 'points at the document');
      if (code) assert.equal(res.body.errors[0].extensions?.code, code);
    }
  }

  test('an unknown field', async () => {
    await requestError(demoUrl, { query: '{ message { id nope } }' }, /Cannot query field "nope" on type "Message"/, 'GRAPHQL_VALIDATION_FAILED');
  });

  test('an unknown root field, an unknown argument, an unknown input field', async () => {
    await requestError(demoUrl, { query: '{ messages { id } }' }, /Cannot query field "messages" on type "Query"/, 'GRAPHQL_VALIDATION_FAILED');
    await requestError(demoUrl, { query: '{ message(colour: "red") { id } }' }, /Unknown argument "colour"/, 'GRAPHQL_VALIDATION_FAILED');
    await requestError(
      demoUrl,
      { query: 'mutation { createMessage(data: { title: "a", content: "b", extra: 1 }) { id } }' },
      /Field "extra" is not defined by type "MessageInput"/,
      'GRAPHQL_VALIDATION_FAILED',
    );
  });

  test('a bad argument type in the document', async () => {
    await requestError(demoUrl, { query: '{ message(limit: "ten") { id } }' }, /Int cannot represent non-integer value: "ten"/, 'GRAPHQL_VALIDATION_FAILED');
    await requestError(shopUrl, { query: '{ product(status: SOLD) { id } }' }, /Value "SOLD" does not exist in "Status" enum/, 'GRAPHQL_VALIDATION_FAILED');
    await requestError(
      demoUrl,
      { query: 'mutation { createMessage(data: { title: "only a title" }) { id } }' },
      /Field "MessageInput.content" of required type "String!" was not provided/,
      'GRAPHQL_VALIDATION_FAILED',
    );
  });

  test('a syntax error', async () => {
    await requestError(demoUrl, { query: '{ message { id ' }, /Syntax Error/, 'GRAPHQL_PARSE_FAILED');
  });

  test('a bad variable value is a request error naming the variable (400 for graphql-response+json)', async () => {
    const body = { query: 'mutation($d: MessageInput!) { createMessage(data: $d) { id } }', variables: { d: { title: 5, content: 'x' } } };
    const res = await t.req('POST', '/realtime-demo/graphql', body, { accept: 'application/graphql-response+json' });
    assert.equal(res.status, 400, res.text);
    assert.equal('data' in res.body, false, res.text);
    assert.match(res.body.errors[0].message, /^Variable "\$d" got invalid value 5 at "d\.title"; String cannot represent a non string value: 5$/);
    assert.ok(res.body.errors[0].locations, res.text);
    // application/json gets the same errors and no data (its status is yoga's: 400, which the spec allows).
    const json = await t.req('POST', '/realtime-demo/graphql', body, { accept: 'application/json' });
    assert.deepEqual(json.body, res.body);
    const missing = await t.req('POST', '/realtime-demo/graphql', { query: 'query($n: Int!) { message(limit: $n) { id } }' }, { accept: 'application/graphql-response+json' });
    assert.equal(missing.status, 400);
    assert.match(missing.body.errors[0].message, /Variable "\$n" of required type "Int!" was not provided/);
    assert.equal((await t.req('GET', '/realtime-demo/message/?title=5')).body.length, 0, 'nothing written');
  });
});

describe('errors: a malformed JSON body is a GraphQL request error', () => {
  for (const accept of ['application/json', 'application/graphql-response+json']) {
    test(`Accept: ${accept}`, async () => {
      const res = await t.req('POST', '/realtime-demo/graphql', '{"query": ', { 'content-type': 'application/json', accept });
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.errors?.length, 1, res.text);
      assert.match(res.body.errors[0].message, /invalid JSON/i);
      assert.equal(res.body.code, undefined, 'not the REST error shape');
    });
  }
});

describe('errors: internal errors are masked', () => {
  test('an unexpected failure in a resolver reads "internal server error" with code INTERNAL; the cause goes to the log only', async () => {
    // Fault injection: the table service is the resolvers' only dependency; make its search fail the
    // way a storage bug would (a plain Error with internals in its message), then restore it.
    const service = t.server.app.services.get('realtime-demo/Message') as { search: (...a: unknown[]) => unknown };
    const original = service.search;
    service.search = () => {
      throw new Error('lmdb exploded at /secret/path/data.mdb');
    };
    try {
      for (const [accept, status] of [
        ['application/json', 500],
        ['application/graphql-response+json', 500],
      ] as const) {
        const res = await gql(demoUrl, '{ message { id } }', undefined, accept);
        assert.equal(res.status, status, res.text);
        assert.doesNotMatch(res.text, /lmdb|secret|exploded/);
        assert.equal(res.body.errors.length, 1);
        assert.equal(res.body.errors[0].message, 'internal server error');
        assert.deepEqual(res.body.errors[0].extensions, { code: 'INTERNAL', http: { status: 500 } });
        assert.deepEqual(res.body.errors[0].path, ['message']);
      }
    } finally {
      service.search = original;
    }
    assert.ok(
      logs.some((l) => l.includes('lmdb exploded at /secret/path/data.mdb')),
      'the cause is logged',
    );
    // And the endpoint works again.
    assert.deepEqual(dataOf(await gql(demoUrl, '{ message(id: "msg-1") { id } }')), { message: [{ id: 'msg-1' }] });
  });
});

describe('request hardening: caps on every document (issue #11)', () => {
  // Small caps, so that "exactly at the cap" and "one over" are short documents.
  const caps = { graphqlMaxTokens: 40, graphqlMaxDepth: 4, graphqlMaxAliases: 2, graphqlMaxResults: 3 };
  let small: TestServer;
  let url: string;
  before(async () => {
    small = await startServer({ schemas, ...caps });
    url = `${small.url}/realtime-demo/graphql`;
    for (const id of ['c1', 'c2', 'c3', 'c4']) assert.equal((await small.req('POST', '/realtime-demo/message', { id, title: 't', content: 'c' })).status, 201);
  });
  after(async () => {
    await small?.close();
  });

  /** The one QUERY_TOO_COMPLEX answer: 400, GraphQL error shape, the cap and its setting named. */
  function refused(res: Res, message: RegExp, setting: string): void {
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.errors?.length, 1, res.text);
    const [error] = res.body.errors;
    assert.equal(error.extensions.code, 'QUERY_TOO_COMPLEX', res.text);
    assert.deepEqual(error.extensions.http, { status: 400 }, res.text);
    assert.match(error.message, message);
    assert.ok(error.message.includes(`(${setting})`), `the message names ${setting}: ${error.message}`);
    assert.equal(error.extensions.details.cap, setting);
    assert.doesNotMatch(res.text, /originalError|stack|at .*\.ts:/);
  }

  test('tokens: exactly graphqlMaxTokens passes, one more is refused', async () => {
    // `{` + 38 × `__typename` + `}` = 40 tokens.
    const atCap = `{ ${'__typename '.repeat(38)}}`;
    assert.deepEqual(dataOf(await gql(url, atCap)), { __typename: 'Query' });
    refused(await gql(url, `{ ${'__typename '.repeat(39)}}`), /more than 40 tokens/, 'graphqlMaxTokens');
  });

  test('depth: selections, inline fragments, literal values and fragment spreads, each at most graphqlMaxDepth', async () => {
    // Root, two inline fragments and the list's own selection: 4 levels.
    assert.deepEqual(dataOf(await gql(url, '{ ... { ... { message(id: "c1") { id } } } }')), { message: [{ id: 'c1' }] });
    refused(await gql(url, '{ ... { ... { ... { message(id: "c1") { id } } } } }'), /selections are nested more than 4 deep/, 'graphqlMaxDepth');
    // A JSON literal 4 deep is published; 5 deep is refused before it is parsed.
    assert.deepEqual(dataOf(await gql(url, 'mutation { publishMessage(id: "c1", message: {a: {b: [{c: 1}]}}) }')), { publishMessage: true });
    refused(await gql(url, 'mutation { publishMessage(id: "c1", message: {a: {b: [{c: [1]}]}}) }'), /values are nested more than 4 deep/, 'graphqlMaxDepth');
    // Named fragments add no level of their own, but chains of them are bounded too.
    const chain = (n: number) => `{ message(id: "c1") { ...F1 } } ${Array.from({ length: n }, (_, i) => `fragment F${i + 1} on Message { id ${i + 1 < n ? `...F${i + 2}` : ''} }`).join(' ')}`;
    // (These documents are longer than 40 tokens: a server with the same depth and more tokens.)
    const roomy = await startServer({ schemas, ...caps, graphqlMaxTokens: 1000 });
    const roomyUrl = `${roomy.url}/realtime-demo/graphql`;
    try {
      assert.deepEqual(dataOf(await gql(roomyUrl, chain(4))), { message: [] });
      refused(await gql(roomyUrl, chain(5)), /fragments are spread inside one another more than 4 deep/, 'graphqlMaxDepth');
      // A fragment's fields sit at the level of its spread: 4 levels through it pass, 5 do not.
      const viaFragment = (inner: string) => `{ ... { message(id: "c1") { ...F } } } fragment F on Message { ${inner} }`;
      assert.deepEqual(dataOf(await gql(roomyUrl, viaFragment('... { id }'))), { message: [] });
      refused(await gql(roomyUrl, viaFragment('... { ... { id } }')), /selections are nested more than 4 deep/, 'graphqlMaxDepth');
    } finally {
      await roomy.close();
    }
  });

  test('aliases: graphqlMaxAliases per operation, counted through fragments', async () => {
    assert.deepEqual(dataOf(await gql(url, '{ a: message(id: "c1") { id } b: message(id: "c2") { id } }')), { a: [{ id: 'c1' }], b: [{ id: 'c2' }] });
    refused(await gql(url, '{ a: message(id: "c1") { id } b: message(id: "c2") { id } c: message(id: "c3") { id } }'), /more than 2 aliases/, 'graphqlMaxAliases');
    refused(await gql(url, '{ a: message(id: "c1") { id } ...F } fragment F on Query { b: __typename c: __typename }'), /more than 2 aliases/, 'graphqlMaxAliases');
  });

  test('results: graphqlMaxResults records per operation, however many lists share them', async () => {
    assert.equal(dataOf(await gql(url, '{ message(limit: 3) { id } }')).message.length, 3);
    assert.deepEqual(ids(dataOf(await gql(url, '{ a: message(limit: 2) { id } b: message(offset: 3) { id } }')).a), ['c1', 'c2']);
    const all = await gql(url, '{ message { id } }');
    refused(all, /more than 3 records/, 'graphqlMaxResults');
    assert.match(all.body.errors[0].message, /page through them with limit and offset/);
    assert.equal(all.body.data, null);
    refused(await gql(url, '{ a: message(limit: 2) { id } b: message(limit: 2) { id } }'), /more than 3 records/, 'graphqlMaxResults');
    // A limit larger than the budget is fine when the answer is not.
    assert.deepEqual(ids(dataOf(await gql(url, '{ message(limit: 1000, offset: 2) { id } }')).message), ['c3', 'c4']);
  });

  test('the caps hold on every transport: GET, form POST, GraphQL over SSE (GET and POST)', async () => {
    const over = `{ ${'__typename '.repeat(39)}}`;
    const q = encodeURIComponent(over);
    refused(await small.req('GET', `/realtime-demo/graphql?query=${q}`), /more than 40 tokens/, 'graphqlMaxTokens');
    refused(await small.req('POST', '/realtime-demo/graphql', `query=${q}`, { 'content-type': 'application/x-www-form-urlencoded' }), /more than 40 tokens/, 'graphqlMaxTokens');
    for (const [method, body] of [
      ['GET', undefined],
      ['POST', JSON.stringify({ query: over })],
    ] as const) {
      const res = await small.req(method, `/realtime-demo/graphql${method === 'GET' ? `?query=${q}` : ''}`, body, {
        accept: 'text/event-stream',
        ...(body ? { 'content-type': 'application/json' } : {}),
      });
      assert.equal(res.status, 200, res.text);
      const next = /event: next\ndata: (.*)\n/.exec(res.text);
      assert.ok(next, res.text);
      const error = JSON.parse(next[1]!).errors[0];
      assert.equal(error.extensions.code, 'QUERY_TOO_COMPLEX');
      assert.match(error.message, /\(graphqlMaxTokens\)/);
    }
  });

  test("GraphiQL's introspection query is answered at the default caps; nesting its lists deeper is refused", async () => {
    const { getIntrospectionQuery } = await import('graphql');
    const full = getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true, oneOf: true });
    const res = await gql(demoUrl, full);
    assert.ok(dataOf(res).__schema.types.some((t: { name: string }) => t.name === 'Message'));
    const fanOut = await gql(demoUrl, '{ __schema { types { fields { type { ofType { ofType { fields { args { name } } } } } } } } }');
    assert.equal(fanOut.status, 400, fanOut.text);
    assert.equal(fanOut.body.errors[0].extensions.code, 'QUERY_TOO_COMPLEX');
    assert.match(fanOut.body.errors[0].message, /introspection lists/);
  });
});

describe('request hardening: unreadable requests are 4xx with a code, never a 5xx (issue #11)', () => {
  const q = encodeURIComponent('{ message { id } }');
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const cases: Array<{ what: string; method: 'GET' | 'POST'; path?: string; body?: string; headers?: Record<string, string>; code: string; message: RegExp }> = [
    { what: 'GET variables not JSON', method: 'GET', path: `?query=${q}&variables=%7Bnope`, code: 'INVALID_JSON', message: /variables parameter is not valid JSON/ },
    { what: 'GET extensions not JSON', method: 'GET', path: `?query=${q}&extensions=nope`, code: 'INVALID_JSON', message: /extensions parameter is not valid JSON/ },
    { what: 'form variables not JSON', method: 'POST', body: `query=${q}&variables=%7Bnope`, headers: form, code: 'INVALID_JSON', message: /variables parameter/ },
    { what: 'form extensions not JSON', method: 'POST', body: `query=${q}&extensions=%5B`, headers: form, code: 'INVALID_JSON', message: /extensions parameter/ },
    { what: 'JSON body not JSON', method: 'POST', body: '{bad', headers: { 'content-type': 'application/json' }, code: 'INVALID_JSON', message: /invalid JSON/ },
    { what: 'multipart without a boundary', method: 'POST', body: 'x', headers: { 'content-type': 'multipart/form-data' }, code: 'BAD_REQUEST', message: /multipart/ },
    {
      what: 'multipart operations not JSON',
      method: 'POST',
      body: '--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{bad\r\n--b--\r\n',
      headers: { 'content-type': 'multipart/form-data; boundary=b' },
      code: 'BAD_REQUEST',
      message: /operations/,
    },
    {
      what: 'a variable that does not coerce',
      method: 'POST',
      body: JSON.stringify({ query: 'query($t: String) { message(title: $t) { id } }', variables: { t: [[[1]]] } }),
      headers: { 'content-type': 'application/json' },
      code: 'BAD_REQUEST',
      message: /Variable "\$t"/,
    },
    {
      what: 'a 100k-deep list literal',
      method: 'POST',
      body: JSON.stringify({ query: `{ message(title: ${'['.repeat(100_000)}${']'.repeat(100_000)}) { id } }` }),
      headers: { 'content-type': 'application/json' },
      code: 'QUERY_TOO_COMPLEX',
      message: /graphqlMaxDepth/,
    },
  ];
  for (const c of cases) {
    for (const accept of ['application/json', 'text/event-stream']) {
      test(`${c.what} (Accept: ${accept})`, async () => {
        const logged = logs.length;
        const res = await t.req(c.method, `/realtime-demo/graphql${c.path ?? ''}`, c.body, { accept, ...c.headers });
        let error: { message: string; extensions: { code: string; http?: { status: number } } };
        if (accept === 'text/event-stream') {
          // Errors before execution are `next` events of an accepted stream (GraphQL over SSE).
          assert.equal(res.status, 200, res.text);
          error = JSON.parse(/event: next\ndata: (.*)\n/.exec(res.text)![1]!).errors[0];
        } else {
          assert.equal(res.status, 400, res.text);
          error = res.body.errors[0];
        }
        assert.equal(error.extensions.code, c.code, res.text);
        assert.deepEqual(error.extensions.http, { status: 400 }, res.text);
        assert.match(error.message, c.message);
        assert.doesNotMatch(res.text, /originalError|"stack"/);
        assert.equal(logs.length, logged, `nothing logged at error level: ${logs.slice(logged).join('')}`);
      });
    }
  }
});

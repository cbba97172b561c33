/**
 * SPEC §5, issue #4 (1): one GraphQL endpoint per database with GraphQL-exported tables, its schema
 * generated from the SDL (object types, inputs, enums, nested types and their inputs, lists, our
 * scalars), Harper-shaped root fields and naming rules, and GraphiQL for browsers. Checked through
 * standard introspection over HTTP, as any GraphQL tool would see it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import {
  buildClientSchema,
  getIntrospectionQuery,
  isEnumType,
  isInputObjectType,
  isObjectType,
  isScalarType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputObjectType,
  type GraphQLObjectType,
  type GraphQLSchema,
  type IntrospectionQuery,
} from 'graphql';
import { MESSAGE_SDL, schemaDir, startServer, type TestServer } from '../helpers/server.ts';
import { gql } from '../helpers/graphql.ts';

/** schemas/shop.graphql plus the scalars it does not use (BigInt, Bytes, Any) and a dashed export name. */
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

type OrderLine {
  productId: ID!
  quantity: Int!
  unitPrice: Float!
}

type Order @table(database: "shop") @export(name: "order") @sealed {
  id: Int @primaryKey
  customerEmail: String! @indexed
  lines: [OrderLine!]!
  total: Float!
  placedAt: Date @createdTime
}

type OrderItem @table(database: "shop") @export(name: "order-items") {
  id: ID! @primaryKey
  orderId: Int! @indexed
}

type AuditEntry @table(database: "shop") @export(name: "audit", graphql: false) {
  id: ID! @primaryKey
  text: String
}

type Internal @table(database: "shop") {
  id: ID! @primaryKey
}
`;

/** A database whose only table is kept out of GraphQL (but served over REST). */
const HIDDEN_SDL = `
type Secret @table(database: "hidden") @export(name: "secret", graphql: false) {
  id: ID! @primaryKey
  value: String
}
`;

let t: TestServer;
let schemas: string;
let shop: GraphQLSchema;

async function introspect(database: string): Promise<GraphQLSchema> {
  const res = await gql(`${t.url}/${database}/graphql`, getIntrospectionQuery());
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.errors, undefined, res.text);
  return buildClientSchema(res.body.data as IntrospectionQuery);
}

/** `String!`-style rendering of a field's type, and its arguments as `name: Type` strings. */
const typeOf = (f: { type: unknown } | undefined) => String(f?.type);
const argsOf = (f: GraphQLField<unknown, unknown> | undefined) => Object.fromEntries((f?.args ?? []).map((a: GraphQLArgument) => [a.name, String(a.type)]));
const fieldsOf = (t: GraphQLObjectType | GraphQLInputObjectType) => Object.fromEntries(Object.values(t.getFields()).map((f) => [f.name, String(f.type)]));

function objectType(schema: GraphQLSchema, name: string): GraphQLObjectType {
  const type = schema.getType(name);
  assert.ok(type && isObjectType(type), `${name} is an object type`);
  return type;
}
function inputType(schema: GraphQLSchema, name: string): GraphQLInputObjectType {
  const type = schema.getType(name);
  assert.ok(type && isInputObjectType(type), `${name} is an input type`);
  return type;
}

before(async () => {
  schemas = schemaDir({ 'message.graphql': MESSAGE_SDL, 'shop.graphql': SHOP_SDL, 'hidden.graphql': HIDDEN_SDL });
  t = await startServer({ schemas });
  shop = await introspect('shop');
});
after(async () => {
  await t?.close();
  rmSync(schemas, { recursive: true, force: true });
});

describe('endpoints', () => {
  test('each database with GraphQL tables has its own endpoint with only its own tables', async () => {
    const demo = await introspect('realtime-demo');
    assert.deepEqual(Object.keys(demo.getQueryType()!.getFields()), ['message']);
    assert.equal(demo.getType('Product'), undefined);
    assert.ok(shop.getQueryType()!.getFields().product);
    assert.equal(shop.getType('Message'), undefined);
  });

  test('a database whose tables are all graphql: false has no endpoint: 404 JSON in the error shape', async () => {
    // REST still serves the table, so the database exists; only GraphQL is off.
    assert.equal((await t.req('GET', '/hidden/secret')).status, 200);
    for (const [method, body] of [
      ['POST', { query: '{ __typename }' }],
      ['GET', undefined],
    ] as const) {
      const res = await t.req(method, '/hidden/graphql', body);
      assert.equal(res.status, 404, `${method}: ${res.text}`);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.equal(res.body.statusCode, 404);
      assert.equal(typeof res.body.code, 'string');
      assert.equal(typeof res.body.message, 'string');
    }
    // And a database that does not exist at all.
    const none = await t.req('POST', '/nowhere/graphql', { query: '{ __typename }' });
    assert.equal(none.status, 404);
    assert.equal(none.body.code, 'ROUTE_NOT_FOUND');
  });

  test('tables with graphql: false and tables without @export are left out of a database schema', () => {
    const names = [...Object.keys(shop.getQueryType()!.getFields()), ...Object.keys(shop.getMutationType()!.getFields()), ...Object.keys(shop.getSubscriptionType()!.getFields())];
    for (const type of ['AuditEntry', 'AuditEntryInput', 'AuditEntryPatch', 'AuditEntryEvent', 'Internal', 'InternalInput']) assert.equal(shop.getType(type), undefined, type);
    assert.ok(!names.some((n) => /audit|internal/i.test(n)), names.join(', '));
  });

  test('a browser GET (Accept: text/html) gets GraphiQL', async () => {
    const res = await t.req('GET', '/shop/graphql', undefined, { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    assert.match(res.text, /graphiql/i);
    assert.match(res.text, /<title>[^<]*shop[^<]*<\/title>/);
  });

  test('GET with a query parameter executes a query (JSON)', async () => {
    const res = await t.req('GET', `/shop/graphql?query=${encodeURIComponent('{ product { id } }')}`, undefined, { accept: 'application/json' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { data: { product: [] } });
  });
});

describe('generated types', () => {
  test('object type: every attribute with its type; lists, nested type, enum and scalars', () => {
    assert.deepEqual(fieldsOf(objectType(shop, 'Product')), {
      id: 'ID!',
      name: 'String!',
      category: 'String',
      price: 'Float!',
      status: 'Status!',
      tags: '[String!]',
      dimensions: 'Dimensions',
      stock: 'Int',
      weight: 'BigInt',
      image: 'Bytes',
      meta: 'JSON',
      active: 'Boolean',
      createdAt: 'Long',
      updatedAt: 'Date',
    });
    assert.deepEqual(fieldsOf(objectType(shop, 'Dimensions')), { width: 'Float!', height: 'Float!', depth: 'Float' });
    assert.deepEqual(fieldsOf(objectType(shop, 'Order')), { id: 'Int', customerEmail: 'String!', lines: '[OrderLine!]!', total: 'Float!', placedAt: 'Date' });
    assert.deepEqual(fieldsOf(objectType(shop, 'OrderLine')), { productId: 'ID!', quantity: 'Int!', unitPrice: 'Float!' });
  });

  test('enum and custom scalars', () => {
    const status = shop.getType('Status');
    assert.ok(status && isEnumType(status));
    assert.deepEqual(
      status.getValues().map((v) => v.name),
      ['DRAFT', 'ACTIVE', 'DISCONTINUED'],
    );
    const change = shop.getType('ChangeType');
    assert.ok(change && isEnumType(change));
    assert.deepEqual(
      change
        .getValues()
        .map((v) => v.name)
        .sort(),
      ['DELETE', 'PUBLISH', 'UPDATE'],
    );
    for (const name of ['JSON', 'Long', 'BigInt', 'Date', 'Bytes']) {
      const s = shop.getType(name);
      assert.ok(s && isScalarType(s), `${name} is a scalar`);
    }
  });

  test('inputs: the key and server-set times optional or absent; the patch has everything optional; nested input', () => {
    assert.deepEqual(fieldsOf(inputType(shop, 'ProductInput')), {
      id: 'ID',
      name: 'String!',
      category: 'String',
      price: 'Float!',
      status: 'Status!',
      tags: '[String!]',
      dimensions: 'DimensionsInput',
      stock: 'Int',
      weight: 'BigInt',
      image: 'Bytes',
      meta: 'JSON',
      active: 'Boolean',
    });
    assert.deepEqual(fieldsOf(inputType(shop, 'ProductPatch')), {
      id: 'ID',
      name: 'String',
      category: 'String',
      price: 'Float',
      status: 'Status',
      tags: '[String!]',
      dimensions: 'DimensionsInput',
      stock: 'Int',
      weight: 'BigInt',
      image: 'Bytes',
      meta: 'JSON',
      active: 'Boolean',
    });
    assert.deepEqual(fieldsOf(inputType(shop, 'DimensionsInput')), { width: 'Float!', height: 'Float!', depth: 'Float' });
    assert.deepEqual(fieldsOf(inputType(shop, 'OrderInput')), { id: 'Int', customerEmail: 'String!', lines: '[OrderLineInput!]!', total: 'Float!' });
  });

  test('query: Harper-shaped list field with equality args for scalars and enums, limit, offset, sort', () => {
    const product = shop.getQueryType()!.getFields().product;
    assert.equal(typeOf(product), '[Product!]!');
    assert.deepEqual(argsOf(product), {
      id: 'ID',
      name: 'String',
      category: 'String',
      price: 'Float',
      status: 'Status',
      stock: 'Int',
      weight: 'BigInt',
      active: 'Boolean',
      createdAt: 'Long',
      updatedAt: 'Date',
      limit: 'Int',
      offset: 'Int',
      sort: '[String!]',
    });
    // The key keeps its own type as a filter (an Int key filters by Int).
    assert.equal(argsOf(shop.getQueryType()!.getFields().order).id, 'Int');
  });

  test('mutations: create, replace, update, delete, publish with the documented signatures', () => {
    const m = shop.getMutationType()!.getFields();
    const sig = (name: string) =>
      `${name}(${Object.entries(argsOf(m[name]))
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ')}): ${typeOf(m[name])}`;
    assert.equal(sig('createProduct'), 'createProduct(data: ProductInput!): Product!');
    assert.equal(sig('replaceProduct'), 'replaceProduct(id: ID!, data: ProductInput!): Product!');
    assert.equal(sig('updateProduct'), 'updateProduct(id: ID!, data: ProductPatch!): Product!');
    assert.equal(sig('deleteProduct'), 'deleteProduct(id: ID!): Boolean!');
    assert.equal(sig('publishProduct'), 'publishProduct(id: ID!, message: JSON!): Boolean!');
  });

  test('subscriptions: records and change events with a resumable cursor', () => {
    const s = shop.getSubscriptionType()!.getFields();
    assert.equal(typeOf(s.product), 'Product!');
    const filters = { id: 'ID', name: 'String', category: 'String', price: 'Float', status: 'Status', stock: 'Int', weight: 'BigInt', active: 'Boolean', createdAt: 'Long', updatedAt: 'Date' };
    assert.deepEqual(argsOf(s.product), filters);
    assert.equal(typeOf(s.productEvents), 'ProductEvent!');
    assert.deepEqual(argsOf(s.productEvents), { ...filters, lastEventId: 'String' });
    assert.deepEqual(fieldsOf(objectType(shop, 'ProductEvent')), { type: 'ChangeType!', id: 'ID!', cursor: 'String!', record: 'Product', message: 'JSON' });
  });

  test('naming: a dashed export name becomes a camelCase field; type-derived names keep the type name', () => {
    const q = shop.getQueryType()!.getFields();
    assert.equal(typeOf(q.orderItems), '[OrderItem!]!');
    assert.equal(q['order-items'], undefined);
    const m = shop.getMutationType()!.getFields();
    for (const name of ['createOrderItem', 'replaceOrderItem', 'updateOrderItem', 'deleteOrderItem', 'publishOrderItem']) assert.ok(m[name], name);
    const s = shop.getSubscriptionType()!.getFields();
    assert.ok(s.orderItems && s.orderItemsEvents);
    assert.ok(shop.getType('OrderItemInput') && shop.getType('OrderItemPatch') && shop.getType('OrderItemEvent'));
  });

  test('the dashed export is queryable and stays at its REST path', async () => {
    const created = await t.req('POST', '/shop/order-items', { id: 'oi-1', orderId: 7 });
    assert.equal(created.status, 201, created.text);
    const res = await gql(`${t.url}/shop/graphql`, '{ orderItems(orderId: 7) { id orderId } }');
    assert.deepEqual(res.body, { data: { orderItems: [{ id: 'oi-1', orderId: 7 }] } });
  });
});

/**
 * Bulk create over REST: `POST /{db}/{table}` with a JSON array writes every record in one
 * transaction, all or nothing, one `update` event per record; a refused record is named by its
 * index and leaves nothing behind; the array is bounded (maxBulkRecords, bodyLimit); permissions
 * (the insert grant and its row filter) apply to every record.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword } from '../../src/auth/password.ts';
import { assertError, serve, SHOP_SDL, snapshot } from '../helpers/fixtures.ts';
import { MESSAGE_SDL } from '../helpers/server.ts';

const M = '/realtime-demo/message';
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('an array creates every record in one transaction, answers them in order, one update event each', async (t) => {
  const s = await serve(t);
  const events = s.server.tables['realtime-demo']!.message!.subscribe();
  t.after(() => events.return?.());
  const before = s.server.app.store.changeLog.head();
  const res = await s.req('POST', M, [
    { id: 'b1', title: 'one', content: 'a' },
    { title: 'two', content: 'b' },
    { id: 'b3', title: 'three', content: 'c' },
  ]);
  assert.equal(res.status, 201, res.text);
  assert.equal(res.body.length, 3);
  assert.deepEqual(res.body[0], { id: 'b1', title: 'one', content: 'a' });
  assert.match(res.body[1].id, UUID_V7, 'a missing key is generated as for a single create');
  assert.deepEqual(
    res.body.map((r: { title: string }) => r.title),
    ['one', 'two', 'three'],
  );
  assert.equal(s.server.app.store.changeLog.head(), before + 3, 'three change entries');
  const got: Array<{ type: string; id: unknown }> = [];
  for (let i = 0; i < 3; i++) {
    const { value } = await events.next();
    got.push({ type: value.type, id: value.key });
  }
  assert.deepEqual(
    got,
    res.body.map((r: { id: string }) => ({ type: 'update', id: r.id })),
  );
  assert.equal((await s.req('GET', `${M}/b3`)).body.title, 'three');

  // Integer keys: consecutive, never colliding with an explicit key in the same array.
  const order = { customerEmail: 'ann@example.com', lines: [{ productId: 'p1', quantity: 1, unitPrice: 2 }], total: 2 };
  const orders = await s.req('POST', '/shop/order', [order, { ...order, id: 3 }, order, order]);
  assert.equal(orders.status, 201, orders.text);
  assert.deepEqual(
    orders.body.map((o: { id: number }) => o.id),
    [1, 3, 4, 5],
  );
  const next = await s.req('POST', '/shop/order', order);
  assert.equal(next.body.id, 6, 'the key counter moved past the bulk');
});

test('one bad record refuses the whole array, naming its index; nothing is written, no event', async (t) => {
  const s = await serve(t);
  await s.req('POST', M, { id: 'taken', title: 't', content: 'c' });
  const events = s.server.tables['realtime-demo']!.message!.subscribe();
  t.after(() => events.return?.());
  const cases: Array<[unknown[], number, string, string]> = [
    [
      [
        { id: 'x1', title: 'ok', content: 'c' },
        { id: 'x2', title: 'no content' },
      ],
      400,
      'VALIDATION_FAILED',
      '1.content',
    ],
    [[{ id: 'x1', title: 'ok', content: 'c' }, 'not an object'], 400, 'VALIDATION_FAILED', '1'],
    [
      [
        { id: 'x1', title: 'ok', content: 'c' },
        { id: 'x2', title: 'ok', content: 'c' },
        { id: 'taken', title: 'dup', content: 'c' },
      ],
      409,
      'CONFLICT',
      '2',
    ],
    [
      [
        { id: 'x1', title: 'ok', content: 'c' },
        { id: 'x1', title: 'twice', content: 'c' },
      ],
      409,
      'CONFLICT',
      '1',
    ],
  ];
  const before = snapshot(s);
  for (const [body, status, code, path] of cases) {
    const err = assertError(await s.req('POST', M, body), status, code, JSON.stringify(body));
    assert.match(err.message, new RegExp(`^record ${path.split('.')[0]}: `), err.message);
    assert.ok(
      (err.details as Array<{ path: string }>).some((d) => d.path === path),
      JSON.stringify(err.details),
    );
    assert.deepEqual(snapshot(s), before, `${code} at ${path} wrote nothing`);
  }
  assertError(await s.req('POST', M, []), 400, 'VALIDATION_FAILED', 'empty array');
  // A marker write: the next event a subscriber sees is this one, so the refused arrays sent none.
  await s.req('POST', M, { id: 'after', title: 'a', content: 'c' });
  const { value } = await events.next();
  assert.deepEqual([value.type, value.key], ['update', 'after']);
});

test('the array is bounded: maxBulkRecords (413), values per record, and the body limit', async (t) => {
  const s = await serve(t, { 'message.graphql': MESSAGE_SDL }, { maxBulkRecords: 5, maxRecordValues: 20, bodyLimit: 4096 });
  const rec = (i: number) => ({ id: `r${i}`, title: 't', content: 'c' });
  const before = snapshot(s);
  const tooMany = assertError(
    await s.req(
      'POST',
      M,
      Array.from({ length: 6 }, (_, i) => rec(i)),
    ),
    413,
    'PAYLOAD_TOO_LARGE',
    '6 records',
  );
  assert.match(tooMany.message, /at most 5 records \(the maxBulkRecords setting\)/);
  // Five records of three attributes: 15 values in all, under the cap of 20 per record.
  assert.equal(
    (
      await s.req(
        'POST',
        M,
        Array.from({ length: 5 }, (_, i) => rec(i)),
      )
    ).status,
    201,
  );
  const big = { id: 'big', title: 't', content: 'c', ...Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`a${i}`, i])) };
  const values = assertError(await s.req('POST', M, [rec(10), big]), 400, 'VALIDATION_FAILED', 'a record of 33 values');
  assert.match(values.message, /^record 1: holds more than 20 values/);
  assertError(await s.req('POST', M, [{ ...rec(11), content: 'x'.repeat(5000) }]), 413, 'PAYLOAD_TOO_LARGE', 'over bodyLimit');
  assert.equal(snapshot(s).head, before.head + 5, 'only the accepted array was written');
});

test('permissions: the insert grant and its row filter apply to every record', async (t) => {
  const password = await hashPassword('pw-123456');
  const NOTE_SDL = `type Note @table(database: "app") @export(name: "note", rest: true, sse: true) {
  id: ID! @primaryKey
  owner: String!
  text: String
}
`;
  const s = await serve(
    t,
    { 'note.graphql': NOTE_SDL },
    {
      auth: {
        users: { ann: { password, roles: ['writer'] }, rita: { password, roles: ['reader'] } },
        roles: { writer: { tables: { 'app/note': { read: true, insert: { filter: 'owner=ann' } } } }, reader: { tables: { 'app/note': ['read'] } } },
      },
    },
  );
  const as = (user: string) => ({ authorization: `Basic ${Buffer.from(`${user}:pw-123456`).toString('base64')}` });
  const before = snapshot(s);
  assertError(await s.req('POST', '/app/note', [{ id: 'n1', owner: 'ann' }]), 401, 'UNAUTHORIZED', 'anonymous');
  assertError(await s.req('POST', '/app/note', [{ id: 'n1', owner: 'ann' }], as('rita')), 403, 'FORBIDDEN', 'no insert grant');
  const outside = assertError(
    await s.req(
      'POST',
      '/app/note',
      [
        { id: 'n1', owner: 'ann' },
        { id: 'n2', owner: 'bob' },
      ],
      as('ann'),
    ),
    403,
    'FORBIDDEN',
    'record 1 outside the filter',
  );
  assert.match(outside.message, /^record 1: /);
  assert.deepEqual(snapshot(s), before, 'a refused array wrote nothing');
  const ok = await s.req(
    'POST',
    '/app/note',
    [
      { id: 'n1', owner: 'ann' },
      { id: 'n2', owner: 'ann', text: 'x' },
    ],
    as('ann'),
  );
  assert.equal(ok.status, 201, ok.text);
  assert.equal(snapshot(s).head, before.head + 2);
});

test('a single-object POST is answered as before: Location, integer key', async (t) => {
  const s = await serve(t, { 'shop.graphql': SHOP_SDL });
  const order = { customerEmail: 'ann@example.com', lines: [{ productId: 'p1', quantity: 1, unitPrice: 2 }], total: 2 };
  const one = await s.req('POST', '/shop/order', order);
  assert.equal(one.status, 201);
  assert.equal(one.headers.location, '/shop/order/1');
  assert.equal(one.body.id, 1);
});

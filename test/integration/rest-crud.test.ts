/**
 * Every REST route of SPEC §3 / the README table, with its success status, headers and body, its
 * error statuses, and the change-log entry each write commits — over a real server and real LMDB.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertError, serve } from '../helpers/fixtures.ts';
import { MESSAGE_SDL } from '../helpers/server.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const M = '/realtime-demo/message';

test('GET / lists databases and table URLs; GET /health is ok', async (t) => {
  const s = await serve(t);
  const root = await s.req('GET', '/');
  assert.equal(root.status, 200);
  assert.equal(root.body.name, 'tablecast');
  assert.deepEqual(root.body.databases, { 'realtime-demo': ['/realtime-demo/message'], shop: ['/shop/product', '/shop/order'] });
  const health = await s.req('GET', '/health');
  assert.equal(health.status, 200);
  assert.deepEqual(health.body, { status: 'ok' });
});

test('POST creates: 201, Location, ETag = change seq, body = stored record; 409 on an existing key', async (t) => {
  const s = await serve(t);
  const head = () => s.server.app.store.changeLog.head();
  const created = await s.req('POST', M, { id: 'msg-1', title: 'Hello', content: 'World' });
  assert.equal(created.status, 201);
  assert.equal(created.headers.location, `${M}/msg-1`);
  assert.equal(created.headers.etag, `"${head()}"`);
  assert.deepEqual(created.body, { id: 'msg-1', title: 'Hello', content: 'World' });
  const entry = s.server.app.store.changeLog.readAfter(head() - 1)[0]!;
  assert.deepEqual({ op: entry.op, key: entry.key, value: entry.value }, { op: 'update', key: 'msg-1', value: created.body });

  const before = head();
  assertError(await s.req('POST', M, { id: 'msg-1', title: 'again', content: 'x' }), 409, 'CONFLICT', 'duplicate key');
  assert.equal(head(), before, 'a conflict writes no change entry');
  assert.equal((await s.req('GET', `${M}/msg-1`)).body.title, 'Hello');

  // The trailing slash is optional.
  const slash = await s.req('POST', `${M}/`, { id: 'msg-2', title: 't', content: 'c' });
  assert.equal(slash.status, 201);
});

test('POST without a key generates a UUID v7 for ID keys and the next integer for Int keys, never reused', async (t) => {
  const s = await serve(t);
  const a = await s.req('POST', M, { title: 'a', content: 'a' });
  const b = await s.req('POST', M, { title: 'b', content: 'b' });
  assert.match(a.body.id, UUID_V7);
  assert.match(b.body.id, UUID_V7);
  assert.ok(a.body.id < b.body.id, 'UUID v7 keys are time-ordered');
  assert.equal(a.headers.location, `${M}/${a.body.id}`);

  const order = { customerEmail: 'ann@example.com', lines: [{ productId: 'p1', quantity: 2, unitPrice: 3.5 }], total: 7 };
  const o1 = await s.req('POST', '/shop/order', order);
  const o2 = await s.req('POST', '/shop/order', order);
  assert.deepEqual([o1.status, o1.body.id, o2.body.id], [201, 1, 2]);
  assert.equal(o2.headers.location, '/shop/order/2');
  assert.equal((await s.req('DELETE', '/shop/order/2')).status, 204);
  const o3 = await s.req('POST', '/shop/order', order);
  assert.equal(o3.body.id, 3, 'a deleted integer key is not handed out again');
  // An explicit integer key moves the counter past it.
  assert.equal((await s.req('POST', '/shop/order', { ...order, id: 10 })).status, 201);
  assert.equal((await s.req('POST', '/shop/order', order)).body.id, 11);
});

test('concurrent writers: one POST per key wins, the rest are 409; generated integer keys never collide', async (t) => {
  const s = await serve(t);
  const same = await Promise.all(Array.from({ length: 12 }, (_, i) => s.req('POST', M, { id: 'race', title: String(i), content: 'c' })));
  assert.deepEqual(same.map((r) => r.status).sort(), [201, ...Array(11).fill(409)]);
  const order = { customerEmail: 'ann@example.com', lines: [], total: 1 };
  const made = await Promise.all(Array.from({ length: 20 }, () => s.req('POST', '/shop/order', order)));
  assert.ok(made.every((r) => r.status === 201));
  assert.deepEqual(
    made.map((r) => r.body.id as number).sort((a, b) => a - b),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  // The largest Int key is the last one: there is no next, and nothing is written.
  assert.equal((await s.req('PUT', `/shop/order/${2 ** 31 - 1}`, order)).status, 201);
  const head = s.server.app.store.changeLog.head();
  const none = assertError(await s.req('POST', '/shop/order', order), 400, 'VALIDATION_FAILED', 'no Int key left');
  assert.match(none.message, /32-bit/);
  assert.equal(s.server.app.store.changeLog.head(), head);
});

test('server-set times: @createdTime kept, @updatedTime renewed, input values ignored', async (t) => {
  const clock = { now: 1_800_000_000_000 };
  const s = await serve(t, undefined, { now: () => clock.now });
  const p = await s.req('POST', '/shop/product', { id: 'p1', name: 'Saw', price: 10, status: 'ACTIVE', createdAt: 1, updatedAt: 'x' });
  assert.equal(p.status, 201);
  assert.equal(p.body.createdAt, 1_800_000_000_000, 'Long: epoch ms');
  assert.equal(p.body.updatedAt, new Date(1_800_000_000_000).toISOString(), 'Date: ISO string');
  clock.now += 5000;
  const put = await s.req('PUT', '/shop/product/p1', { name: 'Saw 2', price: 11, status: 'ACTIVE', createdAt: 5 });
  assert.equal(put.status, 200);
  assert.equal(put.body.createdAt, p.body.createdAt);
  assert.equal(put.body.updatedAt, new Date(1_800_000_005_000).toISOString());
  clock.now += 5000;
  const patched = await s.req('PATCH', '/shop/product/p1', { price: 12, updatedAt: 'ignored' });
  assert.equal(patched.body.createdAt, p.body.createdAt);
  assert.equal(patched.body.updatedAt, new Date(1_800_000_010_000).toISOString());
});

test('GET record: 200 with ETag; If-None-Match → 304; HEAD; 404 when absent; ids are URL-decoded', async (t) => {
  const s = await serve(t);
  const id = 'a/b c?é#%';
  const created = await s.req('POST', M, { id, title: 't', content: 'c' });
  assert.equal(created.headers.location, `${M}/${encodeURIComponent(id)}`);
  const got = await s.req('GET', `${M}/${encodeURIComponent(id)}`);
  assert.equal(got.status, 200);
  assert.match(String(got.headers['content-type']), /^application\/json/);
  assert.deepEqual(got.body, { id, title: 't', content: 'c' });
  assert.equal(got.headers.etag, created.headers.etag);

  const cached = await s.req('GET', `${M}/${encodeURIComponent(id)}`, undefined, { 'if-none-match': String(got.headers.etag) });
  assert.equal(cached.status, 304);
  assert.equal(cached.text, '');
  const star = await s.req('GET', `${M}/${encodeURIComponent(id)}`, undefined, { 'if-none-match': '*' });
  assert.equal(star.status, 304);
  const stale = await s.req('GET', `${M}/${encodeURIComponent(id)}`, undefined, { 'if-none-match': '"0"' });
  assert.equal(stale.status, 200);

  const head = await s.req('HEAD', `${M}/${encodeURIComponent(id)}`);
  assert.equal(head.status, 200);
  assert.equal(head.headers.etag, got.headers.etag);
  assert.equal(head.text, '');

  const missing = assertError(await s.req('GET', `${M}/nope`), 404, 'NOT_FOUND', 'absent record');
  assert.match(missing.message, /nope/);
  assertError(await s.req('GET', '/shop/order/1'), 404, 'NOT_FOUND', 'absent int key');
});

test('GET record with select() answers JSON: an object, or a bare JSON value', async (t) => {
  const s = await serve(t);
  await s.req('POST', M, { id: 'm1', title: 'Hello', content: 'World' });
  const two = await s.req('GET', `${M}/m1?select(id,content)`);
  assert.equal(two.status, 200);
  assert.deepEqual(two.body, { id: 'm1', content: 'World' });
  const bare = await s.req('GET', `${M}/m1?select(title)`);
  assert.equal(bare.status, 200);
  assert.equal(bare.text, '"Hello"', 'a bare string is sent as a JSON string');
  const absent = await s.req('GET', `${M}/m1?select(nothing)`);
  assert.equal(absent.status, 200);
  assert.equal(absent.text, 'null', 'an absent attribute is JSON null, not an empty body');
});

test('GET collection: JSON array in primary-key order; HEAD; empty table is []', async (t) => {
  const s = await serve(t);
  assert.deepEqual((await s.req('GET', M)).body, []);
  for (const id of ['c', 'a', 'b', 'B', 'é']) await s.req('POST', M, { id, title: id, content: id });
  const list = await s.req('GET', M);
  assert.equal(list.status, 200);
  assert.deepEqual(
    list.body.map((r: { id: string }) => r.id),
    ['B', 'a', 'b', 'c', 'é'],
  );
  assert.deepEqual((await s.req('GET', `${M}/`)).body, list.body);
  const head = await s.req('HEAD', M);
  assert.equal(head.status, 200);
  assert.equal(head.text, '');

  for (const id of [10, 9, 100]) await s.req('POST', '/shop/order', { id, customerEmail: 'x@y', lines: [], total: 0 });
  assert.deepEqual((await s.req('GET', '/shop/order?select(id)')).body, [9, 10, 100], 'integer keys sort numerically');
});

test('PUT: 201 with Location when created, 200 when replaced; the whole record is replaced', async (t) => {
  const s = await serve(t);
  const created = await s.req('PUT', `${M}/p1`, { title: 'one', content: 'c', extra: 1 });
  assert.equal(created.status, 201);
  assert.equal(created.headers.location, `${M}/p1`);
  assert.deepEqual(created.body, { id: 'p1', title: 'one', content: 'c', extra: 1 });
  const replaced = await s.req('PUT', `${M}/p1`, { id: 'p1', title: 'two', content: 'd' });
  assert.equal(replaced.status, 200);
  assert.equal(replaced.headers.location, undefined);
  assert.deepEqual(replaced.body, { id: 'p1', title: 'two', content: 'd' });
  assert.deepEqual((await s.req('GET', `${M}/p1`)).body, { id: 'p1', title: 'two', content: 'd' }, 'extra is gone');
  assert.notEqual(replaced.headers.etag, created.headers.etag);
  // Numeric keys from the URL.
  const order = await s.req('PUT', '/shop/order/7', { customerEmail: 'x@y', lines: [], total: 1 });
  assert.equal(order.status, 201);
  assert.equal(order.body.id, 7);
  assert.equal((await s.req('PUT', '/shop/order/7', { id: 7, customerEmail: 'z@y', lines: [], total: 2 })).status, 200);
});

test('PATCH merges into the stored record; null clears an optional attribute; 404 when absent', async (t) => {
  const s = await serve(t);
  await s.req('POST', '/shop/product', { id: 'p1', name: 'Saw', price: 10, status: 'ACTIVE', category: 'tools', stock: 3, tags: ['a'] });
  const patched = await s.req('PATCH', '/shop/product/p1', { price: 12.5, category: null, tags: ['a', 'b'], note: 'extra' });
  assert.equal(patched.status, 200);
  assert.equal(patched.body.price, 12.5);
  assert.equal(patched.body.category, null);
  assert.equal(patched.body.name, 'Saw');
  assert.equal(patched.body.stock, 3);
  assert.deepEqual(patched.body.tags, ['a', 'b']);
  assert.equal(patched.body.note, 'extra');
  const stored = await s.req('GET', '/shop/product/p1');
  assert.deepEqual(stored.body, patched.body);
  assert.equal(stored.headers.etag, patched.headers.etag);
  // The index follows the patch.
  assert.deepEqual((await s.req('GET', '/shop/product?category=tools')).body, []);
  assert.deepEqual((await s.req('GET', '/shop/product?tags=b&select(id)')).body, ['p1']);

  const head = s.server.app.store.changeLog.head();
  assertError(await s.req('PATCH', '/shop/product/nope', { price: 1 }), 404, 'NOT_FOUND', 'patch absent');
  assert.equal(s.server.app.store.changeLog.head(), head);
  // merge-patch+json is JSON too.
  const merge = await s.req('PATCH', '/shop/product/p1', JSON.stringify({ stock: 4 }), { 'content-type': 'application/merge-patch+json' });
  assert.equal(merge.status, 200);
  assert.equal(merge.body.stock, 4);
});

test('DELETE record: 204 then 404; the delete is logged with the previous record', async (t) => {
  const s = await serve(t);
  await s.req('POST', M, { id: 'd1', title: 't', content: 'c' });
  const del = await s.req('DELETE', `${M}/d1`);
  assert.equal(del.status, 204);
  assert.equal(del.text, '');
  const head = s.server.app.store.changeLog.head();
  const entry = s.server.app.store.changeLog.readAfter(head - 1)[0]!;
  assert.deepEqual({ op: entry.op, key: entry.key, prev: entry.prev }, { op: 'delete', key: 'd1', prev: { id: 'd1', title: 't', content: 'c' } });
  assertError(await s.req('GET', `${M}/d1`), 404, 'NOT_FOUND', 'deleted');
  assertError(await s.req('DELETE', `${M}/d1`), 404, 'NOT_FOUND', 'delete twice');
  assert.equal(s.server.app.store.changeLog.head(), head);
});

test('DELETE collection: needs a query, answers {deleted: n}, honours limit()', async (t) => {
  const s = await serve(t);
  for (let i = 0; i < 6; i++) await s.req('POST', M, { id: `k${i}`, title: i % 2 ? 'odd' : 'even', content: String(i) });
  const head = s.server.app.store.changeLog.head();
  const refused = assertError(await s.req('DELETE', M), 400, 'QUERY_INVALID', 'delete without query');
  assert.match(refused.message, /query/);
  assertError(await s.req('DELETE', `${M}?limit(2)`), 400, 'QUERY_INVALID', 'delete with only limit');
  assert.equal(s.server.app.store.changeLog.head(), head);
  assert.equal((await s.req('GET', M)).body.length, 6);

  const odd = await s.req('DELETE', `${M}?title=odd`);
  assert.equal(odd.status, 200);
  assert.deepEqual(odd.body, { deleted: 3 });
  assert.equal(s.server.app.store.changeLog.head(), head + 3, 'one delete entry per record');
  const limited = await s.req('DELETE', `${M}?title=even&limit(2)`);
  assert.deepEqual(limited.body, { deleted: 2 });
  assert.deepEqual((await s.req('GET', `${M}?select(id)`)).body, ['k4']);
  assert.deepEqual((await s.req('DELETE', `${M}?title=none`)).body, { deleted: 0 });
});

test('POST record publishes: 202 with the change seq; logged, not stored; 400 without a body', async (t) => {
  const s = await serve(t);
  await s.req('POST', M, { id: 'm1', title: 't', content: 'c' });
  const before = await s.req('GET', `${M}/m1`);
  const pub = await s.req('POST', `${M}/m1`, { text: 'typing…' });
  assert.equal(pub.status, 202);
  const head = s.server.app.store.changeLog.head();
  assert.deepEqual(pub.body, { published: true, id: String(head) });
  const entry = s.server.app.store.changeLog.readAfter(head - 1)[0]!;
  assert.deepEqual({ op: entry.op, key: entry.key, message: entry.message }, { op: 'publish', key: 'm1', message: { text: 'typing…' } });
  const after = await s.req('GET', `${M}/m1`);
  assert.deepEqual(after.body, before.body);
  assert.equal(after.headers.etag, before.headers.etag, 'publishing does not change the record version');
  const noBody = await s.req('POST', `${M}/m1`);
  assert.equal(noBody.status, 400);
  assert.equal(s.server.app.store.changeLog.head(), head);
});

test('other methods: 405 with Allow; unknown tables and paths: 404 with their own codes', async (t) => {
  const s = await serve(t);
  for (const method of ['PUT', 'PATCH']) {
    const res = await s.req(method, M, { title: 'x', content: 'y' });
    assertError(res, 405, 'METHOD_NOT_ALLOWED', `${method} collection`);
    assert.equal(res.headers.allow, 'GET, HEAD, POST, DELETE');
  }
  const table = assertError(await s.req('GET', '/realtime-demo/nope'), 404, 'TABLE_NOT_FOUND', 'unknown table');
  assert.match(table.message, /nope/);
  assertError(await s.req('POST', '/shop/nope', { a: 1 }), 404, 'TABLE_NOT_FOUND', 'unknown table POST');
  assertError(await s.req('GET', '/nodb/message'), 404, 'ROUTE_NOT_FOUND', 'unknown database');
});

// A path below a record URL names an existing table: the route is what is missing.
test('a path below a record URL is ROUTE_NOT_FOUND, not a missing table', async (t) => {
  const s = await serve(t);
  assertError(await s.req('GET', '/realtime-demo/message/a/b'), 404, 'ROUTE_NOT_FOUND', 'too deep');
});

test('@export(rest: false) tables are not served; non-exported tables neither', async (t) => {
  const s = await serve(t, {
    'm.graphql': MESSAGE_SDL,
    'x.graphql': `type Hidden @table(database: "realtime-demo") @export(name: "hidden", rest: false) { id: ID! @primaryKey }
type Internal @table(database: "realtime-demo") { id: ID! @primaryKey }`,
  });
  assertError(await s.req('GET', '/realtime-demo/hidden'), 404, 'TABLE_NOT_FOUND', 'rest: false');
  assertError(await s.req('GET', '/realtime-demo/Internal'), 404, 'TABLE_NOT_FOUND', 'not exported');
  assert.equal((await s.req('GET', M)).status, 200);
});

test('records and change log survive a restart on the same data directory', async (t) => {
  const first = await serve(t);
  await first.req('POST', M, { id: 'keep', title: 't', content: 'c' });
  const etag = (await first.req('GET', `${M}/keep`)).headers.etag;
  const head = first.server.app.store.changeLog.head();
  await first.server.close();
  const second = await serve(t, undefined, { data: first.dataDir });
  const got = await second.req('GET', `${M}/keep`);
  assert.equal(got.status, 200);
  assert.equal(got.headers.etag, etag);
  assert.equal(second.server.app.store.changeLog.head(), head);
  const next = await second.req('POST', M, { id: 'next', title: 't', content: 'c' });
  assert.equal(next.headers.etag, `"${head + 1}"`);
});

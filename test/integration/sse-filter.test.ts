/**
 * SPEC §4 filtered streams: a collection stream with a REST query delivers only matching records;
 * a record that stops matching produces a `delete`, one that starts matching an `update`, one that
 * never matches nothing; publishes reach filtered streams only for matching records. Replay from
 * the log decides exactly as live delivery does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSseServer, type Frame, type SseServer } from '../helpers/sse.ts';

const SDL = `type Item @table(database: "shop") @export(name: "item") {
  id: ID! @primaryKey
  category: String @indexed
  price: Float
  name: String
}
`;

const raw = (frames: Frame[]) => frames.map((f) => f.raw);
const HELLO = (head: number) => ['retry: 3000\n\n', `event: message\nid: ${head}\ndata: {"type":"connected","status":"ok"}\n\n`];

/** The scripted history every test replays; seqs in comments. */
async function script(s: SseServer): Promise<void> {
  const ok = async (method: string, path: string, body?: unknown) => {
    const res = await s.req(method, path, body);
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${res.text}`);
  };
  await ok('POST', '/shop/item', { id: 'a', category: 'sw', price: 20, name: 'A' }); // 1 a enters
  await ok('POST', '/shop/item', { id: 'b', category: 'hw', price: 5, name: 'B' }); // 2 b never matched yet
  await ok('PATCH', '/shop/item/b', { category: 'sw' }); // 3 b enters: update
  await ok('PATCH', '/shop/item/a', { category: 'hw' }); // 4 a leaves: delete
  await ok('PATCH', '/shop/item/a', { price: 30 }); // 5 a changes outside the filter: nothing
  await ok('POST', '/shop/item/a', { note: 'to a' }); // 6 publish to a non-matching record: nothing
  await ok('POST', '/shop/item/b', { note: 'to b' }); // 7 publish to a matching record
  await ok('PUT', '/shop/item/b', { id: 'b', category: 'sw', price: 6, name: 'B2' }); // 8 b stays: update
  await ok('DELETE', '/shop/item/a'); // 9 deleting a non-matching record: nothing
  await ok('DELETE', '/shop/item/b'); // 10 deleting a matching record: delete
  await ok('POST', '/shop/item', { id: 'c', category: 'sw', name: 'C' }); // 11 c enters
}

const SW_FRAMES = [
  'event: update\nid: 1\ndata: {"id":"a","category":"sw","price":20,"name":"A"}\n\n',
  'event: update\nid: 3\ndata: {"id":"b","category":"sw","price":5,"name":"B"}\n\n',
  'event: delete\nid: 4\ndata: {"id":"a"}\n\n',
  'event: publish\nid: 7\ndata: {"id":"b","message":{"note":"to b"}}\n\n',
  'event: update\nid: 8\ndata: {"id":"b","category":"sw","price":6,"name":"B2"}\n\n',
  'event: delete\nid: 10\ndata: {"id":"b"}\n\n',
  'event: update\nid: 11\ndata: {"id":"c","category":"sw","name":"C"}\n\n',
];

test('filtered collection stream: enter is an update, leave a delete, never-matching nothing', async (t) => {
  const s = await startSseServer(t, { sdl: SDL, tls: true });
  const sw = await s.open('/shop/item/?category=sw&stream=sse'); // SPEC's own form, trailing slash
  const none = await s.open('/shop/item?category=none&stream=sse');
  for (const st of [sw, none]) assert.deepEqual(raw(await st.next(2)), HELLO(0));
  await script(s);
  assert.deepEqual(raw(await sw.next(SW_FRAMES.length)), SW_FRAMES);
  // A never-matching filter saw nothing of all that: the first frame it gets is this one.
  await s.req('POST', '/shop/item', { id: 'n', category: 'none' });
  assert.deepEqual(raw(await none.next(1)), ['event: update\nid: 12\ndata: {"id":"n","category":"none"}\n\n']);
  assert.deepEqual(sw.pending(), []);
});

test('non-indexed, range and OR filters decide enter and leave from the record before and after', async (t) => {
  const s = await startSseServer(t, { sdl: SDL });
  const cheap = await s.open('/shop/item?price=lt=10&stream=sse'); // no index on price: evaluated per change
  const either = await s.open('/shop/item?[name=A|price=ge=30]&stream=sse');
  for (const st of [cheap, either]) await st.next(2);
  await script(s);
  const events = (frames: Frame[]) => frames.map((f) => `${f.event} ${f.id} ${JSON.parse(f.data!).id}`);
  // b (price 5, then 6) matches until deleted; a and c never cost under 10 (c has no price at all).
  assert.deepEqual(events(await cheap.next(5)), ['update 2 b', 'update 3 b', 'publish 7 b', 'update 8 b', 'delete 10 b']);
  // a matches by name throughout (its price change keeps it in), so it never leaves until deleted.
  assert.deepEqual(events(await either.next(5)), ['update 1 a', 'update 4 a', 'update 5 a', 'publish 6 a', 'delete 9 a']);
  await s.req('POST', '/shop/item', { id: 'z', name: 'A', price: 1 });
  for (const st of [cheap, either]) assert.deepEqual(events(await st.next(1)), ['update 12 z']);
});

test('a filtered stream resumed from the log gets exactly what it would have seen live', async (t) => {
  const s = await startSseServer(t, { sdl: SDL, tls: true });
  await script(s);
  for (const cursor of ['0', '2']) {
    const st = await s.open('/shop/item?category=sw&stream=sse', { headers: { 'last-event-id': cursor } });
    await st.next(2);
    const expected = SW_FRAMES.filter((f) => Number(/id: (\d+)/.exec(f)![1]) > Number(cursor));
    assert.deepEqual(raw(await st.next(expected.length)), expected);
    st.close();
  }
  // Retained data of a filtered stream: the current matching records only.
  await s.req('POST', '/shop/item', { id: 'd', category: 'hw' });
  const fresh = await s.open('/shop/item?category=sw&stream=sse');
  assert.deepEqual(raw(await fresh.next(3)), [...HELLO(12), 'event: message\nid: 12\ndata: {"id":"c","category":"sw","name":"C"}\n\n']);
  await s.req('PATCH', '/shop/item/d', { category: 'sw' });
  assert.deepEqual(raw(await fresh.next(1)), ['event: update\nid: 13\ndata: {"id":"d","category":"hw"}\n\n'.replace('"hw"', '"sw"')]);
});

test('a filtered record stream follows one record in and out of the filter', async (t) => {
  const s = await startSseServer(t, { sdl: SDL });
  await s.req('POST', '/shop/item', { id: 'a', category: 'hw', price: 1 }); // 1
  const st = await s.open('/shop/item/a?category=sw&stream=sse');
  assert.deepEqual(raw(await st.next(2)), HELLO(1), 'no retained data: the record does not match');
  await s.req('POST', '/shop/item/a', { ignored: true }); // 2: not matching, no publish
  await s.req('PATCH', '/shop/item/a', { category: 'sw' }); // 3: enters
  await s.req('POST', '/shop/item', { id: 'b', category: 'sw' }); // 4: another record
  await s.req('POST', '/shop/item/a', { seen: true }); // 5: matching, publish
  await s.req('PATCH', '/shop/item/a', { category: 'hw' }); // 6: leaves
  await s.req('DELETE', '/shop/item/a'); // 7: already out
  await s.req('POST', '/shop/item', { id: 'a', category: 'sw' }); // 8: back
  assert.deepEqual(raw(await st.next(4)), [
    'event: update\nid: 3\ndata: {"id":"a","category":"sw","price":1}\n\n',
    'event: publish\nid: 5\ndata: {"id":"a","message":{"seen":true}}\n\n',
    'event: delete\nid: 6\ndata: {"id":"a"}\n\n',
    'event: update\nid: 8\ndata: {"id":"a","category":"sw"}\n\n',
  ]);
});

test('a publish judged by the record as it was then, even when later writes land in the same commit', async (t) => {
  const s = await startSseServer(t, { sdl: SDL });
  const service = s.server.app.services.get('shop/Item')!;
  await service.create({ id: 'b', category: 'sw' }); // 1
  const st = await s.open('/shop/item?category=sw&stream=sse&retained=false');
  await st.next(2);
  // Issued together, these share one LMDB commit: the hub sees them in one round, after both.
  await Promise.all([service.publish('b', { last: 'words' }), service.delete('b'), service.publish('b', { too: 'late' })]);
  assert.deepEqual(raw(await st.next(2)), ['event: publish\nid: 2\ndata: {"id":"b","message":{"last":"words"}}\n\n', 'event: delete\nid: 3\ndata: {"id":"b"}\n\n']);
  await service.create({ id: 'c', category: 'sw' }); // 5: nothing for the publish to a deleted record (4)
  assert.deepEqual(raw(await st.next(1)), ['event: update\nid: 5\ndata: {"id":"c","category":"sw"}\n\n']);
});

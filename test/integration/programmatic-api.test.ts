/**
 * The programmatic API (SPEC §7): `server.tables.<db>.<name>` CRUD emits the same events as REST,
 * `subscribe` yields them (filtered, per record, resumed), and `server.sse` channels behave as
 * seed 004 describes: join/leave, broadcast, broadcastAll, sendTo, listings, removal, limits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer } from '../../src/server.ts';
import { MESSAGE_SDL, httpRequest, schemaDir, startServer, tmpDir } from '../helpers/server.ts';
import { eventually, json, openSse } from '../helpers/sse.ts';

test('server.tables: CRUD with REST validation, same events, subscribe with filter, key and resume', async (t) => {
  const s = await startServer({ schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }) });
  t.after(() => s.close());
  const messages = s.server.tables['realtime-demo']!.message!;
  const all = messages.subscribe();
  const hello = messages.subscribe({ query: 'title=Hello' });
  const one = messages.subscribe({ id: 'm1' });
  const stream = await openSse(`${s.url}/realtime-demo/message?stream=sse`);
  await stream.next(2);

  const created = await messages.create({ id: 'm1', title: 'Hello', content: 'a' });
  assert.deepEqual(created, { id: 'm1', title: 'Hello', content: 'a' });
  await assert.rejects(messages.create({ id: 'm2', title: 'no content' } as never), (e: any) => e.code === 'VALIDATION_FAILED');
  await assert.rejects(messages.create({ id: 'm1', title: 'dup', content: 'x' }), (e: any) => e.code === 'CONFLICT');
  assert.equal((await messages.put('m2', { title: 'Other', content: 'b' })).id, 'm2');
  assert.equal((await messages.patch('m1', { content: 'patched' })).content, 'patched');
  assert.deepEqual(messages.get('m1'), { id: 'm1', title: 'Hello', content: 'patched' });
  assert.equal(messages.get('nope'), undefined);
  assert.deepEqual(
    (await messages.search('title=Other')).map((r: any) => r.id),
    ['m2'],
  );
  assert.equal((await messages.search()).length, 2);
  const publishSeq = await messages.publish('m1', { text: 'typing…' });
  assert.equal(await messages.delete('m1'), true);
  assert.equal(await messages.delete('m1'), false);
  assert.equal((await httpRequest(`${s.url}/realtime-demo/message/m2`)).body.title, 'Other', 'REST sees API writes');

  const seen = async (it: AsyncIterableIterator<any>, n: number) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const { value } = await it.next();
      out.push(`${value.type}:${value.key}:${value.seq}`);
    }
    return out;
  };
  assert.deepEqual(await seen(all, 5), ['update:m1:1', 'update:m2:2', 'update:m1:3', `publish:m1:${publishSeq}`, 'delete:m1:5']);
  assert.deepEqual(await seen(hello, 4), ['update:m1:1', 'update:m1:3', `publish:m1:${publishSeq}`, 'delete:m1:5']);
  assert.deepEqual(await seen(one, 4), ['update:m1:1', 'update:m1:3', `publish:m1:${publishSeq}`, 'delete:m1:5']);
  // The REST stream saw the same changes with the same ids.
  const frames = await stream.collectUntil((f) => f.event === 'delete');
  assert.deepEqual(
    frames.map((f) => `${f.event}:${f.id}`),
    ['update:1', 'update:2', 'update:3', `publish:${publishSeq}`, 'delete:5'],
  );

  const resumed = messages.subscribe({ lastEventId: 3 });
  assert.deepEqual(await seen(resumed, 2), [`publish:m1:${publishSeq}`, 'delete:m1:5']);
  for (const it of [all, hello, one, resumed]) await it.return!();
  stream.close();
  await eventually(() => s.server.app.hub.count() === 0, 'every subscription released');
  assert.equal(await s.server.publish('realtime-demo', 'message', 'm2', { ping: 1 }), 6);
  assert.throws(
    () => s.server.publish('realtime-demo', 'nope', 'x', {}),
    (e: any) => e.code === 'TABLE_NOT_FOUND',
  );
});

test('server.sse: channels, direct sends, listings, removal and the stream limits', async (t) => {
  const data = tmpDir();
  const server = await createServer({ port: 0, host: '127.0.0.1', tls: false, logLevel: 'silent', data, schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }), maxStreamsPerAddress: 2 });
  const sse = server.sse;
  server.fastify.get('/events', (request, reply) => {
    const channels = new URL(request.url, 'http://x').searchParams.getAll('channel');
    sse.addClient(request, reply, { channels });
  });
  const s = { url: await server.listen(), server };
  t.after(async () => {
    await server.close();
    rmSync(data, { recursive: true, force: true });
  });
  const a = await openSse(`${s.url}/events?channel=orders&channel=alerts`);
  const b = await openSse(`${s.url}/events?channel=orders`);
  const idOf = async (stream: typeof a) => json((await stream.next(2))[1]!).clientId as string;
  const [ida, idb] = [await idOf(a), await idOf(b)];
  assert.deepEqual(new Set(sse.getClientsByChannel('orders').map((c) => c.id)), new Set([ida, idb]));
  assert.deepEqual(
    sse.getClientsByChannel('alerts').map((c) => c.id),
    [ida],
  );
  assert.equal(sse.getClients().length, 2);
  assert.deepEqual([...sse.getClient(ida)!.channels].sort(), ['alerts', 'orders']);

  const over = await httpRequest(`${s.url}/events?channel=x`);
  assert.equal(over.status, 429, 'the third stream from one address is refused before it opens');
  assert.ok(Number(over.headers['retry-after']) > 0);
  assert.equal(over.body.code, 'TOO_MANY_REQUESTS');

  assert.equal(sse.broadcast('orders', 'new_order', { id: 7 }, '41'), 2);
  for (const stream of [a, b]) {
    const f = await stream.until((x) => x.event === 'new_order');
    assert.equal(f.raw, 'event: new_order\nid: 41\ndata: {"id":7}\n\n');
  }
  assert.equal(sse.channel('alerts').send({ type: 'alert', data: 'plain text' }), 1);
  assert.equal((await a.until((x) => x.event === 'alert')).data, 'plain text');
  assert.equal(sse.sendTo(idb, 'direct', { only: 'b' }), true);
  assert.deepEqual(json(await b.until((x) => x.event === 'direct')), { only: 'b' });
  assert.equal(sse.sendTo('no-such-client', 'direct', {}), false);

  assert.equal(sse.unsubscribe(ida, 'orders'), true);
  assert.equal(sse.unsubscribe(ida, 'orders'), false);
  assert.equal(sse.channel('orders').count(), 1);
  assert.equal(sse.broadcastAll('announcement', { all: true }), 2);
  await a.until((x) => x.event === 'announcement');
  await b.until((x) => x.event === 'announcement');

  sse.removeClient(idb);
  await b.ended;
  assert.equal(sse.getClient(idb), undefined);
  assert.deepEqual(sse.stats(), { clients: 1, channels: { alerts: 1 } });
  sse.shutdown();
  await a.ended;
  await eventually(() => s.server.streams.size === 0 && sse.getClients().length === 0, 'all channel clients gone');
});

/**
 * SPEC §4, the stream itself: headers on HTTP/2 and HTTP/1.1, the exact text of every frame kind,
 * both ways of asking for a stream, record streams, retained data (with `limit(...)`, or skipped),
 * and that events come from committed writes of every source (REST, programmatic API, expiry)
 * while rejected or rolled-back writes produce none.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as http2Connect } from 'node:http2';
import { json, openSse, startSseServer, type Frame } from '../helpers/sse.ts';

const STREAM = '/realtime-demo/message?stream=sse';
const MESSAGES = 'realtime-demo/Message';

const CONNECTED = '{"type":"connected","status":"ok"}';
const hello = (head: number) => [`retry: 3000\n\n`, `event: message\nid: ${head}\ndata: ${CONNECTED}\n\n`];
const raw = (frames: Frame[]) => frames.map((f) => f.raw);

test('HTTP/2 stream headers: event-stream, no-cache, no Connection header, never compressed', async (t) => {
  const s = await startSseServer(t, { tls: true });
  const session = http2Connect(s.url, { rejectUnauthorized: false });
  const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const req = session.request({ ':path': STREAM, 'accept-encoding': 'gzip, deflate, br' });
    req.on('response', (h) => {
      resolve(h as Record<string, unknown>);
      req.close();
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(headers[':status'], 200);
  assert.equal(headers['content-type'], 'text/event-stream; charset=utf-8');
  assert.equal(headers['cache-control'], 'no-cache, no-transform');
  assert.equal(headers['x-accel-buffering'], 'no');
  assert.equal(headers.connection, undefined, 'HTTP/2 forbids the Connection header');
  assert.equal(headers['content-encoding'], undefined);
  assert.equal(headers['transfer-encoding'], undefined);
  // Closed here, before the server: an open HTTP/2 session would hold the server's close().
  await new Promise<void>((r) => session.close(() => r()));
});

test('HTTP/1.1 stream headers (plain and over TLS): connection keep-alive, never compressed', async (t) => {
  for (const tls of [false, true]) {
    const s = await startSseServer(t, { tls, h2: false });
    const stream = await s.open(STREAM, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
    assert.equal(stream.status, 200);
    assert.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(stream.headers['cache-control'], 'no-cache, no-transform');
    assert.equal(stream.headers['x-accel-buffering'], 'no');
    assert.equal(stream.headers.connection, 'keep-alive');
    assert.equal(stream.headers['content-encoding'], undefined);
    // Headers and the first frames arrive before anything is written or any heartbeat is due.
    assert.deepEqual(raw(await stream.next(2)), hello(0));
    await s.close();
  }
});

test('exact frames: retry, connected, retained, update, publish, delete (HTTPS, HTTP/2)', async (t) => {
  const s = await startSseServer(t, { tls: true });
  assert.equal((await s.req('POST', '/realtime-demo/message', { id: 'msg-1', title: 'Hello', content: 'World' })).status, 201);
  assert.equal((await s.req('POST', '/realtime-demo/message', { id: 'msg-2', title: 'Second', content: 'Two' })).status, 201);
  const stream = await s.open(STREAM);
  assert.deepEqual(raw(await stream.next(4)), [
    ...hello(2),
    'event: message\nid: 2\ndata: {"id":"msg-1","title":"Hello","content":"World"}\n\n',
    'event: message\nid: 2\ndata: {"id":"msg-2","title":"Second","content":"Two"}\n\n',
  ]);

  assert.equal((await s.req('PUT', '/realtime-demo/message/msg-1', { id: 'msg-1', title: 'Hello', content: 'again' })).status, 200);
  assert.equal((await s.req('PATCH', '/realtime-demo/message/msg-2', { title: 'Patched' })).status, 200);
  assert.equal((await s.req('POST', '/realtime-demo/message/msg-1', { text: 'typing…' })).status, 202);
  assert.equal((await s.req('DELETE', '/realtime-demo/message/msg-1')).status, 204);
  assert.equal((await s.req('POST', '/realtime-demo/message', { id: 'multi', title: 'line\nbreak', content: '"quoted"' })).status, 201);
  assert.deepEqual(raw(await stream.next(5)), [
    'event: update\nid: 3\ndata: {"id":"msg-1","title":"Hello","content":"again"}\n\n',
    'event: update\nid: 4\ndata: {"id":"msg-2","title":"Patched","content":"Two"}\n\n',
    'event: publish\nid: 5\ndata: {"id":"msg-1","message":{"text":"typing…"}}\n\n',
    'event: delete\nid: 6\ndata: {"id":"msg-1"}\n\n',
    // JSON escapes the newline, so a record's text can never forge frames.
    'event: update\nid: 7\ndata: {"id":"multi","title":"line\\nbreak","content":"\\"quoted\\""}\n\n',
  ]);
});

test('ping: a heartbeat with data and no id, every pingInterval', async (t) => {
  const s = await startSseServer(t, { pingInterval: 60 });
  const stream = await s.open(STREAM);
  await stream.next(2);
  for (let i = 0; i < 2; i++) {
    const [ping] = await stream.next(1, 3000);
    assert.match(ping!.raw, /^event: ping\ndata: \{"time":\d{13}\}\n\n$/);
    assert.equal(ping!.id, undefined, 'a ping must not move the client cursor');
  }
});

test('Accept: text/event-stream opens a stream on collection and record URLs (no ?stream=sse)', async (t) => {
  const s = await startSseServer(t, { tls: true });
  await s.req('POST', '/realtime-demo/message', { id: 'a', title: 'A', content: 'a' });
  const collection = await s.open('/realtime-demo/message', { headers: { accept: 'text/event-stream' } });
  const record = await s.open('/realtime-demo/message/a', { headers: { accept: 'text/html, text/event-stream;q=0.9' } });
  const slash = await s.open('/realtime-demo/message/', { headers: { accept: 'text/event-stream' } });
  for (const st of [collection, record, slash]) {
    assert.equal(st.status, 200);
    assert.deepEqual(raw(await st.next(3)), [...hello(1), 'event: message\nid: 1\ndata: {"id":"a","title":"A","content":"a"}\n\n']);
  }
  // Without the header or the parameter the same URL answers JSON.
  const plain = await s.req('GET', '/realtime-demo/message');
  assert.deepEqual(plain.body, [{ id: 'a', title: 'A', content: 'a' }]);
  assert.equal((await s.req('GET', '/realtime-demo/message?stream=websocket')).status, 400);
});

test("record stream: retained record, then only that record's update, publish and delete", async (t) => {
  const s = await startSseServer(t, { tls: true });
  await s.req('POST', '/realtime-demo/message', { id: 'msg-1', title: 'Hello', content: 'World' });
  await s.req('POST', '/realtime-demo/message', { id: 'other', title: 'x', content: 'x' });
  const stream = await s.open('/realtime-demo/message/msg-1?stream=sse');
  const absent = await s.open('/realtime-demo/message/later?stream=sse');
  assert.deepEqual(raw(await stream.next(3)), [...hello(2), 'event: message\nid: 2\ndata: {"id":"msg-1","title":"Hello","content":"World"}\n\n']);
  assert.deepEqual(raw(await absent.next(2)), hello(2), 'an absent record has no retained data');

  await s.req('PATCH', '/realtime-demo/message/other', { title: 'y' }); // 3: not this record
  await s.req('POST', '/realtime-demo/message/other', { hi: 1 }); // 4
  await s.req('PATCH', '/realtime-demo/message/msg-1', { title: 'Hi' }); // 5
  await s.req('POST', '/realtime-demo/message/msg-1', { hi: 2 }); // 6
  await s.req('DELETE', '/realtime-demo/message/other'); // 7
  await s.req('DELETE', '/realtime-demo/message/msg-1'); // 8
  await s.req('POST', '/realtime-demo/message', { id: 'later', title: 'L', content: 'l' }); // 9
  assert.deepEqual(raw(await stream.next(3)), [
    'event: update\nid: 5\ndata: {"id":"msg-1","title":"Hi","content":"World"}\n\n',
    'event: publish\nid: 6\ndata: {"id":"msg-1","message":{"hi":2}}\n\n',
    'event: delete\nid: 8\ndata: {"id":"msg-1"}\n\n',
  ]);
  assert.deepEqual(raw(await absent.next(1)), ['event: update\nid: 9\ndata: {"id":"later","title":"L","content":"l"}\n\n']);
  assert.deepEqual(stream.pending(), []);
});

test('retained data honours limit(n), limit(start,end) and filters, in key order', async (t) => {
  const s = await startSseServer(t);
  for (const id of ['e', 'c', 'a', 'd', 'b']) await s.req('POST', '/realtime-demo/message', { id, title: id === 'c' ? 'odd' : 'even', content: id });
  const ids = async (path: string, n: number) => {
    const st = await s.open(path);
    const head = s.server.app.store.changeLog.head();
    const frames = await st.next(2 + n);
    assert.deepEqual(raw(frames.slice(0, 2)), hello(head));
    for (const f of frames.slice(2)) assert.equal(f.id, String(head), 'retained data carries the cursor it was read at');
    // Live events follow right after; nothing else is retained.
    await s.req('POST', '/realtime-demo/message/a', { n: path });
    const next = await st.until((f) => f.event === 'publish' && json(f).message.n === path);
    assert.equal(next.event, 'publish');
    st.close();
    return frames.slice(2).map((f) => {
      assert.equal(f.event, 'message');
      return json(f).id;
    });
  };
  assert.deepEqual(await ids('/realtime-demo/message?limit(2)&stream=sse', 2), ['a', 'b']);
  assert.deepEqual(await ids('/realtime-demo/message?stream=sse&limit(1,3)', 2), ['b', 'c']);
  assert.deepEqual(await ids('/realtime-demo/message?title=even&stream=sse&limit(3)', 3), ['a', 'b', 'd']);
  assert.deepEqual(await ids('/realtime-demo/message?stream=sse', 5), ['a', 'b', 'c', 'd', 'e']);
});

test('retained=false: the connected frame, then only live events', async (t) => {
  const s = await startSseServer(t);
  await s.req('POST', '/realtime-demo/message', { id: 'a', title: 'A', content: 'a' });
  for (const path of ['/realtime-demo/message?stream=sse&retained=false', '/realtime-demo/message/a?retained=false&stream=sse']) {
    const st = await s.open(path);
    assert.deepEqual(raw(await st.next(2)), hello(s.server.app.store.changeLog.head()));
    const { body } = await s.req('PATCH', '/realtime-demo/message/a', { content: path });
    const [f] = await st.next(1);
    assert.equal(f!.event, 'update');
    assert.deepEqual(json(f!), body);
    st.close();
  }
});

const EXPIRING_SDL = `type Message @table(database: "realtime-demo") @export(name: "message") {
  id: ID! @primaryKey
  title: String!
  content: String!
}
type Session @table(database: "realtime-demo", expiration: 60) @export(name: "session") {
  id: ID! @primaryKey
  user: String!
}
`;

test('writes through the programmatic API and expiry produce the same events', async (t) => {
  let clock = Date.now();
  const s = await startSseServer(t, { sdl: EXPIRING_SDL, now: () => clock, tls: true });
  const messages = await s.open(STREAM);
  const sessions = await s.open('/realtime-demo/session?stream=sse');
  const oneSession = await s.open('/realtime-demo/session/s1?stream=sse');
  for (const st of [messages, sessions, oneSession]) await st.next(2);

  const service = s.server.app.services.get(MESSAGES)!;
  const created = await service.create({ id: 'p1', title: 'programmatic', content: 'api' });
  await service.publish('p1', { via: 'api' });
  await service.patch('p1', { content: 'patched' });
  await service.delete('p1');
  assert.deepEqual(raw(await messages.next(4)), [
    `event: update\nid: ${created.version}\ndata: {"id":"p1","title":"programmatic","content":"api"}\n\n`,
    `event: publish\nid: ${created.version + 1}\ndata: {"id":"p1","message":{"via":"api"}}\n\n`,
    `event: update\nid: ${created.version + 2}\ndata: {"id":"p1","title":"programmatic","content":"patched"}\n\n`,
    `event: delete\nid: ${created.version + 3}\ndata: {"id":"p1"}\n\n`,
  ]);

  const session = await s.req('POST', '/realtime-demo/session', { id: 's1', user: 'ann' });
  assert.equal(session.status, 201);
  for (const st of [sessions, oneSession]) assert.deepEqual(raw(await st.next(1)), [`event: update\nid: 5\ndata: {"id":"s1","user":"ann"}\n\n`]);
  // Nothing expires before its time...
  assert.equal(await s.server.app.sweepExpired(), 0);
  clock += 61_000;
  // ...and an expired record is deleted through the normal path: a `delete` on every stream that saw it.
  assert.equal(await s.server.app.sweepExpired(), 1);
  for (const st of [sessions, oneSession]) assert.deepEqual(raw(await st.next(1)), [`event: delete\nid: 6\ndata: {"id":"s1"}\n\n`]);
  assert.equal((await s.req('GET', '/realtime-demo/session/s1')).status, 404);
  assert.deepEqual(messages.pending(), [], 'other tables see nothing');
});

test('rejected and rolled-back writes produce no event: the next event id is the next sequence', async (t) => {
  const s = await startSseServer(t, { tls: true });
  await s.req('POST', '/realtime-demo/message', { id: 'a', title: 'A', content: 'a' });
  const collection = await s.open(STREAM);
  const record = await s.open('/realtime-demo/message/a?stream=sse');
  await collection.next(3);
  await record.next(3);
  const head = s.server.app.store.changeLog.head();

  const rejected: Array<[string, string, unknown, number]> = [
    ['POST', '/realtime-demo/message', { id: 'a', title: 'dup', content: 'dup' }, 409],
    ['POST', '/realtime-demo/message', { id: 'b', content: 'no title' }, 400],
    ['POST', '/realtime-demo/message', { id: 'b', title: 5, content: 'wrong type' }, 400],
    ['POST', '/realtime-demo/message', '{"id":"b",', 400],
    ['PUT', '/realtime-demo/message/a', { id: 'z', title: 'A', content: 'key mismatch' }, 400],
    ['PATCH', '/realtime-demo/message/a', { title: null }, 400],
    ['PATCH', '/realtime-demo/message/missing', { title: 'x' }, 404],
    ['DELETE', '/realtime-demo/message/missing', undefined, 404],
    ['POST', '/realtime-demo/message/a', undefined, 400],
  ];
  for (const [method, path, body, status] of rejected) {
    const res = await s.req(method, path, body, typeof body === 'string' ? { 'content-type': 'application/json' } : {});
    assert.equal(res.status, status, `${method} ${path} ${JSON.stringify(body)} → ${res.text}`);
  }
  // A programmatic transaction that throws after writing is rolled back whole.
  const handle = s.server.app.services.get(MESSAGES)!.handle;
  await assert.rejects(
    s.server.app.store.transact((tx) => {
      tx.put(handle, 'a', { id: 'a', title: 'rolled', content: 'back' });
      tx.publish(handle, 'a', { never: true });
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(s.server.app.store.changeLog.head(), head, 'nothing was logged');

  await s.req('PATCH', '/realtime-demo/message/a', { content: 'valid' });
  for (const st of [collection, record]) {
    assert.deepEqual(raw(await st.next(1)), [`event: update\nid: ${head + 1}\ndata: {"id":"a","title":"A","content":"valid"}\n\n`]);
    assert.deepEqual(st.pending(), []);
  }
});

test('stream set-up errors are JSON before any streaming', async (t) => {
  const s = await startSseServer(t);
  const unknownTable = await openSse(`${s.url}/realtime-demo/nope?stream=sse`, { agent: s.agent });
  assert.equal(unknownTable.status, 404);
  assert.equal((await unknownTable.json()).code, 'TABLE_NOT_FOUND');
  const badQuery = await openSse(`${s.url}/realtime-demo/message?title=gt=&[&stream=sse`, { agent: s.agent });
  assert.equal(badQuery.status, 400);
  assert.equal((await badQuery.json()).statusCode, 400);
  assert.equal(s.server.streams.size, 0);
  assert.equal(s.server.app.hub.count(), 0);
});

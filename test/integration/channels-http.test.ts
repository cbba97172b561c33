/**
 * Issue #16 (8): channels over HTTP. `GET /channels/{name}` subscribes with real clients
 * (`eventsource`, curl, undici), `POST /channels/{name}` publishes to them and to the channel
 * clients of code (`server.sse`), and back; channel permissions by pattern (`user:$user`,
 * `item:*`), names, bodies and limits are refused with JSON before a stream opens; heartbeats,
 * credential expiry and shutdown reach channel streams as they reach table streams.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { hashPassword } from '../../src/auth/password.ts';
import { createServer } from '../../src/server.ts';
import { httpRequest, MESSAGE_SDL, schemaDir, tmpDir } from '../helpers/server.ts';
import { createEventSource, eventually, json, openSse, startSseServer, type SseServer, type SseStream } from '../helpers/sse.ts';
import { startWorkers } from '../helpers/workers.ts';

const ROOM = '/channels/room:1';

/** Sends a publish and checks it was accepted; returns how many subscribers it was sent to. */
async function publish(s: Pick<SseServer, 'req'>, path: string, body: unknown, headers: Record<string, string> = {}): Promise<number> {
  const res = await s.req('POST', path, body, headers);
  assert.equal(res.status, 202, res.text);
  return res.body.subscribers;
}

test('eventsource and curl subscribe, a POST reaches both, a plain GET describes the channel, pings arrive, shutdown ends the streams', async (t) => {
  const s = await startSseServer(t, { pingInterval: 100 });
  const { source } = createEventSource(`${s.url}${ROOM}`, s.agent);
  s.defer(() => source.close());
  const fromEventSource: unknown[] = [];
  source.addEventListener('chat', (e) => fromEventSource.push(JSON.parse(e.data)));
  await new Promise<void>((resolve, reject) => {
    source.onopen = () => resolve();
    source.onerror = () => reject(new Error('EventSource failed to open'));
  });

  const hasCurl = spawnSync('sh', ['-c', 'command -v curl']).status === 0;
  let curlOut = '';
  const curl = hasCurl ? spawn('curl', ['-sN', `${s.url}${ROOM}?stream=sse`]) : undefined;
  s.defer(() => curl?.kill());
  curl?.stdout.on('data', (d) => (curlOut += d));
  const stream = await s.open(ROOM, { headers: { accept: 'text/event-stream' } });
  assert.equal(stream.status, 200);
  assert.match(String(stream.headers['content-type']), /^text\/event-stream/);
  const [retry, connected] = await stream.next(2);
  assert.equal(retry!.retry, 3000);
  assert.equal(connected!.event, 'message');
  assert.equal(json(connected!).type, 'connected');
  assert.equal(connected!.id, undefined, 'channel frames carry no id: nothing is stored to resume from');

  const expected = 2 + (hasCurl ? 1 : 0);
  await eventually(async () => (await s.req('GET', ROOM)).body.subscribers === expected, `${expected} subscribers counted`);
  const described = await s.req('GET', ROOM);
  assert.deepEqual(described.body, { channel: 'room:1', subscribers: expected });

  assert.equal(await publish(s, ROOM, { event: 'chat', data: { text: 'hello', n: 1 } }), expected);
  const chat = await stream.until((f) => f.event === 'chat');
  assert.deepEqual(json(chat), { text: 'hello', n: 1 });
  await eventually(() => fromEventSource.length === 1, 'EventSource got the chat event');
  assert.deepEqual(fromEventSource, [{ text: 'hello', n: 1 }]);
  if (curl) await eventually(() => curlOut.includes('event: chat\ndata: {"text":"hello","n":1}\n\n'), `curl printed the event; it shows:\n${curlOut}`);

  // No event name: `message`, which EventSource's onmessage gets. A string is sent as JSON.
  await publish(s, ROOM, { data: 'plain' });
  assert.equal((await stream.until((f) => f.event === 'message')).data, '"plain"');
  // Nobody listens to a channel nobody opened: accepted, sent to none.
  assert.equal(await publish(s, '/channels/nobody:here', { data: 1 }), 0);

  const ping = await stream.until((f) => f.event === 'ping');
  assert.equal(typeof json(ping).time, 'number');

  // A Last-Event-ID is accepted and ignored: the stream starts from now.
  const resumed = await s.open(`${ROOM}?stream=sse&lastEventId=5`, { headers: { 'last-event-id': '7' } });
  assert.equal(resumed.status, 200);
  await resumed.next(2);
  assert.deepEqual(
    resumed.pending().filter((f) => f.event !== 'ping'),
    [],
    'nothing replayed',
  );

  resumed.close();
  source.close();
  curl?.kill();
  await eventually(() => s.server.sse.channel('room:1').count() === 1, 'closed clients leave the channel');
  await s.close();
  assert.equal(await stream.ended, undefined, 'shutdown ended the stream cleanly');
});

test('code and HTTP share channels: server.sse reaches HTTP subscribers, POST reaches clients of a custom route', async (t) => {
  // A custom route is added before the server listens, as an app does.
  const data = tmpDir();
  const schemas = schemaDir({ 'm.graphql': MESSAGE_SDL });
  const server = await createServer({ port: 0, host: '127.0.0.1', tls: false, logLevel: 'silent', data, schemas });
  server.fastify.get('/mine', (request, reply) => void server.sse.addClient(request, reply, { channels: ['item:7'] }));
  const url = await server.listen();
  const opened: SseStream[] = [];
  t.after(async () => {
    for (const o of opened) o.close();
    await server.close();
    rmSync(data, { recursive: true, force: true });
    rmSync(schemas, { recursive: true, force: true });
  });
  const s = { server, req: (method: string, path: string, body?: unknown) => httpRequest(url + path, method, body) };
  const open = async (path: string) => {
    const o = await openSse(url + path);
    opened.push(o);
    return o;
  };
  const http = await open('/channels/item:7?stream=sse');
  const custom = await open('/mine');
  await http.next(2);
  await custom.next(2);
  assert.equal(s.server.sse.channel('item:7').count(), 2);

  assert.equal(s.server.sse.broadcast('item:7', 'comment', { by: 'code' }), 2);
  assert.deepEqual(json(await http.until((f) => f.event === 'comment')), { by: 'code' });
  await publish(s, '/channels/item:7', { event: 'comment', data: { by: 'http' } });
  assert.deepEqual(json(await custom.until((f) => f.event === 'comment' && json(f).by === 'http')), { by: 'http' });
  assert.deepEqual(json(await http.until((f) => f.event === 'comment')), { by: 'http' });
  assert.equal((await s.req('GET', '/admin/connections')).body.channels.channels['item:7'], 2, '/admin/connections counts both');
});

test('bad names, parameters and bodies are 4xx JSON, and nothing is delivered', async (t) => {
  const s = await startSseServer(t, { maxChannelMessageBytes: 100, bodyLimit: 2048 });
  const stream = await s.open(`${ROOM}?stream=sse`);
  await stream.next(2);
  const refused = async (method: string, path: string, status: number, code: string, body?: unknown, headers?: Record<string, string>) => {
    const res = await s.req(method, path, body, headers);
    assert.equal(res.status, status, `${method} ${path}: ${res.text}`);
    assert.equal(res.body.code, code, `${method} ${path}: ${res.text}`);
    return res.body.message as string;
  };
  for (const name of ['bad%20name', 'a::b', ':a', 'a:', '*', 'item:*', '%24user', 'a%2Fb', 'x'.repeat(201)]) {
    assert.match(await refused('GET', `/channels/${name}?stream=sse`, 400, 'BAD_REQUEST'), /channel name .* is invalid/);
    await refused('POST', `/channels/${name}`, 400, 'BAD_REQUEST', { data: 1 });
  }
  assert.equal((await s.req('GET', `/channels/${'x'.repeat(200)}`)).status, 200, '200 characters is a name');
  assert.match(await refused('GET', `${ROOM}?stream=sse&title=x`, 400, 'BAD_REQUEST'), /"title" is not a parameter/);
  await refused('GET', `${ROOM}?stream=json`, 400, 'BAD_REQUEST');
  await refused('POST', `${ROOM}?x=1`, 400, 'BAD_REQUEST', { data: 1 });
  await refused('POST', ROOM, 415, 'UNSUPPORTED_MEDIA_TYPE', 'data', { 'content-type': 'text/plain' });
  await refused('POST', ROOM, 400, 'INVALID_JSON', '{"data":', { 'content-type': 'application/json' });
  await refused('POST', ROOM, 400, 'VALIDATION_FAILED', [1, 2]);
  await refused('POST', ROOM, 400, 'VALIDATION_FAILED', { event: 'chat' });
  await refused('POST', ROOM, 400, 'VALIDATION_FAILED', { data: 1, id: '3' });
  for (const event of ['', '1abc', 'two words', 'a\nb', 'x'.repeat(65), 7]) await refused('POST', ROOM, 400, 'VALIDATION_FAILED', { event, data: 1 });
  for (const event of ['ping', 'open', 'error']) assert.match(await refused('POST', ROOM, 400, 'VALIDATION_FAILED', { event, data: 1 }), /reserved/);
  assert.match(await refused('POST', ROOM, 413, 'PAYLOAD_TOO_LARGE', { data: 'x'.repeat(100) }), /maxChannelMessageBytes \(100\)/);
  await refused('POST', ROOM, 413, 'PAYLOAD_TOO_LARGE', { data: 'x'.repeat(3000) });
  await refused('PUT', ROOM, 405, 'METHOD_NOT_ALLOWED', { data: 1 });

  await publish(s, ROOM, { event: 'last', data: 'x'.repeat(98) });
  const frames = await stream.collectUntil((f) => f.event === 'last');
  assert.deepEqual(
    frames.map((f) => f.event),
    ['last'],
    'only the accepted publish was delivered',
  );
});

test('limits: maxChannelSubscribers per channel (429 CHANNEL_FULL), the stream limits as for tables', async (t) => {
  const s = await startSseServer(t, { maxChannelSubscribers: 2, maxStreamsPerAddress: 4 });
  const a = await s.open(`${ROOM}?stream=sse`);
  const b = await s.open(`${ROOM}?stream=sse`);
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  const full = await s.open(`${ROOM}?stream=sse`);
  assert.equal(full.status, 429);
  assert.ok(Number(full.headers['retry-after']) >= 1);
  const body = await full.json();
  assert.equal(body.code, 'CHANNEL_FULL');
  assert.match(body.message, /maxChannelSubscribers/);
  // Another channel is not this one's business; the per-address stream limit still is.
  const other = await s.open('/channels/room:2?stream=sse');
  assert.equal(other.status, 200);
  const table = await s.open('/realtime-demo/message?stream=sse');
  assert.equal(table.status, 200);
  const over = await s.open('/channels/room:3?stream=sse');
  assert.equal(over.status, 429);
  assert.equal((await over.json()).code, 'TOO_MANY_REQUESTS');
  a.close();
  table.close();
  await eventually(() => s.server.sse.channel('room:1').count() === 1, 'a subscriber left');
  const again = await s.open(`${ROOM}?stream=sse`);
  assert.equal(again.status, 200);
});

test('permissions: user:$user and item:* patterns, publish needs its grant, anonymous is refused, access_token opens a stream that ends with its token', async (t) => {
  const password = await hashPassword('pw');
  const s = await startSseServer(t, {
    auth: {
      users: { alice: { password, roles: ['member'] }, bob: { password, roles: ['member', 'editor'] } },
      roles: {
        member: { tables: {}, channels: { 'user:$user': ['subscribe'], 'item:*': ['subscribe'] } },
        editor: { tables: {}, channels: { 'item:*': ['publish'], 'user:**': ['publish'] } },
      },
      tokenTtl: 1,
    },
  });
  const basic = (user: string) => ({ authorization: `Basic ${Buffer.from(`${user}:pw`).toString('base64')}` });
  const alice = basic('alice');
  const bob = basic('bob');
  const status = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
    const res = method === 'GET' ? await s.open(path, { headers }) : undefined;
    if (res) {
      const code = res.status;
      if (code === 200) res.close();
      else assert.equal((await res.json()).statusCode, code);
      return code;
    }
    return (await s.req(method, path, body, headers)).status;
  };
  assert.equal(await status('GET', '/channels/user:alice?stream=sse', alice), 200);
  assert.equal(await status('GET', '/channels/user:bob?stream=sse', alice), 403);
  assert.equal(await status('GET', '/channels/user:bob', alice), 403, 'the description needs subscribe too');
  assert.equal(await status('GET', '/channels/item:42?stream=sse', alice), 200);
  assert.equal(await status('GET', '/channels/item:42:comments?stream=sse', alice), 403, '* is one segment');
  assert.equal(await status('GET', '/channels/room:1?stream=sse', alice), 403);
  assert.equal(await status('GET', '/channels/item:42?stream=sse', {}), 401);
  assert.equal(await status('POST', '/channels/item:42', alice, { data: 1 }), 403);
  assert.equal(await status('POST', '/channels/item:42', {}, { data: 1 }), 401);

  // bob publishes to alice's own channel and to an item channel: she gets both.
  const mine = await s.open('/channels/user:alice?stream=sse', { headers: alice });
  const item = await s.open('/channels/item:42?stream=sse', { headers: alice });
  await mine.next(2);
  await item.next(2);
  assert.equal(await publish(s, '/channels/user:alice', { event: 'note', data: { from: 'bob' } }, bob), 1);
  assert.equal(await publish(s, '/channels/item:42', { event: 'bid', data: 10 }, bob), 1);
  assert.deepEqual(json(await mine.until((f) => f.event === 'note')), { from: 'bob' });
  assert.equal((await item.until((f) => f.event === 'bid')).data, '10');

  // EventSource cannot send headers: a bearer token in the URL, on the stream request only.
  const token = (await s.req('POST', '/auth/token', { username: 'alice', password: 'pw' })).body.access_token as string;
  assert.equal((await s.req('GET', `/channels/item:42?access_token=${token}`)).status, 400, 'not on a plain GET');
  assert.equal((await s.req('POST', `/channels/item:42?access_token=${token}`, { data: 1 })).status, 400);
  const byToken = await s.open(`/channels/user:alice?stream=sse&access_token=${token}`);
  assert.equal(byToken.status, 200);
  await byToken.next(2);
  // The token lives one second (tokenTtl): the stream ends then, whatever its route.
  assert.equal(await byToken.ended, undefined);
  await eventually(() => s.server.streams.stats().expired === 1, 'counted as expired');
});

test('bad channel patterns stop start-up, each named', async (t) => {
  const data = tmpDir();
  const schemas = schemaDir({ 'm.graphql': MESSAGE_SDL });
  t.after(() => {
    rmSync(data, { recursive: true, force: true });
    rmSync(schemas, { recursive: true, force: true });
  });
  const roles = { r: { tables: {}, channels: { 'item-*': ['subscribe'], 'a:**:b': ['publish'], 'a b': ['subscribe'], 'ok:*:$user:**': ['subscribe'] } } };
  await assert.rejects(createServer({ port: 0, tls: false, logLevel: 'silent', data, schemas, auth: { users: {}, roles } as never }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'CONFIG_INVALID');
    assert.match(err.message, /auth\.roles\.r\.channels\["item-\*"\]: .*wildcards stand for whole segments/);
    assert.match(err.message, /channels\["a:\*\*:b"\]: .*only be the last segment/);
    assert.match(err.message, /channels\["a b"\]/);
    assert.doesNotMatch(err.message, /ok:\*/);
    return true;
  });
  await assert.rejects(createServer({ port: 0, tls: false, logLevel: 'silent', data, schemas, auth: { users: {}, roles: { r: { channels: { x: ['listen'] } } } } as never }), /CONFIG_INVALID|invalid/);
});

test('--workers 2: a publish on either worker reaches subscribers on both, and the per-channel limit is the server’s', { timeout: 120_000 }, async (t) => {
  const c = await startWorkers(t, [], { TABLECAST_MAX_CHANNEL_SUBSCRIBERS: '3' });
  const streams: SseStream[] = [];
  // Each on a new connection: the supervisor hands each new connection to the next worker.
  const open = async () => {
    const s = await c.stream(`${ROOM}?stream=sse`);
    streams.push(s);
    return s;
  };
  for (let i = 0; i < 3; i++) assert.equal((await open()).status, 200);
  assert.equal(new Set(streams.map((s) => s.headers['x-tablecast-worker'])).size, 2, 'subscribers on both workers');
  for (const s of streams) await s.next(2);
  // The counts reach the other worker by message: both workers describe the channel the same.
  await eventually(async () => {
    const counts = await Promise.all([0, 1].map(async () => (await c.fresh(ROOM)).body.subscribers));
    return counts.every((n) => n === 3);
  }, 'both workers count 3 subscribers');
  for (let i = 0; i < 2; i++) {
    const refused = await open();
    assert.equal(refused.status, 429);
    assert.equal((await refused.json()).code, 'CHANNEL_FULL');
  }
  // Publishes from new connections: both workers publish some of them.
  for (let i = 0; i < 4; i++) {
    const res = await c.fresh(ROOM, { method: 'POST', body: { event: 'n', data: i } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.subscribers, 3);
  }
  for (const s of streams.slice(0, 3)) {
    await eventually(() => s.frames.filter((f) => f.event === 'n').length === 4, 'every subscriber got the 4 publishes', 10_000);
    assert.deepEqual(
      s.frames
        .filter((f) => f.event === 'n')
        .map((f) => Number(f.data))
        .sort(),
      [0, 1, 2, 3],
    );
  }
});

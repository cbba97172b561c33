/**
 * `tablecast/client` in Node (its undici entry) against real servers: CRUD, search, errors, live
 * subscriptions, resume across a restart and across a slow-consumer cut with no gap and no
 * duplicate, credentials of every kind, abort, backpressure, and HTTPS with the CA and HTTP/2;
 * and against tiny node:http servers standing in for a proxy or a later server: a huge page in
 * place of a stream or an error is read only up to a bound, an unknown event type is skipped.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { hashPassword } from '../../src/auth/password.ts';
import { ClientError, createClient, type Client, type ClientOptions, type TableEvent } from '../../src/client/node.ts';
import { createServer, type ServerOptions } from '../../src/server.ts';
import { MESSAGE_SDL, schemaDir, startServer, tmpDir, type TestServer } from '../helpers/server.ts';
import { eventually, within } from '../helpers/sse.ts';

const DB = 'realtime-demo';

/**
 * A server with the message table, and `connect` for clients closed before it (an idle keep-alive
 * connection left open would hold the server's close until the client's keep-alive timeout).
 */
async function serve(t: TestContext, options: ServerOptions = {}): Promise<TestServer & { connect(o?: Partial<ClientOptions>): Client }> {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const s = await startServer({ schemas, sseRetry: 50, ...options });
  const clients: Client[] = [];
  t.after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await s.close();
    rmSync(schemas, { recursive: true, force: true });
  });
  return Object.assign(s, {
    connect(o: Partial<ClientOptions> = {}) {
      const client = createClient({ url: s.url, ...o });
      clients.push(client);
      return client;
    },
  });
}

/** Pulls `n` events (a hang fails the test instead of stalling the suite). */
async function take(events: AsyncIterator<TableEvent>, n: number): Promise<TableEvent[]> {
  const out: TableEvent[] = [];
  while (out.length < n) {
    const next = await within(events.next(), 20_000, `waited for event ${out.length + 1} of ${n}`);
    assert.ok(!next.done, 'the subscription ended early');
    out.push(next.value);
  }
  return out;
}

async function rejects(promise: Promise<unknown>, status: number, code: string): Promise<ClientError> {
  const err = await promise.then(
    () => assert.fail(`expected ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ClientError, String(err));
  assert.equal(err.code, code);
  assert.equal(err.status, status);
  return err;
}

test('CRUD, search and the server errors as ClientError', async (t) => {
  const s = await serve(t);
  const client = s.connect();
  const messages = client.table(DB, 'message');

  const made = await messages.create({ title: 'Hello', content: 'generated key' });
  assert.equal(typeof made.id, 'string');
  assert.deepEqual(await messages.get(made.id as string), made);
  assert.deepEqual(await messages.create({ id: 'a/b c', title: 'T', content: 'odd key' }), { id: 'a/b c', title: 'T', content: 'odd key' });
  assert.deepEqual(await messages.get('a/b c'), { id: 'a/b c', title: 'T', content: 'odd key' });
  assert.deepEqual(await messages.put('m2', { id: 'm2', title: 'Two', content: 'put' }), { id: 'm2', title: 'Two', content: 'put' });
  assert.deepEqual(await messages.patch('m2', { content: 'patched' }), { id: 'm2', title: 'Two', content: 'patched' });

  assert.deepEqual(await messages.search({ title: 'Two' }), [{ id: 'm2', title: 'Two', content: 'patched' }]);
  assert.deepEqual(await messages.search('content=sw=p&select(id)'), ['m2']);
  assert.deepEqual(await messages.search('select(id)&sort(-id)&limit(2)'), ['m2', 'a/b c']);
  assert.equal((await messages.search()).length, 3);

  await messages.delete('m2');
  const missing = await rejects(messages.get('m2'), 404, 'NOT_FOUND');
  assert.match(missing.message, /m2/);
  await rejects(messages.delete('m2'), 404, 'NOT_FOUND');
  const invalid = await rejects(messages.create({ id: 'bad', title: 5 }), 400, 'VALIDATION_FAILED');
  assert.ok(Array.isArray(invalid.details), 'the validation issues come along');
  await rejects(messages.create({ id: 'a/b c', title: 'T', content: 'again' }), 409, 'CONFLICT');
  await rejects(messages.search('limit(a)'), 400, 'QUERY_INVALID');
  await rejects(client.table(DB, 'nope').search(), 404, 'TABLE_NOT_FOUND');
  assert.deepEqual(await s.req('GET', '/realtime-demo/message/bad').then((r) => r.status), 404, 'a refused write stored nothing');

  const down = createClient({ url: 'http://127.0.0.1:1' });
  t.after(() => down.close());
  await rejects(down.table(DB, 'message').get('x'), 0, 'NETWORK_ERROR');
});

test('subscribe: connected and retained records, then update, publish and delete as typed events', async (t) => {
  const s = await serve(t);
  const client = s.connect();
  const messages = client.table(DB, 'message');
  await messages.create({ id: 'old', title: 'Old', content: 'before' });

  const all = messages.subscribe();
  const [retained] = await take(all, 1);
  assert.deepEqual(retained, { type: 'retained', cursor: '1', record: { id: 'old', title: 'Old', content: 'before' } });
  const one = messages.subscribe({ key: 'live', retained: false });
  const filtered = messages.subscribe({ filter: { title: 'Match' } });
  // A subscription is open once its server stream is: wait for the three.
  await eventually(() => s.server.streams.size === 3, 'three streams open', 10_000);

  await messages.create({ id: 'live', title: 'Match', content: 'new' });
  const { cursor } = await messages.publish('live', { text: 'typing…' });
  await messages.delete('live');

  assert.deepEqual(await take(all, 3), [
    { type: 'update', cursor: '2', record: { id: 'live', title: 'Match', content: 'new' } },
    { type: 'publish', cursor, key: { id: 'live' }, message: { text: 'typing…' } },
    { type: 'delete', cursor: '4', key: { id: 'live' } },
  ]);
  assert.deepEqual(
    (await take(one, 3)).map((e) => e.type),
    ['update', 'publish', 'delete'],
  );
  assert.deepEqual(
    (await take(filtered, 3)).map((e) => [e.type, e.cursor]),
    [
      ['update', '2'],
      ['publish', '3'],
      ['delete', '4'],
    ],
  );
  await one.return?.();
  await filtered.return?.();
  await all.return?.();
  await eventually(() => s.server.streams.size === 0 && s.server.app.hub.count() === 0, 'return() closed every stream');

  // since: every change after the cursor, no retained records.
  const resumed = messages.subscribe({ since: '2' });
  assert.deepEqual(
    (await take(resumed, 2)).map((e) => e.cursor),
    ['3', '4'],
  );
  await resumed.return?.();
});

test('a subscription resumes across a server restart on the same data: no gap, no duplicate', async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const data = tmpDir();
  const options = { schemas, data, sseRetry: 50, logLevel: 'silent', host: '127.0.0.1', tls: false } as const;
  let server = await createServer({ ...options, port: 0 });
  const url = await server.listen();
  const port = Number(new URL(url).port);
  const client = createClient({ url, maxRetryDelay: 200 });
  t.after(async () => {
    await client.close();
    await server.close();
    rmSync(schemas, { recursive: true, force: true });
    rmSync(data, { recursive: true, force: true });
  });
  const messages = client.table(DB, 'message');
  const events = messages.subscribe();
  const write = (n: number, from: number) => Promise.all(Array.from({ length: n }, (_, i) => messages.create({ id: `r${from + i}`, title: 't', content: 'c' })));

  await write(3, 0);
  const before = await take(events, 3);
  assert.deepEqual(
    before.map((e) => e.type),
    ['update', 'update', 'update'],
  );
  await server.close(); // graceful: ends the stream; the client starts reconnecting
  server = await createServer({ ...options, port });
  await server.listen();
  await write(5, 3);
  const after = await take(events, 5);
  const cursors = [...before, ...after].map((e) => Number(e.cursor));
  assert.deepEqual(cursors, [1, 2, 3, 4, 5, 6, 7, 8], 'every change once, in order');
  assert.deepEqual(new Set(after.map((e) => (e.type === 'update' ? e.record.id : ''))), new Set(['r3', 'r4', 'r5', 'r6', 'r7']));
  await events.return?.();
});

test('backpressure: a consumer that stops pulling stops the reading; the server cuts the stream as slow; the client resumes losing nothing', async (t) => {
  const s = await serve(t, { streamQueueFrames: 50, streamQueueBytes: 64 * 1024 });
  const client = s.connect();
  const events = client.table(DB, 'message').subscribe({ retained: false });
  const service = s.server.app.services.get('realtime-demo/Message')!;
  await eventually(() => s.server.streams.size === 1, 'the stream is open');
  await service.create({ id: 'first', title: 't', content: 'c' });
  await take(events, 1); // open, then the consumer stops pulling

  const big = 'z'.repeat(4096);
  let written = 1;
  while (s.server.streams.stats().cutSlow === 0) {
    assert.ok(written < 40_000, 'an unread stream should have been cut long before this');
    await Promise.all(Array.from({ length: 200 }, (_, i) => service.create({ id: `w${written + i}`, title: 't', content: big })));
    written += 200;
  }
  await eventually(() => s.server.streams.size === 0, 'the cut stream was freed');
  const head = s.server.app.store.changeLog.head();
  assert.equal(head, written);

  const rest = await take(events, written - 1);
  const cursors = rest.map((e) => Number(e.cursor));
  cursors.forEach((c, i) => {
    assert.equal(c, i + 2, 'every change after the first exactly once, in order');
  });
  assert.equal(s.server.streams.stats().cutSlow, 1);
  await events.return?.();
});

test('AbortSignal ends a subscription (and its server stream) and a pending call; client.close() ends the rest', async (t) => {
  const s = await serve(t);
  const client = s.connect();
  const messages = client.table(DB, 'message');
  const controller = new AbortController();
  const events = messages.subscribe({ signal: controller.signal });
  const pending = events.next();
  await eventually(() => s.server.streams.size === 1, 'the stream is open');
  controller.abort();
  await assert.rejects(pending, { name: 'AbortError' });
  await eventually(() => s.server.streams.size === 0 && s.server.app.hub.count() === 0, 'the server stream closed');
  assert.deepEqual(await events.next(), { done: true, value: undefined });

  await assert.rejects(messages.search(undefined, { signal: AbortSignal.abort() }), { name: 'AbortError' });

  const open = messages.subscribe();
  const waiting = open.next();
  await eventually(() => s.server.streams.size === 1, 'the second stream is open');
  await client.close();
  await assert.rejects(waiting, { name: 'AbortError' });
  await eventually(() => s.server.streams.size === 0, 'close() closed it');
});

test('credentials: bearer (also as a function), basic, and the session cookie of login(); a refused stream is a ClientError', async (t) => {
  const password = 'correct horse';
  const hash = await hashPassword(password);
  const s = await serve(t, {
    auth: {
      users: { ed: { password: hash, roles: ['editor'] }, alice: { password: hash, roles: ['reader'] } },
      roles: { editor: { tables: { 'realtime-demo/*': ['read', 'insert', 'update', 'delete', 'publish'] } }, reader: { tables: { 'realtime-demo/message': ['read'] } } },
      loginRate: 1000,
    } as never,
  });
  const anonymous = s.connect();
  await rejects(anonymous.table(DB, 'message').search(), 401, 'UNAUTHORIZED');
  await assert.rejects(take(anonymous.table(DB, 'message').subscribe(), 1), (e: unknown) => e instanceof ClientError && e.code === 'UNAUTHORIZED' && e.status === 401);

  const basic = s.connect({ auth: { basic: { user: 'ed', pass: password } } });
  assert.equal((await basic.table(DB, 'message').create({ id: 'b', title: 'by basic', content: 'c' })).id, 'b');

  const token = (await s.req('POST', '/auth/token', { username: 'ed', password })).body.access_token as string;
  const bearer = s.connect({ auth: { bearer: token } });
  const stream = bearer.table(DB, 'message').subscribe();
  assert.deepEqual((await take(stream, 1))[0], { type: 'retained', cursor: '1', record: { id: 'b', title: 'by basic', content: 'c' } });
  await stream.return?.();
  const fresh = s.connect({ auth: { bearer: async () => token } });
  assert.equal((await fresh.table(DB, 'message').patch('b', { content: 'by bearer' })).content, 'by bearer');

  const cookie = s.connect({ auth: 'cookie' });
  await rejects(cookie.table(DB, 'message').get('b'), 401, 'UNAUTHORIZED');
  await rejects(cookie.login('alice', 'wrong'), 401, 'UNAUTHORIZED');
  assert.deepEqual(await cookie.login('alice', password), { user: 'alice', roles: ['reader'], expires_in: 86400 });
  assert.equal((await cookie.table(DB, 'message').get('b')).content, 'by bearer');
  await rejects(cookie.table(DB, 'message').delete('b'), 403, 'FORBIDDEN');
  await cookie.logout();
  await rejects(cookie.table(DB, 'message').get('b'), 401, 'UNAUTHORIZED');
});

test("the fetch option in Node with auth cookie: the client keeps the session cookie of login() (Node's fetch has no jar)", async (t) => {
  const password = 'correct horse';
  const hash = await hashPassword(password);
  const s = await serve(t, {
    auth: {
      users: { ed: { password: hash, roles: ['editor'] }, alice: { password: hash, roles: ['reader'] } },
      roles: { editor: { tables: { 'realtime-demo/message': ['read', 'insert'] } }, reader: { tables: { 'realtime-demo/message': ['read'] } } },
      loginRate: 1000,
    } as never,
  });
  await s
    .connect({ auth: { basic: { user: 'ed', pass: password } } })
    .table(DB, 'message')
    .create({ id: 'f', title: 't', content: 'by fetch' });
  const sent: Array<string | undefined> = [];
  const client = s.connect({
    auth: 'cookie',
    fetch: (url, init) => {
      sent.push(init.headers.cookie);
      return fetch(url, init);
    },
  });
  await rejects(client.table(DB, 'message').get('f'), 401, 'UNAUTHORIZED');
  await client.login('alice', password);
  assert.equal((await client.table(DB, 'message').get('f')).content, 'by fetch');
  assert.deepEqual(await client.table(DB, 'message').search(), [{ id: 'f', title: 't', content: 'by fetch' }]);
  const events = client.table(DB, 'message').subscribe();
  assert.equal((await take(events, 1))[0]?.type, 'retained');
  await events.return?.();
  assert.match(String(sent.at(-1)), /=/, 'the stream carried the cookie');
  await client.logout();
  await rejects(client.table(DB, 'message').get('f'), 401, 'UNAUTHORIZED');
});

test('HTTPS: the ca option trusts the self-signed certificate, and requests and streams run over HTTP/2', async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const data = tmpDir();
  const server = await createServer({ port: 0, host: '127.0.0.1', tls: true, logLevel: 'silent', schemas, data });
  const versions: string[] = [];
  server.fastify.addHook('onRequest', async (req) => {
    versions.push(req.raw.httpVersion);
  });
  const url = (await server.listen()).replace('127.0.0.1', 'localhost');
  const untrusting = createClient({ url });
  const client = createClient({ url, ca: readFileSync(join(data, 'tls/cert.pem')) });
  t.after(async () => {
    await Promise.all([untrusting.close(), client.close()]);
    await server.close();
    rmSync(schemas, { recursive: true, force: true });
    rmSync(data, { recursive: true, force: true });
  });
  const refused = await rejects(untrusting.table(DB, 'message').search(), 0, 'NETWORK_ERROR');
  assert.match(String((refused.cause as Error | undefined)?.message ?? refused.message), /certificate/i);

  const messages = client.table(DB, 'message');
  const events = messages.subscribe({ retained: false });
  const first = events.next();
  await eventually(() => server.streams.size === 1, 'the stream is open');
  await messages.create({ id: 'h2', title: 'over', content: 'h2' });
  assert.deepEqual((await within(first, 20_000, 'the update')).value, { type: 'update', cursor: '1', record: { id: 'h2', title: 'over', content: 'h2' } });
  assert.equal((await messages.get('h2')).content, 'h2');
  await events.return?.();
  assert.ok(versions.length >= 3);
  assert.deepEqual(new Set(versions), new Set(['2.0']), 'every request of the client used HTTP/2');
});

/** A node:http server answering with `handle` (a proxy, or a server of a later version). */
async function tinyServer(t: TestContext, handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createHttpServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('a huge page in place of a stream, or as an error, is read only up to a bound, then dropped', async (t) => {
  const TOTAL = 64 * 1024 * 1024;
  const written: Record<string, number> = {};
  const url = await tinyServer(t, (req, res) => {
    // A proxy's page: 200 text/html for the stream, 502 for a call; written as the client takes it.
    const kind = req.headers.accept === 'text/event-stream' ? 'stream' : 'call';
    res.writeHead(kind === 'stream' ? 200 : 502, { 'content-type': 'text/html' });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    written[kind] = 0;
    const more = () => {
      while (written[kind]! < TOTAL && !res.destroyed) {
        written[kind]! += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      res.end();
    };
    res.on('close', () => res.removeAllListeners('drain'));
    more();
  });
  const client = createClient({ url });
  t.after(() => client.close());
  const streamed = await within(
    take(client.table(DB, 'message').subscribe(), 1).then(
      () => assert.fail('a page was taken for a stream'),
      (e: unknown) => e,
    ),
    60_000,
    'the stream error',
  );
  assert.ok(streamed instanceof ClientError && streamed.code === 'HTTP_ERROR' && streamed.status === 200, String(streamed));
  await rejects(client.table(DB, 'message').search(), 502, 'HTTP_ERROR');
  for (const kind of ['stream', 'call']) assert.ok(written[kind]! < TOTAL / 4, `${kind}: the client took ${written[kind]} bytes of a ${TOTAL}-byte page`);
});

test('an event type the client does not know is skipped, whatever its data; the stream goes on', async (t) => {
  const url = await tinyServer(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('retry: 50\n\nevent: message\nid: 1\ndata: {"type":"connected"}\n\n');
    res.write('event: presence\nid: 2\ndata: not json at all\n\n');
    res.write('event: update\nid: 3\ndata: {"id":"a","title":"after","content":"c"}\n\n');
  });
  const client = createClient({ url });
  t.after(() => client.close());
  const events = client.table(DB, 'message').subscribe({ retained: false });
  assert.deepEqual(await take(events, 1), [{ type: 'update', cursor: '3', record: { id: 'a', title: 'after', content: 'c' } }]);
  await events.return?.();
});

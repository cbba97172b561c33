/**
 * One subscription path for every transport: each rule of a subscriber's life (stream limits,
 * cursor parsing, a cursor the log no longer covers, credential expiry, the slow-consumer cut,
 * `/admin/connections`) is checked here on SSE, GraphQL over SSE and the programmatic
 * `subscribe()` alike. Before, GraphQL subscriptions skipped the limits (2,000 opened with the
 * per-address limit at 5) and outlived their credential, and `subscribe()` dropped a malformed
 * cursor silently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword } from '../../src/auth/password.ts';
import type { Principal } from '../../src/auth/policy.ts';
import { assertError } from '../helpers/fixtures.ts';
import { openSse as openGql, waitFor } from '../helpers/graphql.ts';
import { MESSAGE_SDL, schemaDir, startServer, type TestServer } from '../helpers/server.ts';
import { eventually, openSse } from '../helpers/sse.ts';

const M = '/realtime-demo/message';
const GQL = '/realtime-demo/graphql';
const EVENTS = (args = '') => `subscription { messageEvents${args} { type cursor id } }`;

async function serve(t: { after(fn: () => Promise<void>): void }, options: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer({ schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }), ...options });
  t.after(() => s.close());
  return s;
}

const api = (s: TestServer) => s.server.tables['realtime-demo']!.message!;

/** A GraphQL subscription over SSE (GET, as EventSource sends it). */
const gqlStream = (s: TestServer, query: string, headers: Record<string, string> = {}) => openGql(`${s.url}${GQL}?query=${encodeURIComponent(query)}`, { headers });

/** The error a subscription iterator ends with (its first `next()` that rejects). */
async function failureOf(it: AsyncIterator<unknown>): Promise<{ code?: string; message: string }> {
  for (;;) {
    try {
      const r = await it.next();
      if (r.done) return { message: 'ended without an error' };
    } catch (err) {
      return err as { code: string; message: string };
    }
  }
}

test('stream limits count SSE streams, GraphQL subscriptions and subscribe() together', async (t) => {
  const s = await serve(t, { maxStreams: 4, maxStreamsPerAddress: 3 });
  const sse = await openSse(`${s.url}${M}?stream=sse`);
  t.after(() => sse.close());
  const sub = await gqlStream(s, EVENTS());
  t.after(() => sub.close());
  assert.equal(sse.status, 200);
  assert.equal(sub.status, 200);
  const it = api(s).subscribe({ address: '127.0.0.1' });
  t.after(async () => void (await it.return?.()));

  // The address 127.0.0.1 holds three subscribers now, one per transport: each transport refuses a fourth.
  const overSse = await s.req('GET', `${M}?stream=sse`);
  assertError(overSse, 429, 'TOO_MANY_REQUESTS', 'SSE over the per-address limit');
  assert.match(String(overSse.headers['retry-after']), /^\d+$/);
  const overGql = await s.req('GET', `${GQL}?query=${encodeURIComponent(EVENTS())}`, undefined, { accept: 'text/event-stream' });
  assert.equal(overGql.status, 429, 'GraphQL over the per-address limit is refused before the stream opens');
  assert.match(String(overGql.headers['retry-after']), /^\d+$/);
  assert.equal(overGql.body.errors[0].extensions.code, 'TOO_MANY_REQUESTS');
  assert.throws(() => api(s).subscribe({ address: '127.0.0.1' }), { code: 'TOO_MANY_REQUESTS' });

  // Another address may open one more: then the total limit (4) refuses everyone.
  const local = api(s).subscribe();
  t.after(async () => void (await local.return?.()));
  assert.throws(() => api(s).subscribe({ address: '10.0.0.9' }), { code: 'TOO_MANY_REQUESTS' });

  const admin = await s.req('GET', '/admin/connections');
  assert.equal(admin.body.streams.open, 4);
  assert.deepEqual(admin.body.streams.byTransport, { sse: 1, graphql: 1, api: 2 });
  assert.ok(admin.body.streams.rejected >= 4);

  // Leaving frees the places, whatever the transport.
  sub.close();
  await it.return!();
  await eventually(() => s.server.streams.size === 2, 'closed subscribers are forgotten');
  const again = await gqlStream(s, EVENTS());
  t.after(() => again.close());
  assert.equal(again.status, 200);
});

test('a malformed cursor is refused on every transport', async (t) => {
  const s = await serve(t);
  assertError(await s.req('GET', `${M}?stream=sse`, undefined, { 'last-event-id': 'abc' }), 400, 'BAD_REQUEST', 'SSE');
  assertError(await s.req('GET', `${M}?stream=sse&lastEventId=-1`), 400, 'BAD_REQUEST', 'SSE query');
  const sub = await gqlStream(s, EVENTS('(lastEventId: "12x")'));
  t.after(() => sub.close());
  const frame = await sub.next((f) => f.event === 'next');
  assert.equal(JSON.parse(frame.data).errors[0].extensions.code, 'BAD_REQUEST');
  assert.throws(() => api(s).subscribe({ lastEventId: 'twelve' }), { code: 'BAD_REQUEST' });
  assert.throws(() => api(s).subscribe({ lastEventId: -3 }), { code: 'BAD_REQUEST' });
  assert.equal(s.server.streams.size, 0, 'nothing was opened');
});

test('a cursor the log does not hold: SSE resets, iterators refuse with CURSOR_EXPIRED', async (t) => {
  const s = await serve(t);
  await api(s).create({ id: 'a', title: 't', content: 'c' });
  const sse = await openSse(`${s.url}${M}?stream=sse&lastEventId=99`);
  t.after(() => sse.close());
  const reset = await sse.until((f) => f.event === 'reset');
  assert.deepEqual(JSON.parse(reset.data!), { reason: 'unknown', cursor: '1' });
  const sub = await gqlStream(s, EVENTS('(lastEventId: "99")'));
  t.after(() => sub.close());
  const frame = await sub.next((f) => f.event === 'next');
  assert.equal(JSON.parse(frame.data).errors[0].extensions.code, 'CURSOR_EXPIRED');
  assert.throws(() => api(s).subscribe({ lastEventId: 99 }), { code: 'CURSOR_EXPIRED' });
});

test('every transport resumes after a cursor with the same events', async (t) => {
  const s = await serve(t);
  await api(s).create({ id: 'a', title: 't', content: 'c' });
  await api(s).patch('a', { title: 'u' });
  await api(s).publish('a', { typing: true });
  const sse = await openSse(`${s.url}${M}?stream=sse&lastEventId=1`);
  t.after(() => sse.close());
  const frames = (await sse.collectUntil((f) => f.event === 'publish')).filter((f) => f.id !== undefined);
  assert.deepEqual(
    frames.map((f) => [f.event, f.id]),
    [
      ['update', '2'],
      ['publish', '3'],
    ],
  );
  const sub = await gqlStream(s, EVENTS('(lastEventId: "1")'));
  t.after(() => sub.close());
  const first = JSON.parse((await sub.next((f) => f.event === 'next')).data).data.messageEvents;
  const second = JSON.parse((await sub.next((f) => f.event === 'next')).data).data.messageEvents;
  assert.deepEqual(
    [first, second],
    [
      { type: 'UPDATE', cursor: '2', id: 'a' },
      { type: 'PUBLISH', cursor: '3', id: 'a' },
    ],
  );
  const it = api(s).subscribe({ lastEventId: '1' });
  t.after(async () => void (await it.return?.()));
  assert.deepEqual([(await it.next()).value?.seq, (await it.next()).value?.seq], [2, 3]);
});

test('a subscriber ends when the credential that opened it expires, whatever its transport', async (t) => {
  const password = 'correct horse';
  const auth = {
    users: { alice: { password: await hashPassword(password), roles: ['reader'] } },
    roles: { reader: { tables: { 'realtime-demo/message': ['read'] } } },
    tokenTtl: 1,
    loginRate: 1000,
  };
  const s = await serve(t, { auth: auth as never });
  const token = (await s.req('POST', '/auth/token', { username: 'alice', password })).body.access_token as string;
  const sse = await openSse(`${s.url}${M}?stream=sse&access_token=${token}`);
  t.after(() => sse.close());
  const sub = await gqlStream(s, EVENTS(), { authorization: `Bearer ${token}` });
  t.after(() => sub.close());
  assert.equal(sse.status, 200);
  assert.equal(sub.status, 200);
  const alice: Principal = { user: 'alice', roles: ['reader'], via: 'bearer', expiresAt: Date.now() + 300 };
  const it = api(s).subscribe({ principal: alice });

  const ended = await failureOf(it);
  assert.equal(ended.code, 'UNAUTHORIZED', `subscribe(): ${ended.message}`);
  const frame = await sub.next((f) => f.event === 'next', 5000);
  assert.equal(JSON.parse(frame.data).errors[0].extensions.code, 'UNAUTHORIZED', 'GraphQL: told why it ended');
  await eventually(() => sse.isEnded, 'the SSE stream ended');
  await eventually(() => s.server.streams.size === 0, 'every transport forgot its subscriber');
  assert.equal(s.server.streams.stats().expired, 3);
});

test('a consumer that falls behind is cut, whatever its transport, and told where to resume', async (t) => {
  const s = await serve(t, { streamQueueFrames: 5 });
  const it = api(s).subscribe();
  const big = 'x'.repeat(20_000);
  // A consumer that does not read: the hub delivers faster than it takes.
  const sub = await gqlStream(s, EVENTS());
  t.after(() => sub.close());
  await waitFor(() => s.server.streams.stats().byTransport.graphql === 1, 'the GraphQL subscription is registered');
  await s.server.app.store.transact((tx) => {
    const handle = s.server.app.services.get('realtime-demo/Message')!.handle;
    for (let i = 0; i < 400; i++) tx.put(handle, `k${i}`, { id: `k${i}`, title: 't', content: big });
  });
  const failure = await failureOf(it);
  assert.equal(failure.code, 'SLOW_CONSUMER');
  assert.match(failure.message, /resume after cursor 0/);
  await eventually(() => (s.server.streams.stats().byTransport.graphql ?? 0) === 0, 'the unread GraphQL subscription was cut', 10_000);
  assert.ok(s.server.streams.stats().cutSlow >= 2);
  const admin = await s.req('GET', '/admin/connections');
  assert.ok(admin.body.streams.cutSlow >= 2);
});

test('retained reads hold at most maxPinnedReads LMDB snapshots; the others read without one and lose nothing', async (t) => {
  const s = await serve(t, { maxPinnedReads: 1 } as never);
  const handle = s.server.app.services.get('realtime-demo/Message')!.handle;
  // 4,000 records of 4 KB (16 MB): more than socket and client buffers hold, so a client that does
  // not read keeps its retained read open, and with it any snapshot the read holds.
  const keys = Array.from({ length: 4000 }, (_, i) => `r${String(i).padStart(4, '0')}`);
  await s.server.app.store.transact((tx) => {
    for (const id of keys) tx.put(handle, id, { id, title: 'before', content: 'x'.repeat(4000) });
  });
  const a = await openSse(`${s.url}${M}?stream=sse`);
  a.pause();
  t.after(() => a.close());
  await eventually(() => s.server.app.subscriptions.pinnedReads === 1, 'the first retained read holds a snapshot');
  const b = await openSse(`${s.url}${M}?stream=sse`);
  b.pause();
  t.after(() => b.close());
  await eventually(() => s.server.app.subscriptions.unpinnedReads === 1, 'the second reads without one');
  assert.equal(s.server.app.subscriptions.pinnedReads, 1, 'the first still holds its snapshot');
  // Changed while both are mid-read: the pinned read never sees it in its records, both get it after.
  await api(s).patch('r3999', { title: 'after' });
  for (const stream of [a, b]) {
    stream.resume();
    const frames = await stream.collectUntil((f) => f.event === 'update', 15_000);
    const records = frames.filter((f) => f.event === 'message' && f.id !== undefined).map((f) => JSON.parse(f.data!));
    assert.equal(records.filter((r) => r.id).length, 4000, 'every record arrived');
    const update = JSON.parse(frames.at(-1)!.data!);
    assert.equal(update.title, 'after');
    if (stream === a) assert.equal(records.at(-1).title, 'before', 'the pinned read saw its snapshot only');
  }
  await eventually(() => s.server.app.subscriptions.pinnedReads === 0, 'the snapshot was released');
});

/**
 * SPEC §4 resource rules: open-stream limits (total and per client address) answer 429 with
 * `Retry-After` and the JSON error; disconnects free every subscription; a consumer that stops
 * reading is cut at its queue bound and resumes with `Last-Event-ID` losing nothing, while one
 * that keeps up is never cut; shutdown ends every stream promptly; a stream without retained data
 * does not read the table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAgent, eventually, openSse, startSseServer, within, type SseServer, type SseStream } from '../helpers/sse.ts';

const STREAM = '/realtime-demo/message?stream=sse';

async function fill(s: SseServer, n: number, content = 'x', prefix = 'r', batch = 250): Promise<void> {
  const service = s.server.app.services.get('realtime-demo/Message')!;
  for (let i = 0; i < n; i += batch) {
    const jobs = [];
    for (let j = i; j < Math.min(n, i + batch); j++) jobs.push(service.create({ id: `${prefix}${String(j).padStart(6, '0')}`, title: 't', content }));
    await Promise.all(jobs);
  }
}

test('stream limits per client address and in total: 429, Retry-After and the JSON error', async (t) => {
  const s = await startSseServer(t, { maxStreams: 3, maxStreamsPerAddress: 2 });
  const from = (address: string) => {
    const agent = createAgent({ h2: false, localAddress: address });
    t.after(() => agent.destroy());
    return (path = STREAM) => openSse(s.url + path, { agent });
  };
  const one = from('127.0.0.1');
  const two = from('127.0.0.2');
  const three = from('127.0.0.3');

  const a1 = await one();
  const a2 = await one('/realtime-demo/message/x?stream=sse');
  for (const st of [a1, a2]) assert.equal(st.status, 200);
  const overAddress = await one();
  assert.equal(overAddress.status, 429);
  assert.match(String(overAddress.headers['retry-after']), /^[1-9]\d*$/);
  assert.match(String(overAddress.headers['content-type']), /^application\/json/);
  const body = await overAddress.json();
  assert.equal(body.statusCode, 429);
  assert.equal(body.code, 'TOO_MANY_REQUESTS');
  assert.equal(body.error, 'Too Many Requests');
  assert.match(body.message, /127\.0\.0\.1/);

  const b1 = await two();
  assert.equal(b1.status, 200, `another address still has room: ${b1.status === 200 ? '' : JSON.stringify(await b1.json())}`);
  const overTotal = await three();
  assert.equal(overTotal.status, 429);
  assert.match(String(overTotal.headers['retry-after']), /^[1-9]\d*$/);
  assert.equal((await overTotal.json()).code, 'TOO_MANY_REQUESTS');
  assert.equal(s.server.streams.size, 3);
  assert.equal(s.server.streams.stats().rejected, 2);

  // Closing a stream frees its place, for its address and in total.
  a1.close();
  await eventually(() => s.server.streams.size === 2, 'the server noticed the disconnect');
  const again = await one();
  assert.equal(again.status, 200);
  assert.equal((await three()).status, 429, 'total is full again');
  // Plain requests are not streams and are never limited.
  assert.equal((await s.req('GET', '/realtime-demo/message')).status, 200);
});

test('disconnects free everything: subscriber count and open streams return to zero', async (t) => {
  const s = await startSseServer(t, { tls: true });
  await fill(s, 1500, 'z'.repeat(4096));
  const streams: SseStream[] = [];
  for (const path of [STREAM, `${STREAM}&retained=false`, '/realtime-demo/message/r000001?stream=sse', '/realtime-demo/message?title=t&stream=sse', '/realtime-demo/message?content=none&stream=sse']) {
    const st = await s.open(path);
    await st.next(2);
    streams.push(st);
  }
  // One more that disconnects mid-replay, while the server waits for it to drain.
  const replaying = await s.open(STREAM, { headers: { 'last-event-id': '0' } });
  replaying.pause();
  await s.req('PATCH', '/realtime-demo/message/r000001', { content: 'live' });
  for (const st of streams.slice(0, 4)) await st.until((f) => f.event === 'update');
  assert.equal(s.server.streams.size, 6);
  assert.equal(s.server.app.hub.count(), 5, 'five live subscribers; the replaying stream is not live yet');

  for (const st of [...streams, replaying]) st.close();
  await eventually(() => s.server.streams.size === 0 && s.server.app.hub.count() === 0, `all freed (streams ${s.server.streams.size}, subscribers ${s.server.app.hub.count()})`);
  assert.deepEqual(s.server.streams.stats().byTable, {});
  // Writes after that reach nobody and fail nothing.
  assert.equal((await s.req('PATCH', '/realtime-demo/message/r000001', { content: 'after' })).status, 200);
  assert.equal(s.server.app.hub.count(), 0);
});

for (const [name, tls, h2] of [
  ['HTTP/2', true, true],
  ['HTTP/1.1', false, false],
] as const)
  test(`a slow consumer (${name}) is cut at its queue bound and resumes with Last-Event-ID, losing nothing`, async (t) => {
    const s = await startSseServer(t, { tls, h2, streamQueueFrames: 100 });
    const first = await s.open(`${STREAM}&retained=false`, { timeoutMs: 15_000 });
    await first.next(2);
    first.pause(); // the client stops reading

    const big = 'y'.repeat(2048);
    let written = 0;
    while (s.server.streams.stats().cutSlow === 0) {
      assert.ok(written < 20_000, 'the stream should have been cut long before this');
      await fill(s, 100, big, `w${written}-`, 100);
      written += 100;
    }
    assert.equal(s.server.streams.stats().cutSlow, 1);
    await eventually(() => s.server.streams.size === 0 && s.server.app.hub.count() === 0, 'the cut stream was freed');
    await fill(s, 300, big, 'after-', 100); // written while the client is away
    const head = s.server.app.store.changeLog.head();

    first.resume();
    await first.ended;
    const seen = first.frames.filter((f) => f.event === 'update').map((f) => Number(f.id));
    const last = seen.at(-1) ?? 0;
    assert.ok(last < head, 'the cut stream did not get everything');

    const resumed = await s.open(STREAM, { headers: { 'last-event-id': String(last) }, timeoutMs: 15_000 });
    await resumed.until((f) => f.id === String(head));
    const rest = resumed.frames.filter((f) => f.event === 'update').map((f) => Number(f.id));
    const all = [...seen, ...rest];
    assert.equal(all.length, head, `every change exactly once (${seen.length} before the cut, ${rest.length} after)`);
    all.forEach((id, i) => {
      assert.equal(id, i + 1);
    });
    assert.equal(s.server.streams.stats().cutSlow, 1, 'a resumed reader that keeps up is not cut, however long its replay');
  });

test('a reader that keeps up is not cut by one large commit (1,500 deletes in one transaction)', async (t) => {
  const s = await startSseServer(t, { tls: true });
  await fill(s, 1500);
  const st = await s.open(`${STREAM}&retained=false`, { timeoutMs: 10_000 });
  await st.next(2);
  const res = await s.req('DELETE', '/realtime-demo/message?title=t');
  assert.deepEqual(res.body, { deleted: 1500 });
  const head = s.server.app.store.changeLog.head();
  const frames = await st.collectUntil((f) => f.id === String(head));
  assert.equal(frames.filter((f) => f.event === 'delete').length, 1500);
  assert.equal(s.server.streams.stats().cutSlow, 0);
  assert.equal(s.server.streams.size, 1);
});

test('graceful shutdown over HTTP/1.1 ends every stream and close() resolves', async (t) => {
  const s = await startSseServer(t, { h2: false });
  const streams: SseStream[] = [];
  for (const path of [STREAM, '/realtime-demo/message/a?stream=sse', '/realtime-demo/message?title=x&stream=sse']) {
    const st = await s.open(path);
    await st.next(2);
    streams.push(st);
  }
  await within(s.server.close(), 5000, 'server.close() did not resolve with open streams');
  await within(Promise.all(streams.map((st) => st.ended)), 5000, 'a client did not see its stream end');
  assert.equal(s.server.streams.size, 0);
  assert.equal(s.server.app.hub.count(), 0);
});

test('graceful shutdown over HTTP/2 ends every stream and close() resolves (idle sessions do not hold it)', async (t) => {
  const s = await startSseServer(t, { tls: true });
  const streams: SseStream[] = [];
  for (const path of [STREAM, '/realtime-demo/message/a?stream=sse', '/realtime-demo/message?title=x&stream=sse']) {
    const st = await s.open(path);
    await st.next(2);
    streams.push(st);
  }
  const closing = s.server.close();
  try {
    await within(Promise.all(streams.map((st) => st.ended)), 5000, 'a client did not see its stream end');
    assert.equal(s.server.streams.size, 0);
    await within(closing, 5000, 'server.close() did not resolve while HTTP/2 clients stay connected');
  } finally {
    await s.agent.destroy(); // if close() hangs after all, this lets it finish so teardown does not wait 72 s
    await closing;
  }
});

test('retained=false opens without reading the table; retained data does read it', async (t) => {
  const s = await startSseServer(t);
  await fill(s, 2000);
  const handle = s.server.app.services.get('realtime-demo/Message')!.handle;
  const before = handle.stats.recordsRead;
  for (const path of [
    `${STREAM}&retained=false`,
    '/realtime-demo/message?content=x&stream=sse&retained=false', // filter on an unindexed attribute
    '/realtime-demo/message/r000001?stream=sse&retained=false',
    '/realtime-demo/message?stream=sse&retained=false&limit(5)',
  ]) {
    const st = await s.open(path);
    assert.equal((await st.next(2))[1]!.event, 'message');
    st.close();
  }
  const resumed = await s.open(STREAM, { headers: { 'last-event-id': '1990' } });
  await resumed.until((f) => f.id === '2000');
  resumed.close();
  assert.equal(handle.stats.recordsRead, before, 'no records were read for streams without retained data');

  const retained = await s.open(STREAM, { timeoutMs: 10_000 });
  const frames = await retained.next(2 + 2000);
  assert.equal(frames.filter((f) => f.event === 'message').length, 2001);
  assert.ok(handle.stats.recordsRead >= before + 2000, `a stream with retained data reads the records (${handle.stats.recordsRead - before})`);
});

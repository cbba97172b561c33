/**
 * SPEC §4 resume: `Last-Event-ID` (header) or `?lastEventId=` replays every matching change after
 * the cursor from the persisted log, then goes live with no gap and no duplicate, even while
 * writes continue during the replay; cursors the log no longer covers get `event: reset` and the
 * retained data; malformed cursors are refused before streaming; resume works across a restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tmpDir } from '../helpers/server.ts';
import { eventually, json, openSse, startSseServer, type Frame, type SseServer } from '../helpers/sse.ts';

const STREAM = '/realtime-demo/message?stream=sse';
const RESUMED_HELLO = ['retry: 3000\n\n', 'event: message\ndata: {"type":"connected","status":"ok"}\n\n'];
const raw = (frames: Frame[]) => frames.map((f) => f.raw);
const update = (seq: number, id: string, title: string, content: string) => `event: update\nid: ${seq}\ndata: ${JSON.stringify({ id, title, content })}\n\n`;

/** Creates `n` records through the programmatic API, `batch` at a time (so lmdb batches commits). */
async function fill(s: SseServer, n: number, content = 'x', prefix = 'r', batch = 250): Promise<void> {
  const service = s.server.app.services.get('realtime-demo/Message')!;
  for (let i = 0; i < n; i += batch) {
    const jobs = [];
    for (let j = i; j < Math.min(n, i + batch); j++) jobs.push(service.create({ id: `${prefix}${String(j).padStart(6, '0')}`, title: 't', content }));
    await Promise.all(jobs);
  }
}

test('Last-Event-ID header and ?lastEventId replay the changes after the cursor, then live', async (t) => {
  const s = await startSseServer(t, { tls: true });
  for (const id of ['a', 'b', 'c']) await s.req('POST', '/realtime-demo/message', { id, title: id, content: id }); // 1-3
  await s.req('POST', '/realtime-demo/message/a', { hi: 1 }); // 4
  await s.req('DELETE', '/realtime-demo/message/b'); // 5

  const byHeader = await s.open(STREAM, { headers: { 'last-event-id': '2' } });
  const byParam = await s.open('/realtime-demo/message?stream=sse&lastEventId=2');
  const byAccept = await s.open('/realtime-demo/message?lastEventId=2', { headers: { accept: 'text/event-stream' } });
  const record = await s.open('/realtime-demo/message/a?stream=sse', { headers: { 'last-event-id': '0' } });
  for (const st of [byHeader, byParam, byAccept]) {
    assert.deepEqual(raw(await st.next(5)), [
      ...RESUMED_HELLO, // no retained data on a resumed stream
      update(3, 'c', 'c', 'c'),
      'event: publish\nid: 4\ndata: {"id":"a","message":{"hi":1}}\n\n',
      'event: delete\nid: 5\ndata: {"id":"b"}\n\n',
    ]);
  }
  assert.deepEqual(raw(await record.next(4)), [...RESUMED_HELLO, update(1, 'a', 'a', 'a'), 'event: publish\nid: 4\ndata: {"id":"a","message":{"hi":1}}\n\n']);

  await s.req('PATCH', '/realtime-demo/message/a', { content: 'live' }); // 6
  for (const st of [byHeader, byParam, byAccept, record]) assert.deepEqual(raw(await st.next(1)), [update(6, 'a', 'a', 'live')]);

  // A cursor at the head resumes with nothing to replay.
  const atHead = await s.open(STREAM, { headers: { 'last-event-id': '6' } });
  assert.deepEqual(raw(await atHead.next(2)), RESUMED_HELLO);
  await s.req('PATCH', '/realtime-demo/message/c', { content: 'next' }); // 7
  assert.deepEqual(raw(await atHead.next(1)), [update(7, 'c', 'c', 'next')]);
});

test('no gap and no duplicate while a writer keeps writing during a replay of thousands of entries', async (t) => {
  const s = await startSseServer(t, { tls: true });
  const big = 'x'.repeat(4096);
  await fill(s, 3000, big); // seq 1..3000, ~12 MB of frames: far more than socket buffers hold
  const stream = await s.open(STREAM, { headers: { 'last-event-id': '0' }, timeoutMs: 15_000 });
  // The client stops reading, so the replay waits for the socket: writes now land mid-replay.
  stream.pause();

  let stop = false;
  let written = 0;
  const service = s.server.app.services.get('realtime-demo/Message')!;
  const writer = (async () => {
    for (let i = 0; !stop; i++) {
      await Promise.all([0, 1, 2, 3].map((k) => service.create({ id: `w${i}-${k}`, title: 'during', content: String(i) })));
      written += 4;
    }
  })();
  try {
    await eventually(() => written >= 200, 'the writer made progress');
    assert.equal(s.server.streams.size, 1);
    assert.equal(s.server.app.hub.count(), 0, 'the stream is still replaying (not live) while those writes commit');

    stream.resume();
    await eventually(() => s.server.app.hub.count() === 1, 'the stream went live', 15_000);
    const liveFrom = written;
    await eventually(() => written >= liveFrom + 200, 'the writer kept writing after the stream went live');
  } finally {
    stop = true;
    await writer;
  }
  const head = s.server.app.store.changeLog.head();
  await stream.until((f) => f.id === String(head), 15_000);

  const ids = stream.frames.filter((f) => f.event === 'update').map((f) => Number(f.id));
  assert.equal(ids.length, head, 'one event per change');
  ids.forEach((id, i) => {
    assert.equal(id, i + 1, `event ${i} has id ${id}, expected ${i + 1} (gap or duplicate)`);
  });
  assert.ok(head >= 3400, `writes continued (head ${head})`);
});

test('a cursor older than the retained log gets event: reset, then the retained data, then live', async (t) => {
  const s = await startSseServer(t, { retention: 60_000 });
  for (const id of ['a', 'b', 'c']) await s.req('POST', '/realtime-demo/message', { id, title: id, content: id }); // 1-3
  assert.equal(await s.server.app.store.changeLog.prune(Date.now() + 1), 3);
  assert.equal(s.server.app.store.changeLog.prunedThrough(), 3);

  for (const cursor of ['0', '2']) {
    const st = await s.open(STREAM, { headers: { 'last-event-id': cursor } });
    assert.deepEqual(raw(await st.next(6)), [
      ...RESUMED_HELLO,
      'event: reset\nid: 3\ndata: {"reason":"expired","cursor":"3"}\n\n',
      'event: message\nid: 3\ndata: {"id":"a","title":"a","content":"a"}\n\n',
      'event: message\nid: 3\ndata: {"id":"b","title":"b","content":"b"}\n\n',
      'event: message\nid: 3\ndata: {"id":"c","title":"c","content":"c"}\n\n',
    ]);
    st.close();
  }
  // The pruned point itself is still a complete cursor: nothing after it was removed.
  const exact = await s.open(STREAM, { headers: { 'last-event-id': '3' } });
  assert.deepEqual(raw(await exact.next(2)), RESUMED_HELLO);
  // A record stream resets to the current record.
  const record = await s.open('/realtime-demo/message/b?stream=sse&lastEventId=1');
  assert.deepEqual(raw(await record.next(4)), [
    ...RESUMED_HELLO,
    'event: reset\nid: 3\ndata: {"reason":"expired","cursor":"3"}\n\n',
    'event: message\nid: 3\ndata: {"id":"b","title":"b","content":"b"}\n\n',
  ]);
  await s.req('PATCH', '/realtime-demo/message/b', { content: 'live' }); // 4
  for (const st of [exact, record]) assert.deepEqual(raw(await st.next(1)), [update(4, 'b', 'b', 'live')]);
});

test('a cursor beyond the head (another server, or a wiped store) resets with reason unknown', async (t) => {
  const s = await startSseServer(t);
  await s.req('POST', '/realtime-demo/message', { id: 'a', title: 'a', content: 'a' });
  const st = await s.open(STREAM, { headers: { 'last-event-id': '999' } });
  assert.deepEqual(raw(await st.next(4)), [
    ...RESUMED_HELLO,
    'event: reset\nid: 1\ndata: {"reason":"unknown","cursor":"1"}\n\n',
    'event: message\nid: 1\ndata: {"id":"a","title":"a","content":"a"}\n\n',
  ]);
  await s.req('PATCH', '/realtime-demo/message/a', { content: 'b' });
  assert.deepEqual(raw(await st.next(1)), [update(2, 'a', 'a', 'b')]);
});

test('a reset carries the head as its id: a changes-only stream that reconnects before the next change resumes from there', async (t) => {
  const s = await startSseServer(t);
  await s.req('POST', '/realtime-demo/message', { id: 'a', title: 'a', content: 'a' }); // 1
  const changesOnly = `${STREAM}&retained=false`;
  const st = await s.open(changesOnly, { headers: { 'last-event-id': '999' } });
  assert.deepEqual(raw(await st.next(3)), [...RESUMED_HELLO, 'event: reset\nid: 1\ndata: {"reason":"unknown","cursor":"1"}\n\n']);
  st.close();
  // What EventSource sends back is the last id it saw: the reset's, so no second reset.
  const again = await s.open(changesOnly, { headers: { 'last-event-id': '1' } });
  assert.deepEqual(raw(await again.next(2)), RESUMED_HELLO);
  await s.req('PATCH', '/realtime-demo/message/a', { content: 'b' }); // 2
  assert.deepEqual(raw(await again.next(1)), [update(2, 'a', 'a', 'b')]);
});

test('a malformed Last-Event-ID is a 400 JSON error before streaming', async (t) => {
  const s = await startSseServer(t, { tls: true });
  const cases: Array<[string, Record<string, string>]> = [
    [STREAM, { 'last-event-id': 'abc' }],
    [STREAM, { 'last-event-id': '-1' }],
    [STREAM, { 'last-event-id': '1.5' }],
    [STREAM, { 'last-event-id': '1e3' }],
    [STREAM, { 'last-event-id': '12345678901234567890' }],
    ['/realtime-demo/message?stream=sse&lastEventId=msg-1', {}],
    ['/realtime-demo/message/a?stream=sse&lastEventId=x', {}],
  ];
  for (const [path, headers] of cases) {
    const res = await openSse(s.url + path, { agent: s.agent, headers });
    assert.equal(res.status, 400, `${path} ${JSON.stringify(headers)}`);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const body = await res.json();
    assert.equal(body.statusCode, 400);
    assert.equal(body.code, 'BAD_REQUEST');
    assert.match(body.message, /Last-Event-ID/);
  }
  assert.equal(s.server.streams.size, 0);
  assert.equal(s.server.app.hub.count(), 0);
});

test('background pruning follows retention but never removes what an in-flight replay needs', async (t) => {
  const s = await startSseServer(t, { retention: 1 });
  await fill(s, 2000, 'y'.repeat(8192)); // ~16 MB of frames
  const stream = await s.open(STREAM, { headers: { 'last-event-id': '10' }, timeoutMs: 15_000 });
  stream.pause();
  // The pruner (every second at this retention) removes what the cursor does not need, and no more.
  await eventually(() => s.server.app.store.changeLog.prunedThrough() === 10, 'the pruner removed entries up to the cursor', 5000);
  assert.equal(s.server.app.store.changeLog.size(), 1990);
  assert.equal(s.server.app.hub.count(), 0, 'still replaying');
  stream.resume();
  await stream.until((f) => f.id === '2000', 15_000);
  const ids = stream.frames.filter((f) => f.event === 'update').map((f) => Number(f.id));
  assert.deepEqual(
    ids,
    Array.from({ length: 1990 }, (_, i) => i + 11),
  );
  // Once live, the hold is released and the rest of the log ages out.
  await eventually(() => s.server.app.store.changeLog.size() === 0, 'the log was pruned after the replay', 5000);
});

test('resume across a server restart on the same data directory', async (t) => {
  const data = tmpDir();
  const first = await startSseServer(t, { tls: true, data });
  for (const id of ['a', 'b', 'c']) await first.req('POST', '/realtime-demo/message', { id, title: id, content: id }); // 1-3
  const st = await first.open(STREAM);
  const seen = await st.next(5);
  const lastId = seen.at(-1)!.id!;
  assert.equal(lastId, '3');
  st.close();
  await first.req('PATCH', '/realtime-demo/message/a', { content: 'missed 1' }); // 4
  await first.req('DELETE', '/realtime-demo/message/b'); // 5
  await first.close();

  const second = await startSseServer(t, { tls: true, data });
  t.after(() => rmSync(data, { recursive: true, force: true })); // after both servers' teardown (hooks run in order)
  await second.req('POST', '/realtime-demo/message/c', { note: 'missed 2' }); // 6: the sequence continues
  const resumed = await second.open(STREAM, { headers: { 'last-event-id': lastId } });
  assert.deepEqual(raw(await resumed.next(5)), [
    ...RESUMED_HELLO,
    update(4, 'a', 'a', 'missed 1'),
    'event: delete\nid: 5\ndata: {"id":"b"}\n\n',
    'event: publish\nid: 6\ndata: {"id":"c","message":{"note":"missed 2"}}\n\n',
  ]);
  const { body } = await second.req('POST', '/realtime-demo/message', { id: 'd', title: 'd', content: 'live' });
  const [live] = await resumed.next(1);
  assert.equal(live!.id, '7');
  assert.deepEqual(json(live!), body);
});

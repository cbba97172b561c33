/**
 * SPEC §5, issue #4 (3, 5): GraphQL subscriptions over SSE (distinct connections mode) on the same
 * change feed as the REST streams, with real clients: seed 000's curl command over https, the
 * official graphql-sse client, and plain streaming GETs. Records and change events, filters,
 * resume with lastEventId (no gap, no duplicate), bad and expired cursors, REST ↔ GraphQL in both
 * directions, and the server-side subscription ending with the connection.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MESSAGE_SDL, schemaDir, startServer, type TestServer } from '../helpers/server.ts';
import { gql, nextWithin, openSse, sseClient, sseFrames, waitFor } from '../helpers/graphql.ts';

const SEEDS = fileURLToPath(new URL('../../../shared/seeds/', import.meta.url));
const SEED_000_GRAPHQL =
  '```bash\ncurl -sk -H "Accept: text/event-stream" \\\n  -H "Content-Type: application/json" \\\n  -d \'{"query": "subscription { message { id title content } }"}\' \\\n  https://localhost:9996/realtime-demo/graphql\n```\n';

let t: TestServer;
let schemas: string;
let endpoint: string;

before(async () => {
  schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  // https (self-signed, HTTP/2 + HTTP/1.1) as `npm start` serves it, so seed 000's `curl -sk` applies.
  t = await startServer({ schemas, tls: true });
  endpoint = `${t.url}/realtime-demo/graphql`;
});
after(async () => {
  await t?.close();
  rmSync(schemas, { recursive: true, force: true });
});

const hubCount = () => t.server.app.hub.count();
/** Waits until `n` subscribers are registered with the hub (every test starts from none). */
const subscribed = (n = 1) => waitFor(() => hubCount() >= n, `${n} hub subscriber(s) (now ${hubCount()})`);
/** Waits until the hub has no subscriber left: the server ended every subscription whose connection closed. */
const released = () => waitFor(() => hubCount() === 0, `the hub to have no subscribers (now ${hubCount()})`);

// Every test closes what it opened; none may leave a server-side subscription behind.
afterEach(released);

const post = async (id: string, title: string, content = 'c') => {
  const res = await t.req('POST', '/realtime-demo/message', { id, title, content });
  assert.equal(res.status, 201, res.text);
  return res.body;
};
const put = async (id: string, title: string, content = 'c') => {
  const res = await t.req('PUT', `/realtime-demo/message/${encodeURIComponent(id)}`, { title, content });
  assert.ok(res.status === 200 || res.status === 201, res.text);
  return res.body;
};

describe('seed 000: the GraphQL curl command, verbatim over https', () => {
  test('curl receives `event: next` with the record written over REST, and leaving ends the subscription', async () => {
    // The seed lives beside the checkout (CI lays shared/ there); a checkout without it uses the
    // command as the seed prints it, kept here verbatim.
    const seed = existsSync(SEEDS) ? readdirSync(SEEDS).find((f) => f.startsWith('000_')) : undefined;
    const text = seed ? readFileSync(SEEDS + seed, 'utf8') : SEED_000_GRAPHQL;
    // The command exactly as the seed prints it (continuation lines and all) …
    const block = /```bash\n(curl -sk -H "Accept: text\/event-stream"[\s\S]*?\/realtime-demo\/graphql)\n```/.exec(text);
    assert.ok(block, 'the GraphQL subscription command is in seed 000');
    const port = new URL(t.url).port;
    // … pointed at this server's port, with --max-time so a failure cannot hang the suite.
    const command = block[1]!.replace('https://localhost:9996', `https://localhost:${port}`).replace('curl -sk', 'curl -sk --max-time 20');
    assert.match(command, /-d '\{"query": "subscription \{ message \{ id title content \} \}"\}'/);
    // In a terminal curl writes each event as it comes; into a pipe it would hold them in its stdio
    // buffer until exit. `stdbuf -o0` gives the pipe the terminal's behaviour without changing the command.
    const curl = spawn('stdbuf', ['-o0', 'sh', '-c', `exec ${command}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    curl.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((resolve) => curl.on('close', (code) => resolve(code)));
    try {
      await subscribed();
      // Seed 000's "Terminal 2" write.
      const w = await t.req('POST', '/realtime-demo/message', { id: 'test-1', title: 'Live', content: 'SSE is working' });
      assert.equal(w.status, 201);
      await waitFor(() => /event: next\ndata: .*\n\n/.test(out), 'curl to print the next event');
      const frames: Array<{ event: string; data: string }> = [];
      for await (const f of sseFrames([out])) frames.push(f);
      assert.deepEqual(frames[0], { event: 'next', data: '{"data":{"message":{"id":"test-1","title":"Live","content":"SSE is working"}}}' });
    } finally {
      curl.kill('SIGTERM');
    }
    await exited;
    await released();
  });
});

describe('graphql-sse client (distinct connections mode)', () => {
  test('`message` yields each created or updated record, and only updates', async () => {
    const client = sseClient(endpoint);
    const it = client.iterate<{ message: { id: string; title: string; content: string } }>({ query: 'subscription { message { id title content } }' });
    try {
      const first = nextWithin(it, 'the first record');
      await subscribed();
      await post('c-1', 'one');
      assert.deepEqual((await first).value, { data: { message: { id: 'c-1', title: 'one', content: 'c' } } });
      // A delete is not an update: the next value is the record written after it.
      assert.equal((await t.req('DELETE', '/realtime-demo/message/c-1')).status, 204);
      assert.equal((await t.req('PATCH', '/realtime-demo/message/msg-x', { title: 'no such record' })).status, 404);
      await put('c-2', 'two');
      assert.deepEqual((await nextWithin(it, 'the second record')).value, { data: { message: { id: 'c-2', title: 'two', content: 'c' } } });
    } finally {
      await it.return?.();
      client.dispose();
    }
    await released();
  });

  test('`message(id:)` follows one record; equality args filter records', async () => {
    const client = sseClient(endpoint);
    const one = client.iterate<{ message: { id: string; title: string } }>({ query: 'subscription { message(id: "r-a") { id title } }' });
    const live = client.iterate<{ message: { id: string; title: string } }>({
      query: 'subscription($t: String) { message(title: $t) { id title } }',
      variables: { t: 'Live' },
    });
    try {
      const firstOne = nextWithin(one, 'record r-a');
      const firstLive = nextWithin(live, 'a Live record');
      await subscribed(2);
      await post('r-b', 'Live'); // not r-a; matches the filter
      await post('r-a', 'Other'); // r-a; does not match the filter
      await put('r-a', 'Live'); // both
      assert.deepEqual((await firstOne).value, { data: { message: { id: 'r-a', title: 'Other' } } });
      assert.deepEqual((await nextWithin(one, 'r-a again')).value, { data: { message: { id: 'r-a', title: 'Live' } } });
      assert.deepEqual((await firstLive).value, { data: { message: { id: 'r-b', title: 'Live' } } });
      assert.deepEqual((await nextWithin(live, 'r-a entering the filter')).value, { data: { message: { id: 'r-a', title: 'Live' } } });
    } finally {
      await one.return?.();
      await live.return?.();
      client.dispose();
    }
    await released();
  });

  test('`messageEvents` yields UPDATE, PUBLISH and DELETE with cursors, records and messages', async () => {
    const client = sseClient(endpoint);
    const it = client.iterate<{ messageEvents: { type: string; id: string; cursor: string; record: unknown; message: unknown } }>({
      query: 'subscription { messageEvents(id: "ev-1") { type id cursor record { id title content } message } }',
    });
    try {
      const first = nextWithin(it, 'the first event');
      await subscribed();
      await post('ev-1', 'created');
      const pub = await t.req('POST', '/realtime-demo/message/ev-1', { text: 'typing…' });
      assert.equal(pub.status, 202, pub.text);
      assert.equal((await t.req('DELETE', '/realtime-demo/message/ev-1')).status, 204);
      const events = [(await first).value!.data!.messageEvents];
      for (let i = 0; i < 2; i++) events.push((await nextWithin(it, `event ${i + 2}`)).value!.data!.messageEvents);
      assert.deepEqual(
        events.map(({ cursor, ...rest }) => rest),
        [
          { type: 'UPDATE', id: 'ev-1', record: { id: 'ev-1', title: 'created', content: 'c' }, message: null },
          { type: 'PUBLISH', id: 'ev-1', record: null, message: { text: 'typing…' } },
          { type: 'DELETE', id: 'ev-1', record: null, message: null },
        ],
      );
      // Cursors are the change sequence numbers: strictly increasing, the log's own.
      const cursors = events.map((e) => Number(e.cursor));
      assert.ok(
        cursors.every((c, i) => Number.isInteger(c) && (i === 0 || c > cursors[i - 1]!)),
        String(cursors),
      );
      const log = t.server.app.store.changeLog.readAfter(cursors[0]! - 1).filter((e) => e.key === 'ev-1');
      assert.deepEqual(
        log.map((e) => e.seq),
        cursors,
      );
    } finally {
      await it.return?.();
      client.dispose();
    }
    await released();
  });

  test('`messageEvents` with a filter: a record leaving it is a DELETE, entering it an UPDATE', async () => {
    const client = sseClient(endpoint);
    const it = client.iterate<{ messageEvents: { type: string; id: string } }>({ query: 'subscription { messageEvents(title: "hot") { type id } }' });
    try {
      const first = nextWithin(it, 'entering');
      await subscribed();
      await post('f-1', 'hot');
      await put('f-1', 'cold');
      await put('f-2', 'cold'); // never in the filter: nothing
      await put('f-1', 'hot');
      const got = [(await first).value!.data!.messageEvents];
      for (let i = 0; i < 2; i++) got.push((await nextWithin(it, `event ${i + 2}`)).value!.data!.messageEvents);
      assert.deepEqual(got, [
        { type: 'UPDATE', id: 'f-1' },
        { type: 'DELETE', id: 'f-1' },
        { type: 'UPDATE', id: 'f-1' },
      ]);
    } finally {
      await it.return?.();
      client.dispose();
    }
    await released();
  });

  test('resume with lastEventId: everything after the cursor, in order, no gap, no duplicate, then live', async () => {
    const client = sseClient(endpoint);
    const query = 'subscription($after: String) { messageEvents(lastEventId: $after) { type id cursor } }';
    type Ev = { type: string; id: string; cursor: string };
    const first = client.iterate<{ messageEvents: Ev }>({ query, variables: { after: null } });
    const seen: Ev[] = [];
    try {
      const p = nextWithin(first, 'first live event');
      await subscribed();
      for (let i = 1; i <= 4; i++) await post(`res-${i}`, `t${i}`);
      seen.push((await p).value!.data!.messageEvents);
      seen.push((await nextWithin(first, 'second live event')).value!.data!.messageEvents);
    } finally {
      await first.return?.();
    }
    await released();
    // Disconnected: these must come with the replay.
    await t.req('DELETE', '/realtime-demo/message/res-1');
    await t.req('POST', '/realtime-demo/message/res-2', { note: 'published while away' });
    const resumeFrom = seen.at(-1)!.cursor;
    const expected = t.server.app.store.changeLog.readAfter(Number(resumeFrom)).map((e) => ({
      type: e.op.toUpperCase(),
      id: String(e.key),
      cursor: String(e.seq),
    }));
    assert.equal(expected.length, 4, 'res-3, res-4, the delete and the publish');

    const again = client.iterate<{ messageEvents: Ev }>({ query, variables: { after: resumeFrom } });
    try {
      const replayed: Ev[] = [];
      for (let i = 0; i < expected.length; i++) replayed.push((await nextWithin(again, `replayed event ${i + 1}`)).value!.data!.messageEvents);
      assert.deepEqual(replayed, expected);
      // Caught up: live events follow the replay without a gap.
      await subscribed();
      await post('res-5', 't5');
      const live = (await nextWithin(again, 'the live event after the replay')).value!.data!.messageEvents;
      assert.deepEqual(live, { type: 'UPDATE', id: 'res-5', cursor: String(t.server.app.store.changeLog.head()) });
      assert.equal(Number(live.cursor), Number(replayed.at(-1)!.cursor) + 1);
    } finally {
      await again.return?.();
      client.dispose();
    }
    await released();
  });

  test('a writer racing the resume loses nothing and duplicates nothing', async () => {
    const client = sseClient(endpoint);
    const from = t.server.app.store.changeLog.head();
    const it = client.iterate<{ messageEvents: { id: string; cursor: string } }>({
      query: `subscription { messageEvents(lastEventId: "${from}") { id cursor } }`,
    });
    const total = 60;
    try {
      // Writes start before the subscription exists and go on while it replays and goes live.
      const writes = (async () => {
        for (let i = 0; i < total; i++) await post(`race-${i}`, 'r');
      })();
      const got: string[] = [];
      for (let i = 0; i < total; i++) got.push((await nextWithin(it, `event ${i + 1} of ${total}`)).value!.data!.messageEvents.id);
      await writes;
      assert.deepEqual(
        got,
        Array.from({ length: total }, (_, i) => `race-${i}`),
      );
    } finally {
      await it.return?.();
      client.dispose();
    }
    await released();
  });

  test('a bad lastEventId is reported on an accepted stream (next with errors, then complete)', async () => {
    const client = sseClient(endpoint);
    const it = client.iterate({ query: 'subscription { messageEvents(lastEventId: "yesterday") { id } }' });
    const first = await nextWithin(it, 'the error result');
    const errors = (first.value as { errors?: Array<{ message: string; extensions: Record<string, unknown> }> }).errors;
    assert.equal(errors?.length, 1, JSON.stringify(first.value));
    assert.equal(errors![0]!.extensions.code, 'BAD_REQUEST');
    assert.deepEqual(errors![0]!.extensions.http, { status: 400 });
    assert.match(errors![0]!.message, /lastEventId/);
    assert.equal((await nextWithin(it, 'completion')).done, true);
    client.dispose();
    assert.equal(hubCount(), 0, 'no subscriber was left behind');
  });

  test('an expired cursor is CURSOR_EXPIRED (410 in extensions) after the log was pruned', async () => {
    await post('exp-1', 'old');
    const old = t.server.app.store.changeLog.head();
    await post('exp-2', 'old');
    await t.server.app.store.changeLog.prune(Date.now() + 1);
    assert.ok(t.server.app.store.changeLog.prunedThrough() > old);
    const client = sseClient(endpoint);
    const it = client.iterate({ query: `subscription { messageEvents(lastEventId: "${old - 1}") { id } }` });
    const first = await nextWithin(it, 'the error result');
    const errors = (first.value as { errors?: Array<{ extensions: Record<string, unknown> }> }).errors;
    assert.equal(errors?.[0]?.extensions.code, 'CURSOR_EXPIRED', JSON.stringify(first.value));
    assert.deepEqual(errors![0]!.extensions.http, { status: 410 });
    assert.equal((await nextWithin(it, 'completion')).done, true);
    // A cursor from the future is not from this store: the same error.
    const ahead = client.iterate({ query: `subscription { messageEvents(lastEventId: "${t.server.app.store.changeLog.head() + 1000}") { id } }` });
    const aheadFirst = await nextWithin(ahead, 'the error result');
    assert.equal((aheadFirst.value as { errors?: Array<{ extensions: Record<string, unknown> }> }).errors?.[0]?.extensions.code, 'CURSOR_EXPIRED');
    client.dispose();
    assert.equal(hubCount(), 0);
  });

  test('a subscriber overrun by one large transaction gets SLOW_CONSUMER with a cursor, and resuming from it loses nothing', async () => {
    // Setup: 1,100 records in one transaction (before anyone subscribes).
    const service = t.server.app.services.get('realtime-demo/Message')!;
    const keys = Array.from({ length: 1100 }, (_, i) => `bulk-${String(i).padStart(4, '0')}`);
    await t.server.app.store.transact((tx) => {
      for (const id of keys) tx.put(service.handle, id, { id, title: 'bulk', content: 'x' });
    });
    const client = sseClient(endpoint);
    type Result = { data?: { messageEvents: { type: string; id: string; cursor: string } }; errors?: Array<{ extensions: any }> };
    const query = 'subscription($after: String) { messageEvents(title: "bulk", lastEventId: $after) { type id cursor } }';
    const it = client.iterate({ query, variables: { after: null } }) as AsyncIterator<Result>;
    const received: string[] = [];
    let resumeFrom: string;
    try {
      const first = nextWithin(it, 'the first result');
      await subscribed();
      // One transaction of 1,100 deletes: 1,100 events reach the subscriber at once. (A DELETE by
      // query commits in batches now, which a consumer keeping up with each batch survives.)
      await t.server.app.store.transact((tx) => {
        for (const id of keys) tx.remove(service.handle, id);
      });
      let r = await first;
      while (!r.value?.errors) {
        received.push(r.value!.data!.messageEvents.id);
        r = await nextWithin(it, 'the SLOW_CONSUMER error');
      }
      const [error] = r.value.errors;
      assert.equal(error.extensions.code, 'SLOW_CONSUMER');
      assert.deepEqual(error.extensions.http, { status: 429 });
      resumeFrom = error.extensions.details?.cursor;
      assert.match(String(resumeFrom), /^\d+$/, JSON.stringify(error));
      assert.equal((await nextWithin(it, 'completion')).done, true);
    } finally {
      await it.return?.();
    }
    await released();
    const again = client.iterate({ query, variables: { after: resumeFrom } }) as AsyncIterator<Result>;
    try {
      while (received.length < keys.length) {
        const r = await nextWithin(again, `replayed event ${received.length + 1}`);
        assert.equal(r.value?.errors, undefined, JSON.stringify(r.value));
        assert.equal(r.value!.data!.messageEvents.type, 'DELETE');
        received.push(r.value!.data!.messageEvents.id);
      }
      assert.deepEqual(received, keys, 'every delete once, in commit order');
    } finally {
      await again.return?.();
      client.dispose();
    }
  });

  test('a validation error in a subscription is a next event with the error on a 200 stream', async () => {
    const client = sseClient(endpoint);
    const it = client.iterate({ query: 'subscription { message { id nope } }' });
    const first = await nextWithin(it, 'the error result');
    const errors = (first.value as { errors?: Array<{ message: string; extensions: Record<string, unknown> }> }).errors;
    assert.match(errors?.[0]?.message ?? '', /Cannot query field "nope"/);
    assert.equal(errors![0]!.extensions.code, 'GRAPHQL_VALIDATION_FAILED');
    assert.equal((await nextWithin(it, 'completion')).done, true);
    client.dispose();
  });
});

describe('REST ↔ GraphQL on one change feed', () => {
  test('a GraphQL mutation reaches a REST SSE stream (?stream=sse): update, publish, delete', async () => {
    const stream = await openSse(`${t.url}/realtime-demo/message?stream=sse&retained=false`);
    try {
      assert.equal(stream.status, 200);
      await stream.next((f) => f.event === 'message' && f.data.includes('"connected"'));
      const created = await gql(endpoint, 'mutation { createMessage(data: { id: "x-1", title: "from graphql", content: "c" }) { id } }');
      assert.equal(created.body.errors, undefined, created.text);
      const update = await stream.next((f) => f.event === 'update');
      assert.deepEqual(JSON.parse(update.data), { id: 'x-1', title: 'from graphql', content: 'c' });
      assert.equal(update.id, String(t.server.app.store.changeLog.head()));
      await gql(endpoint, 'mutation { publishMessage(id: "x-1", message: { text: "hi" }) }');
      const publish = await stream.next((f) => f.event === 'publish');
      assert.deepEqual(JSON.parse(publish.data), { id: 'x-1', message: { text: 'hi' } });
      await gql(endpoint, 'mutation { deleteMessage(id: "x-1") }');
      const del = await stream.next((f) => f.event === 'delete');
      assert.deepEqual(JSON.parse(del.data), { id: 'x-1' });
      assert.ok(Number(publish.id) > Number(update.id) && Number(del.id) > Number(publish.id));
    } finally {
      stream.close();
    }
  });

  test('a GraphQL mutation reaches a GraphQL subscriber and a REST stream alike', async () => {
    const client = sseClient(endpoint);
    const it = client.iterate<{ message: { id: string; title: string } }>({ query: 'subscription { message(id: "both") { id title } }' });
    const stream = await openSse(`${t.url}/realtime-demo/message/both?stream=sse`);
    try {
      const p = nextWithin(it, 'the GraphQL event');
      await subscribed(2);
      await gql(endpoint, 'mutation { replaceMessage(id: "both", data: { title: "everywhere", content: "c" }) { id } }');
      assert.deepEqual((await p).value, { data: { message: { id: 'both', title: 'everywhere' } } });
      assert.deepEqual(JSON.parse((await stream.next((f) => f.event === 'update')).data), { id: 'both', title: 'everywhere', content: 'c' });
    } finally {
      await it.return?.();
      client.dispose();
      stream.close();
    }
    await released();
  });
});

describe('transport', () => {
  test('GET ?query=subscription… with Accept: text/event-stream (the EventSource form)', async () => {
    const q = encodeURIComponent('subscription { message { id title } }');
    const stream = await openSse(`${endpoint}?query=${q}`);
    try {
      assert.equal(stream.status, 200);
      assert.match(String(stream.headers['content-type']), /^text\/event-stream/);
      assert.match(String(stream.headers['cache-control']), /no-cache/);
      assert.equal(stream.headers['x-accel-buffering'], 'no');
      assert.equal(stream.headers['content-encoding'], undefined, 'never compressed, and no bogus `none` coding');
      await subscribed();
      await post('get-1', 'via GET');
      const next = await stream.next((f) => f.event === 'next');
      assert.deepEqual(JSON.parse(next.data), { data: { message: { id: 'get-1', title: 'via GET' } } });
    } finally {
      stream.close();
    }
    await released();
  });

  test('POST with Accept: text/event-stream, variables and operationName', async () => {
    const stream = await openSse(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: 'subscription A { message(id: "nope") { id } } subscription B($id: ID) { message(id: $id) { id content } }',
        operationName: 'B',
        variables: { id: 'post-1' },
      }),
    });
    try {
      assert.equal(stream.status, 200);
      await subscribed();
      await post('post-1', 'p', 'by POST');
      assert.deepEqual(JSON.parse((await stream.next((f) => f.event === 'next')).data), { data: { message: { id: 'post-1', content: 'by POST' } } });
    } finally {
      stream.close();
    }
    await released();
  });

  test('a query sent with Accept: text/event-stream is one next event then complete', async () => {
    const stream = await openSse(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ message(id: "post-1") { id } }' }),
    });
    try {
      assert.equal(stream.status, 200);
      assert.deepEqual(JSON.parse((await stream.next((f) => f.event === 'next')).data), { data: { message: [{ id: 'post-1' }] } });
      await stream.next((f) => f.event === 'complete');
    } finally {
      stream.close();
    }
  });

  test('closing the connection ends the server-side subscription (graphql-sse, GET form, many at once)', async () => {
    const client = sseClient(endpoint);
    const its = Array.from({ length: 5 }, (_, i) => client.iterate({ query: `subscription { messageEvents(id: "close-${i}") { id } }` }));
    const pending = its.map((it, i) => nextWithin(it, `event ${i}`).catch(() => undefined));
    const streams = await Promise.all(Array.from({ length: 3 }, () => openSse(`${endpoint}?query=${encodeURIComponent('subscription { message { id } }')}`)));
    await subscribed(8);
    for (const it of its) await it.return?.();
    for (const s of streams) s.close();
    client.dispose();
    await released();
    await Promise.all(pending);
    // Writes after the close reach nobody and break nothing.
    await post('close-0', 'after');
    assert.equal(hubCount(), 0);
  });
});

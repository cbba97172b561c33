/**
 * A server restart (SIGTERM, then the same port and data directory) as graphql-sse clients see it:
 * the official client with its default options keeps receiving, and the README's resume pattern
 * (the last `cursor` kept in the request's variables as `lastEventId`) gets every event exactly
 * once, in order, including the writes made while it was still waiting to reconnect.
 * Over the default transport (HTTPS, HTTP/2) and over plain HTTP/1.1. On the wire: shutdown
 * writes no `event: complete` (which graphql-sse takes as the end for good); it drops the
 * connection (HTTP/1.1) or resets the stream (HTTP/2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { connect, constants as http2 } from 'node:http2';
import { createClient } from 'graphql-sse';
import { fetch as undiciFetch } from 'undici';
import { startChild, type Child } from '../helpers/child.ts';
import { openSse, waitFor } from '../helpers/graphql.ts';
import { agent, httpRequest, MESSAGE_SDL, schemaDir, startServer, tmpDir } from '../helpers/server.ts';

const SUBSCRIPTION = 'subscription { message { id } }';

/** Polls `cond` until true; fails naming `what` after `ms`. */
async function eventually(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Watched {
  /** Values of `next`, in order. */
  received: unknown[];
  ended: string[];
  connects: boolean[];
  dispose(): void;
}

for (const transport of ['https', 'http'] as const) {
  test(`graphql-sse subscriptions survive a server restart (${transport === 'https' ? 'HTTPS, HTTP/2' : 'plain HTTP/1.1'})`, async (t) => {
    const data = tmpDir();
    const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
    const children: Child[] = [];
    const disposers: Array<() => void> = [];
    t.after(async () => {
      for (const d of disposers) d();
      for (const c of children) {
        if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
        await c.exited;
      }
      rmSync(data, { recursive: true, force: true });
      rmSync(schemas, { recursive: true, force: true });
    });
    const args = ['--data', data, '--schemas', schemas, ...(transport === 'http' ? ['--no-tls'] : [])];
    const first = await startChild(args);
    children.push(first);
    const url = first.url;
    const endpoint = `${url}/realtime-demo/graphql`;
    const post = async (i: number) => {
      const res = await httpRequest(`${url}/realtime-demo/message`, 'POST', { id: `m${i}`, title: `t${i}`, content: String(i) });
      assert.equal(res.status, 201, res.text);
    };

    // The client as the README shows it: default options (only a fetch that accepts the test's
    // self-signed certificate and speaks HTTP/2, as an app would get from NODE_EXTRA_CA_CERTS).
    const client = createClient({
      url: endpoint,
      fetchFn: (input: string, init?: Record<string, unknown>) => undiciFetch(input, { ...init, dispatcher: agent } as never),
    });
    disposers.push(() => client.dispose());
    const watch = (request: { query: string; variables?: Record<string, unknown> }, onNext: (value: any) => unknown): Watched => {
      const w: Watched = { received: [], ended: [], connects: [], dispose: () => {} };
      w.dispose = client.subscribe(
        request,
        {
          next: (value) => void w.received.push(onNext(value)),
          error: (err) => void w.ended.push(`error: ${err instanceof Error ? err.message : JSON.stringify(err)}`),
          complete: () => void w.ended.push('complete'),
        },
        { connected: (reconnected) => void w.connects.push(reconnected) },
      );
      return w;
    };

    // The plain form: the record on each update, from now.
    const live = watch({ query: 'subscription { message { id title } }' }, (value) => value.data?.message?.id ?? value);
    // The README's resume pattern: graphql-sse serialises `request` again on every attempt, so the
    // last cursor kept in its variables makes a reconnection resume right after it.
    const request = {
      query: 'subscription ($lastEventId: String) { messageEvents(lastEventId: $lastEventId) { type id cursor } }',
      variables: { lastEventId: null as string | null },
    };
    const events = watch(request, (value) => {
      const event = value.data?.messageEvents;
      if (!event) return value;
      request.variables.lastEventId = event.cursor;
      return event;
    });
    await eventually(() => live.connects.length === 1 && events.connects.length === 1, 'both subscriptions connected');

    await post(1);
    await post(2);
    await eventually(() => live.received.length === 2 && events.received.length === 2, 'the writes before the restart');

    first.proc.kill('SIGTERM');
    assert.equal(await first.exited, 0, first.output());
    const second = await startChild([...args, '--port', new URL(url).port]);
    children.push(second);
    assert.equal(second.url, url);
    // Written at once: the clients are most likely still waiting to retry. The resuming one must
    // get them anyway; the plain form only promises what is written once it is back.
    await post(3);
    await post(4);
    await eventually(() => live.connects.length === 2 && events.connects.length === 2, 'both subscriptions reconnected');
    await post(5);
    await post(6);
    await eventually(() => live.received.includes('m6') && events.received.some((e) => (e as { id?: string }).id === 'm6'), 'the writes after the restart');

    assert.deepEqual(live.ended, [], 'the plain subscription never ended');
    assert.deepEqual(events.ended, [], 'the resuming subscription never ended');
    assert.deepEqual(live.connects, [false, true]);
    assert.deepEqual(live.received.slice(0, 2), ['m1', 'm2']);
    assert.deepEqual(live.received.slice(-2), ['m5', 'm6']);
    // Every event exactly once, in order, with strictly increasing cursors.
    const got = events.received as Array<{ type: string; id: string; cursor: string }>;
    assert.deepEqual(
      got.map((e) => `${e.type} ${e.id}`),
      [1, 2, 3, 4, 5, 6].map((i) => `UPDATE m${i}`),
    );
    for (let i = 1; i < got.length; i++) assert.ok(BigInt(got[i]!.cursor) > BigInt(got[i - 1]!.cursor), `cursors increase: ${JSON.stringify(got)}`);

    // Ending for real still ends: the client unsubscribes, and the server sees it go.
    live.dispose();
    events.dispose();
  });
}

test("shutdown drops a subscription's connection without `event: complete` (HTTP/1.1)", async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  t.after(() => rmSync(schemas, { recursive: true, force: true }));
  const server = await startServer({ schemas });
  const stream = await openSse(`${server.url}/realtime-demo/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: SUBSCRIPTION }) });
  t.after(() => stream.close());
  assert.equal(stream.status, 200);
  await waitFor(() => server.server.app.hub.count() === 1, 'the subscription in the hub');
  await server.close();
  await assert.rejects(
    stream.next(() => true),
    /other side closed|terminated|socket/i,
  );
  assert.deepEqual(stream.seen, [], 'no frame, and no `complete`');
});

test("shutdown resets a subscription's HTTP/2 stream without `event: complete`", async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  t.after(() => rmSync(schemas, { recursive: true, force: true }));
  const server = await startServer({ schemas, tls: true });
  // Node's own HTTP/2 client: after GOAWAY it reads open streams to their end, as browsers do
  // (undici fails them at once, which would hide a `complete` written after it).
  const session = connect(server.url, { rejectUnauthorized: false });
  session.on('error', () => {});
  t.after(() => session.destroy());
  const req = session.request({ ':method': 'POST', ':path': '/realtime-demo/graphql', 'content-type': 'application/json', accept: 'text/event-stream' });
  req.end(JSON.stringify({ query: SUBSCRIPTION }));
  req.on('error', () => {});
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => (body += chunk));
  const closed = new Promise<void>((resolve) => req.once('close', resolve));
  await waitFor(() => server.server.app.hub.count() === 1, 'the subscription in the hub');
  await server.close();
  await closed;
  assert.doesNotMatch(body, /event: complete/);
  assert.notEqual(req.rstCode, http2.NGHTTP2_NO_ERROR, 'the stream was reset, not ended');
});

/**
 * The `eventsource` npm client (v4, the WHATWG EventSource for Node) against tablecast over HTTPS
 * and HTTP/2: events by name through addEventListener, and reconnection with `Last-Event-ID`
 * after the server drops the connection or restarts, losing nothing and repeating nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { EventSource } from 'eventsource';
import { startChild, type Child } from '../helpers/child.ts';
import { MESSAGE_SDL, schemaDir, tmpDir } from '../helpers/server.ts';
import { createAgent, createEventSource, eventually, send, startSseServer } from '../helpers/sse.ts';

interface Seen {
  type: string;
  id: string;
  data: any;
}

/** Listens for every event name of SPEC §4 by addEventListener and records them in order. */
function record(source: EventSource): { seen: Seen[]; opens: () => number; errors: () => number } {
  const seen: Seen[] = [];
  let opens = 0;
  let errors = 0;
  for (const type of ['message', 'update', 'delete', 'publish', 'ping', 'reset']) {
    source.addEventListener(type, (e) => seen.push({ type, id: e.lastEventId, data: JSON.parse(e.data) }));
  }
  source.addEventListener('open', () => opens++);
  source.addEventListener('error', () => errors++);
  return { seen, opens: () => opens, errors: () => errors };
}

const updates = (seen: Seen[]) => seen.filter((e) => e.type === 'update').map((e) => Number(e.id));

test('addEventListener receives update, publish, delete, ping and retained messages by name', async (t) => {
  const s = await startSseServer(t, { tls: true, pingInterval: 80 });
  await s.req('POST', '/realtime-demo/message', { id: 'msg-0', title: 'Before', content: 'retained' }); // 1
  const { source } = createEventSource(`${s.url}/realtime-demo/message?stream=sse`, s.agent);
  s.defer(() => source.close());
  const { seen, opens } = record(source);
  await eventually(() => opens() === 1 && seen.length >= 2, 'connected and retained messages');
  assert.deepEqual(seen.slice(0, 2), [
    { type: 'message', id: '1', data: { type: 'connected', status: 'ok' } },
    { type: 'message', id: '1', data: { id: 'msg-0', title: 'Before', content: 'retained' } },
  ]);

  await s.req('POST', '/realtime-demo/message', { id: 'msg-1', title: 'Hello', content: 'World' }); // 2
  await s.req('POST', '/realtime-demo/message/msg-1', { text: 'typing…' }); // 3
  await s.req('DELETE', '/realtime-demo/message/msg-1'); // 4
  await eventually(() => seen.some((e) => e.type === 'delete'), 'the delete event');
  await eventually(() => seen.some((e) => e.type === 'ping'), 'a ping event');
  const named = seen.filter((e) => e.type !== 'ping');
  assert.deepEqual(named.slice(2), [
    { type: 'update', id: '2', data: { id: 'msg-1', title: 'Hello', content: 'World' } },
    { type: 'publish', id: '3', data: { id: 'msg-1', message: { text: 'typing…' } } },
    { type: 'delete', id: '4', data: { id: 'msg-1' } },
  ]);
  const ping = seen.find((e) => e.type === 'ping')!;
  assert.equal(typeof ping.data.time, 'number');
  assert.equal(source.readyState, source.OPEN);
});

test('the server drops the connection: EventSource reconnects with Last-Event-ID and loses nothing', async (t) => {
  const s = await startSseServer(t, { tls: true, sseRetry: 50 });
  const sockets = new Set<TLSSocket>();
  s.server.fastify.server.on('secureConnection', (socket: TLSSocket) => sockets.add(socket));
  // The EventSource gets its own connection, so dropping it leaves the writer's alone.
  const esAgent = createAgent();
  s.defer(() => esAgent.destroy());
  const { source, requests } = createEventSource(`${s.url}/realtime-demo/message?stream=sse`, esAgent);
  s.defer(() => source.close());
  const { seen, opens, errors } = record(source);
  await eventually(() => opens() === 1, 'connected');
  const streamSockets = [...sockets];
  assert.equal(streamSockets.length, 1);

  for (let i = 1; i <= 3; i++) await s.req('POST', '/realtime-demo/message', { id: `m${i}`, title: 't', content: String(i) });
  await eventually(() => updates(seen).length === 3, 'three updates before the drop');

  for (const socket of streamSockets) socket.destroy(); // the server drops the client
  await eventually(() => errors() >= 1, 'the client noticed');
  // Written while the client is away (it reconnects after the 50 ms retry the server asked for).
  for (let i = 4; i <= 8; i++) await s.req('POST', '/realtime-demo/message', { id: `m${i}`, title: 't', content: String(i) });
  await eventually(() => opens() === 2, 'reconnected');
  for (let i = 9; i <= 10; i++) await s.req('POST', '/realtime-demo/message', { id: `m${i}`, title: 't', content: String(i) });
  await eventually(() => updates(seen).length >= 10, 'every update');

  assert.deepEqual(updates(seen), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(requests.length, 2);
  assert.equal(requests[0]!.headers['last-event-id'], undefined);
  assert.equal(requests[1]!.headers['last-event-id'], '3', 'the reconnect carried the last id seen');
  // The resumed stream starts with the connection confirmation but no retained data.
  const messages = seen.filter((e) => e.type === 'message');
  assert.equal(messages.length, 2);
  assert.ok(messages.every((e) => e.data.type === 'connected'));
  await eventually(() => s.server.streams.size === 1 && s.server.app.hub.count() === 1, 'one stream, one subscriber');
});

test('the server restarts (kill -9, same port and data): EventSource resumes from the persisted log', async (t) => {
  const data = tmpDir();
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const agent = createAgent();
  const children: Child[] = [];
  let source: EventSource | undefined;
  t.after(async () => {
    source?.close();
    await agent.destroy();
    for (const c of children) {
      c.proc.kill('SIGKILL');
      await c.exited;
    }
    rmSync(data, { recursive: true, force: true });
    rmSync(schemas, { recursive: true, force: true });
  });
  // (The log level stays at info: startChild waits for the "serving" line.)
  const env = { TABLECAST_SSE_RETRY: '100' };
  const args = ['--data', data, '--schemas', schemas];
  const first = await startChild(args, env);
  children.push(first);
  const url = first.url;
  const port = new URL(url).port;
  const post = (i: number) => send(agent, `${url}/realtime-demo/message`, 'POST', { id: `m${i}`, title: 't', content: String(i) });

  const created = createEventSource(`${url}/realtime-demo/message?stream=sse`, agent);
  source = created.source;
  const requests = created.requests;
  const { seen, opens } = record(source);
  await eventually(() => opens() === 1, 'connected');
  for (let i = 1; i <= 3; i++) assert.equal((await post(i)).status, 201);
  await eventually(() => updates(seen).length === 3, 'three updates before the kill');

  first.proc.kill('SIGKILL');
  await first.exited;
  const second = await startChild([...args, '--port', port], env);
  children.push(second);
  assert.equal(second.url, url);
  // Written after the restart; the client may or may not be back yet: it must get them either way.
  for (let i = 4; i <= 6; i++) assert.equal((await post(i)).status, 201);
  await eventually(() => opens() === 2, 'reconnected to the restarted server', 10_000);
  for (let i = 7; i <= 8; i++) assert.equal((await post(i)).status, 201);
  await eventually(() => updates(seen).length >= 8, 'every update');
  assert.deepEqual(updates(seen), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(requests.at(-1)!.headers['last-event-id'], '3');
});

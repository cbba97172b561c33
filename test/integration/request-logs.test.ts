/**
 * Request logging: each request's lines carry its reqId at the levels that log them, and levels
 * that log nothing for a request write nothing (request loggers are built lazily, see
 * src/http/logging.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { MESSAGE_SDL, schemaDir, startServer } from '../helpers/server.ts';
import { eventually } from '../helpers/sse.ts';

function capture() {
  const lines: Array<{ [k: string]: any }> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  return { stream, lines };
}

test('at info, a request logs incoming, its error and completion under one reqId', async (t) => {
  const logs = capture();
  const s = await startServer({ schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }), logLevel: 'info', logStream: logs.stream });
  t.after(() => s.close());
  const res = await s.req('GET', '/realtime-demo/message/missing');
  assert.equal(res.status, 404);
  await eventually(() => logs.lines.some((l) => l.msg === 'request completed'), 'no request-completed line');
  const incoming = logs.lines.find((l) => l.msg === 'incoming request');
  assert.ok(incoming, 'no incoming-request line');
  assert.equal(incoming.req.url, '/realtime-demo/message/missing');
  const reqId = incoming.reqId;
  assert.ok(reqId, 'the incoming line has no reqId');
  const notFound = logs.lines.find((l) => l.code === 'NOT_FOUND');
  assert.ok(notFound, 'the error was not logged');
  assert.equal(notFound.reqId, reqId);
  assert.equal(notFound.level, 30);
  const completed = logs.lines.find((l) => l.msg === 'request completed');
  assert.equal(completed!.reqId, reqId);
  assert.equal(completed!.res.statusCode, 404);
});

test('at warn, requests that fail with a 4xx write no lines; startup warnings still appear', async (t) => {
  const logs = capture();
  const s = await startServer({ schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }), logLevel: 'warn', logStream: logs.stream });
  t.after(() => s.close());
  // The open-server warning of listen() proves the stream is wired at this level.
  await eventually(() => logs.lines.some((l) => l.level === 40 && /no auth configured/.test(l.msg)), 'no startup warning');
  const before = logs.lines.length;
  assert.equal((await s.req('GET', '/realtime-demo/message/missing')).status, 404);
  assert.equal((await s.req('POST', '/realtime-demo/message', { title: 1 })).status, 400);
  assert.equal((await s.req('GET', '/realtime-demo/message')).status, 200);
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(logs.lines.slice(before), []);
});

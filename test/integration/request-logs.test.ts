/**
 * Request logging: at `info` one access line per request, and each request's lines carry its
 * reqId; at `debug` also an incoming line; levels that log nothing for a request write nothing
 * (request loggers are built lazily, see src/http/logging.ts). Stdout, where access lines are
 * gathered per event-loop turn, is checked in a child process: nothing is lost on close or crash.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { createServer } from '../../src/index.ts';
import { MESSAGE_SDL, schemaDir, startServer } from '../helpers/server.ts';
import { eventually } from '../helpers/sse.ts';

const ROOT = resolve(import.meta.dirname, '../..');

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

test('at info, a request writes one access line, and its error line, under one reqId', async (t) => {
  const logs = capture();
  const s = await startServer({ schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }), logLevel: 'info', logStream: logs.stream });
  t.after(() => s.close());
  const res = await s.req('GET', '/realtime-demo/message/missing?x=1');
  assert.equal(res.status, 404);
  await eventually(() => logs.lines.some((l) => l.msg === 'request completed'), 'no access line');
  assert.equal(logs.lines.filter((l) => l.msg === 'incoming request').length, 0, 'an incoming line at info');
  const access = logs.lines.filter((l) => l.msg === 'request completed');
  assert.equal(access.length, 1);
  const line = access[0]!;
  assert.ok(line.reqId, 'the access line has no reqId');
  assert.equal(line.level, 30);
  assert.deepEqual(line.req, { method: 'GET', url: '/realtime-demo/message/missing?x=1', remoteAddress: '127.0.0.1' });
  assert.deepEqual(line.res, { statusCode: 404 });
  assert.equal(typeof line.responseTime, 'number');
  assert.equal(typeof line.time, 'number');
  assert.equal(typeof line.pid, 'number');
  const notFound = logs.lines.find((l) => l.code === 'NOT_FOUND');
  assert.ok(notFound, 'the error was not logged');
  assert.equal(notFound.reqId, line.reqId);
  assert.equal(notFound.level, 30);
  assert.ok(logs.lines.indexOf(notFound) < logs.lines.indexOf(line), 'the error line comes after the access line');
});

test("request.log: a route's own logLevel is honoured, other routes keep the server's, and fastify's warnings carry the reqId", async (t) => {
  const logs = capture();
  const data = mkdtempSync(join(tmpdir(), 'tablecast-logs-'));
  const server = await createServer({ port: 0, host: '127.0.0.1', tls: false, data, schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }), logLevel: 'info', logStream: logs.stream });
  t.after(async () => {
    await server.close();
    rmSync(data, { recursive: true, force: true });
  });
  server.fastify.get('/chatty', { logLevel: 'debug' }, async (request) => {
    request.log.debug('chatty debug');
    return { ok: true };
  });
  server.fastify.get('/quiet', async (request) => {
    request.log.debug('quiet debug');
    request.log.info('quiet info');
    return { ok: true };
  });
  server.fastify.get('/twice', (_request, reply) => {
    reply.send({ first: true });
    reply.send({ second: true });
  });
  const url = await server.listen();
  for (const path of ['/chatty', '/quiet', '/twice']) assert.equal((await fetch(url + path)).status, 200, path);
  await eventually(() => logs.lines.filter((l) => l.msg === 'request completed').length === 3, 'three access lines');
  const reqIdOf = (path: string) => logs.lines.find((l) => l.msg === 'request completed' && l.req.url === path)!.reqId;
  const chatty = logs.lines.find((l) => l.msg === 'chatty debug');
  assert.ok(chatty, 'the debug line of a logLevel: debug route is missing');
  assert.equal(chatty.reqId, reqIdOf('/chatty'));
  assert.equal(
    logs.lines.some((l) => l.msg === 'quiet debug'),
    false,
    'a debug line at info',
  );
  assert.equal(logs.lines.find((l) => l.msg === 'quiet info')?.reqId, reqIdOf('/quiet'));
  const twice = logs.lines.find((l) => l.level === 40 && l.err?.code === 'FST_ERR_REP_ALREADY_SENT');
  assert.ok(twice, `fastify's warning is missing:\n${logs.lines.map((l) => JSON.stringify(l)).join('\n')}`);
  assert.equal(twice.reqId, reqIdOf('/twice'));
});

test('at debug, a request also writes an incoming line with its reqId', async (t) => {
  const logs = capture();
  const s = await startServer({ schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }), logLevel: 'debug', logStream: logs.stream });
  t.after(() => s.close());
  assert.equal((await s.req('GET', '/realtime-demo/message')).status, 200);
  await eventually(() => logs.lines.some((l) => l.msg === 'request completed'), 'no access line');
  const incoming = logs.lines.find((l) => l.msg === 'incoming request');
  assert.ok(incoming, 'no incoming line');
  assert.equal(incoming.level, 20);
  assert.equal(incoming.req.url, '/realtime-demo/message');
  assert.equal(incoming.reqId, logs.lines.find((l) => l.msg === 'request completed')!.reqId);
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

/**
 * Runs a server in a child process with its log on stdout (a pipe), sends `requests` requests,
 * then runs `end` (script text); returns the child's stdout lines and its exit.
 */
async function childServer(requests: number, end: string): Promise<{ lines: string[]; code: number | null; signal: string | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'tablecast-logs-'));
  const schemas = schemaDir({ 'm.graphql': MESSAGE_SDL });
  const script = join(dir, 'child.mts');
  writeFileSync(
    script,
    `import { writeSync } from 'node:fs';
import { createServer } from ${JSON.stringify(join(ROOT, 'src/index.ts'))};
const server = await createServer({ port: 0, host: '127.0.0.1', tls: false, logLevel: 'info', data: ${JSON.stringify(join(dir, 'data'))}, schemas: ${JSON.stringify(schemas)} });
const url = await server.listen();
await Promise.all(Array.from({ length: ${requests} }, (_, i) => fetch(url + '/realtime-demo/message?n=' + i).then((r) => r.text())));
${end}
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.resume();
  const [code, signal] = await new Promise<[number | null, string | null]>((res) => child.once('close', (c, s) => res([c, s])));
  rmSync(dir, { recursive: true, force: true });
  rmSync(schemas, { recursive: true, force: true });
  return { lines: out.split('\n').filter((l) => l.trim()), code, signal };
}

const accessLines = (lines: string[]) => lines.filter((l) => l.startsWith('{') && JSON.parse(l).msg === 'request completed');

test('stdout: every access line is out when close() resolves (nothing waits for process exit)', async () => {
  // SIGKILL right after close: no exit handler runs, so only close() can have written the lines.
  const r = await childServer(200, "await server.close();\nwriteSync(1, 'CLOSED\\n');\nprocess.kill(process.pid, 'SIGKILL');");
  assert.equal(r.signal, 'SIGKILL');
  const closed = r.lines.indexOf('CLOSED');
  assert.ok(closed > 0, 'the child did not get to close');
  assert.equal(accessLines(r.lines.slice(0, closed)).length, 200);
  const urls = new Set(accessLines(r.lines).map((l) => JSON.parse(l).req.url));
  assert.equal(urls.size, 200, 'an access line is missing or repeated');
});

test('stdout: a fatal line logged before a crash is written, after the access lines before it', async () => {
  const r = await childServer(50, "server.log.fatal('about to crash');\nthrow new Error('crash');");
  assert.equal(r.code, 1);
  const fatal = r.lines.findIndex((l) => l.includes('"about to crash"'));
  assert.ok(fatal >= 0, 'the fatal line was lost');
  assert.equal(JSON.parse(r.lines[fatal]!).level, 60);
  assert.equal(accessLines(r.lines.slice(0, fatal)).length, 50);
});

/**
 * The access line and the log sink (src/http/logging.ts): the line is what pino itself would
 * write for the same fields, and the sink gathers access lines per turn without reordering or
 * holding back anything else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino, symbols } from 'pino';
import { accessLine, LogSink, type AccessFields } from '../../../src/http/logging.ts';

const fields: AccessFields = {
  reqId: 'req-7',
  method: 'GET',
  url: '/shop/product?name="a\\b"&access_token=[redacted]&é=ü',
  remoteAddress: '::ffff:127.0.0.1',
  statusCode: 304,
  responseTime: 0.123,
};

test('an access line is byte for byte the line pino writes for the same fields', () => {
  const written: string[] = [];
  const log = pino({ level: 'info', timestamp: () => ',"time":1700000000123' }, { write: (s: string) => written.push(s) } as never);
  const { reqId, method, url, remoteAddress, statusCode, responseTime } = fields;
  log.info({ reqId, req: { method, url, remoteAddress }, res: { statusCode }, responseTime }, 'request completed');
  const bindings = (log as unknown as { [k: symbol]: string })[symbols.chindingsSym]!;
  assert.match(bindings, /"pid":\d+,"hostname":/);
  assert.equal(accessLine(fields, 1700000000123, bindings), written[0]);
});

test('an access line without a remote address leaves the field out, and stays one JSON line', () => {
  const line = accessLine({ ...fields, remoteAddress: undefined, url: '/a\nb' }, 1, '');
  assert.equal(line.indexOf('\n'), line.length - 1);
  const parsed = JSON.parse(line);
  assert.deepEqual(parsed.req, { method: 'GET', url: '/a\nb' });
});

function target() {
  const writes: string[] = [];
  return { writes, write: (s: string) => writes.push(s) };
}

test('deferred lines go out together 10 ms after the first, in order', async () => {
  const t = target();
  const sink = new LogSink(t, true);
  sink.defer('a\n');
  await new Promise((r) => setImmediate(r));
  sink.defer('b\n');
  assert.deepEqual(t.writes, [], 'a deferred line was written before its 10 ms');
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(t.writes, ['a\nb\n']);
});

test('64 KiB of deferred lines go out at once, without waiting', () => {
  const t = target();
  const sink = new LogSink(t, true);
  const line = `${'x'.repeat(1023)}\n`;
  for (let i = 0; i < 63; i++) sink.defer(line);
  assert.equal(t.writes.length, 0, 'written before 64 KiB');
  sink.defer(line);
  assert.equal(t.writes.length, 1);
  assert.equal(t.writes[0]!.length, 64 * 1024);
});

test('any other line goes out at once, after the deferred ones (a fatal before a crash takes them along)', () => {
  const t = target();
  const sink = new LogSink(t, true);
  sink.defer('a\n');
  sink.write('{"level":60}\n');
  assert.deepEqual(t.writes, ['a\n', '{"level":60}\n']);
});

test('flush writes what is deferred, then flushes the target', () => {
  const t = target();
  const sink = new LogSink({ ...t, flush: (cb: () => void) => (t.writes.push('<flush>'), cb()) }, true);
  sink.defer('a\n');
  let done = false;
  sink.flush(() => (done = true));
  assert.ok(done);
  assert.deepEqual(t.writes, ['a\n', '<flush>']);
});

test('a sink that does not gather writes each deferred line at once', () => {
  const t = target();
  const sink = new LogSink(t, false);
  sink.defer('a\n');
  sink.defer('b\n');
  assert.deepEqual(t.writes, ['a\n', 'b\n']);
});

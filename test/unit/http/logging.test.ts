/**
 * The access line and the log sink (src/http/logging.ts): the line is what pino itself would
 * write for the same fields, and the sink gathers access lines per turn without reordering or
 * holding back anything else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino, symbols } from 'pino';
import { accessLine, jsonString, millisecondsText, type AccessFields } from '../../../src/http/access-line.ts';
import { LogSink } from '../../../src/http/log-sink.ts';

const fields: AccessFields = {
  reqId: 'req-7',
  method: 'GET',
  url: '/shop/product?name="a\\b"&access_token=[redacted]&é=ü',
  remoteAddress: '::ffff:127.0.0.1',
  statusCode: 304,
  micros: 123,
};

test('an access line is byte for byte the line pino writes for the same fields', () => {
  const written: string[] = [];
  const log = pino({ level: 'info', timestamp: () => ',"time":1700000000123' }, { write: (s: string) => written.push(s) } as never);
  const { reqId, method, url, remoteAddress, statusCode, micros } = fields;
  log.info({ reqId, req: { method, url, remoteAddress }, res: { statusCode }, responseTime: micros / 1000 }, 'request completed');
  const bindings = (log as unknown as { [k: symbol]: string })[symbols.chindingsSym]!;
  assert.match(bindings, /"pid":\d+,"hostname":/);
  assert.equal(accessLine(fields, 1700000000123, bindings), written[0]);
});

test("an access line is pino's for plain ASCII fields, whole milliseconds and another time too", () => {
  const written: string[] = [];
  const log = pino({ level: 'info', timestamp: () => ',"time":1700000000999' }, { write: (s: string) => written.push(s) } as never);
  const plain: AccessFields = { reqId: 'req-1a', method: 'DELETE', url: '/realtime-demo/message/msg-1', remoteAddress: '127.0.0.1', statusCode: 204, micros: 4000 };
  log.info({ reqId: plain.reqId, req: { method: plain.method, url: plain.url, remoteAddress: plain.remoteAddress }, res: { statusCode: 204 }, responseTime: 4 }, 'request completed');
  const bindings = (log as unknown as { [k: symbol]: string })[symbols.chindingsSym]!;
  assert.equal(accessLine(plain, 1700000000999, bindings), written[0]);
});

test('jsonString is JSON.stringify, for text with and without something to escape', () => {
  const samples = ['', 'plain', '/a?b=c&d=e', 'quote"', 'back\\slash', 'tab\t', 'nul\u0000', 'del\u007f', 'é ü 漢', '😀', 'lone \ud800 surrogate', 'low \udc00', 'line\u2028sep'];
  for (const s of samples) assert.equal(jsonString(s), JSON.stringify(s), JSON.stringify(s));
});

test('millisecondsText writes whole microseconds as JavaScript writes the milliseconds', () => {
  for (const micros of [0, 1, 9, 10, 99, 100, 101, 110, 999, 1000, 1001, 1010, 1100, 1500, 12345, 99999, 100000, 123456789, 2 ** 40 + 7]) {
    assert.equal(millisecondsText(micros), String(micros / 1000), String(micros));
  }
  for (let micros = 0; micros < 20000; micros += 7) assert.equal(millisecondsText(micros), String(micros / 1000));
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
  const sink = new LogSink(
    {
      ...t,
      flush: (cb: () => void) => {
        t.writes.push('<flush>');
        cb();
      },
    },
    true,
  );
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

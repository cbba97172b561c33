/**
 * The client's SSE parser: frames split anywhere (inside a line, between CR and LF, inside a
 * multi-byte character once decoded), every line ending, comments, ids, retry, and its bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSseParser } from '../../../src/client/sse-parser.ts';
import { encodeSseFrame } from '../../../src/realtime/sse.ts';

const WIRE = `retry: 3000\n\n${encodeSseFrame({ event: 'message', id: 41, data: '{"type":"connected"}' })}: a comment\n${encodeSseFrame({ event: 'update', id: 42, data: 'line one\nline two ünï' })}${encodeSseFrame({ event: 'ping', data: '{"time":1}' })}`;
const EXPECTED = [
  { event: 'message', data: '{"type":"connected"}', id: '41' },
  { event: 'update', data: 'line one\nline two ünï', id: '42' },
  { event: 'ping', data: '{"time":1}', id: undefined },
];

test('the same events whatever the chunking, from the bytes the server encoder writes', () => {
  const bytes = new TextEncoder().encode(WIRE);
  for (let size = 1; size <= bytes.length; size += size < 8 ? 1 : 7) {
    const parser = createSseParser(1 << 20);
    const decoder = new TextDecoder();
    const out = [];
    for (let i = 0; i < bytes.length; i += size) out.push(...parser.push(decoder.decode(bytes.subarray(i, i + size), { stream: true })));
    assert.deepEqual(out, EXPECTED, `chunks of ${size} bytes`);
    assert.equal(parser.retry, 3000);
  }
});

test('CRLF and CR line endings, a CRLF split across chunks, fields without a space or a value', () => {
  const parser = createSseParser(1 << 20);
  const out = [...parser.push('event:update\r\nid:7\r\ndata:a\r'), ...parser.push('\ndata\r\rdata: b\n\n')];
  assert.deepEqual(out, [
    { event: 'update', data: 'a\n', id: '7' },
    { event: 'message', data: 'b', id: undefined },
  ]);
});

test('a frame with no data dispatches nothing; an id with NUL is ignored', () => {
  const parser = createSseParser(1 << 20);
  assert.deepEqual(parser.push('event: x\nid: 5\n\nid: a\0b\ndata: y\n\n'), [{ event: 'message', data: 'y', id: undefined }]);
});

test('a frame or line over the bound is refused rather than buffered', () => {
  assert.throws(() => createSseParser(100).push(`data: ${'x'.repeat(200)}`), RangeError);
  const parser = createSseParser(100);
  assert.throws(() => {
    for (let i = 0; i < 20; i++) parser.push(`data: ${'x'.repeat(10)}\n`);
  }, RangeError);
});

test('empty data lines count their newline: a never-ending frame of them meets the bound', () => {
  const parser = createSseParser(1024);
  assert.throws(() => {
    for (let i = 0; i < 1000; i++) parser.push('data\n'.repeat(100));
  }, RangeError);
  // The bound is the joined data's length: exactly at it passes, one more newline does not.
  assert.deepEqual(createSseParser(4).push('data\ndata\ndata\ndata\ndata\n\n'), [{ event: 'message', data: '\n\n\n\n', id: undefined }]);
  assert.throws(() => createSseParser(4).push('data\n'.repeat(6)), RangeError);
  assert.deepEqual(createSseParser(4).push('data: abcd\n\n'), [{ event: 'message', data: 'abcd', id: undefined }]);
});

test('comments and unknown fields are dropped as read: a frame of them holds nothing and meets no bound', () => {
  const parser = createSseParser(64);
  for (let i = 0; i < 1000; i++) assert.deepEqual(parser.push(': keep-alive\nfoo: bar\nevent: update\nid: 7\n'), []);
  assert.deepEqual(parser.push('data: after\n\n'), [{ event: 'update', data: 'after', id: '7' }]);
});

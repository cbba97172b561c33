/**
 * The SSE encoder (src/realtime/sse.ts): exact bytes, and its refusals, which are a security
 * property: a line break in `event` or `id` would let a value forge fields or whole frames
 * (CWE-93), and a NUL in `id` makes browsers drop the id, silently breaking resume.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeSseFrame } from '../../../src/realtime/sse.ts';

/** The frames a client reads from `text`, as the WHATWG event-stream parser interprets them. */
function parse(text: string): Array<{ event: string; data: string; id: string | undefined }> {
  const events: Array<{ event: string; data: string; id: string | undefined }> = [];
  let event = '';
  let data: string[] | undefined;
  let id: string | undefined;
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (data !== undefined) events.push({ event: event || 'message', data: data.join('\n'), id });
      event = '';
      data = undefined;
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') (data ??= []).push(value);
    else if (field === 'id' && !value.includes('\0')) id = value;
  }
  return events;
}

test('a frame: retry, event, id and each data line in order, ended by a blank line', () => {
  assert.equal(encodeSseFrame({ event: 'update', id: 42, data: '{"id":"msg-1"}' }), 'event: update\nid: 42\ndata: {"id":"msg-1"}\n\n');
  assert.equal(encodeSseFrame({ retry: 2000 }), 'retry: 2000\n\n');
  assert.equal(encodeSseFrame({ data: 'a\nb\r\nc\rd' }), 'data: a\ndata: b\ndata: c\ndata: d\n\n');
  assert.equal(encodeSseFrame({ data: '' }), 'data: \n\n');
});

test('a line break in event or id is refused (it would forge fields or frames), as are a NUL in id and a bad retry', () => {
  for (const bad of ['a\nb', 'a\rb', 'a\r\nb', '\n', 'x\n\ndata: forged']) {
    assert.throws(() => encodeSseFrame({ event: bad, data: '{}' }), /SSE event may not contain a line break/);
    assert.throws(() => encodeSseFrame({ id: bad, data: '{}' }), /SSE id may not contain a line break/);
  }
  assert.throws(() => encodeSseFrame({ id: 'a\0b' }), /NUL/);
  for (const retry of [-1, 1.5, Number.NaN]) assert.throws(() => encodeSseFrame({ retry }), /retry/);
});

test('any data reaches a client as it was sent, in one event: line breaks cannot end the frame early or add fields', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: 'binary' }),
      fc.string({ unit: 'binary' }).filter((s) => !/[\r\n\0]/.test(s)),
      (data, id) => {
        const events = parse(encodeSseFrame({ event: 'update', id, data }));
        assert.equal(events.length, 1);
        // The parser's view of line breaks: CR, LF and CRLF all become LF.
        assert.deepEqual(events[0], { event: 'update', data: data.replace(/\r\n|\r/g, '\n'), id });
      },
    ),
    { numRuns: 500 },
  );
});

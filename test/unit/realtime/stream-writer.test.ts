/**
 * One client's outgoing stream (src/realtime/stream-writer.ts): rounds go out as one write, a
 * socket that stops draining makes frames wait, and a wait past the bound (frames or bytes) cuts
 * the stream as a slow consumer, while a large round to a socket that still drains does not. The
 * sink is a stand-in for a Node response whose `write` says when the kernel buffer is full.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createStreamWriter, type CloseReason } from '../../../src/realtime/stream-writer.ts';

class FakeResponse extends EventEmitter {
  writes: string[] = [];
  full = false;
  ended = false;
  destroyed = false;
  get writableEnded() {
    return this.ended;
  }
  write(chunk: string | Uint8Array): boolean {
    this.writes.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return !this.full;
  }
  end() {
    this.ended = true;
  }
  destroy() {
    this.destroyed = true;
  }
  /** The kernel buffer emptied. */
  drain() {
    this.full = false;
    this.emit('drain');
  }
}

function writer(limits = { maxFrames: 3, maxBytes: 1000 }) {
  const sink = new FakeResponse();
  const closes: Array<[CloseReason, number]> = [];
  const w = createStreamWriter(sink, limits, (reason, dropped) => closes.push([reason, dropped]));
  return { sink, closes, w };
}

const shared = (text: string, count = 1) => ({ text, bytes: () => new TextEncoder().encode(text), count });

test('the frames of one round go out as one write at flush', () => {
  const { sink, w } = writer();
  w.send('a\n\n');
  w.send('b\n\n');
  assert.deepEqual(sink.writes, []);
  w.flush();
  assert.deepEqual(sink.writes, ['a\n\nb\n\n']);
  assert.equal(w.queued, 0);
});

test('a socket that stops draining makes frames wait; on drain they go out as one write', () => {
  const { sink, w, closes } = writer();
  sink.full = true;
  w.write('first\n\n'); // accepted by write(), but the buffer is now full
  w.send('x\n\n');
  w.send('y\n\n');
  w.flush();
  assert.deepEqual(sink.writes, ['first\n\n'], 'nothing written while blocked');
  assert.equal(w.queued, 2);
  sink.drain();
  assert.deepEqual(sink.writes, ['first\n\n', 'x\n\ny\n\n']);
  assert.deepEqual(closes, []);
});

test('past the frame bound while blocked: cut as a slow consumer (destroyed, not ended), with the frames it dropped', () => {
  const { sink, w, closes } = writer({ maxFrames: 3, maxBytes: 1_000_000 });
  sink.full = true;
  w.write('first\n\n');
  for (const f of ['1', '2', '3']) w.send(`${f}\n\n`);
  assert.equal(w.closed, false, 'at the bound is not past it');
  w.send('4\n\n');
  assert.equal(w.closed, true);
  assert.equal(sink.destroyed, true);
  assert.equal(sink.ended, false);
  assert.deepEqual(closes, [['slow', 4]]);
  w.send('after\n\n');
  sink.drain();
  assert.deepEqual(sink.writes, ['first\n\n'], 'nothing written after the cut');
});

test('past the byte bound while blocked: cut the same way', () => {
  const { sink, w, closes } = writer({ maxFrames: 1000, maxBytes: 10 });
  sink.full = true;
  w.write('first\n\n');
  w.send('12345\n');
  w.send('67890\n');
  assert.deepEqual(closes, [['slow', 2]]);
});

test('a round over the bound to a socket that still drains is written, not cut (one large commit is not a slow client)', () => {
  const { sink, w, closes } = writer({ maxFrames: 3, maxBytes: 1000 });
  for (let i = 0; i < 10; i++) w.send(`${i}\n\n`);
  w.flush(); // the end of the hub's round
  assert.equal(w.closed, false);
  assert.deepEqual(closes, []);
  assert.equal(sink.writes.join(''), Array.from({ length: 10 }, (_, i) => `${i}\n\n`).join(''));
});

test('a shared round is written as its bytes when nothing waits, queued behind what waits otherwise, under the same bound', () => {
  const { sink, w, closes } = writer({ maxFrames: 2, maxBytes: 1000 });
  w.sendShared(shared('s1\n\n'));
  assert.deepEqual(sink.writes, ['s1\n\n']);
  sink.full = true;
  w.write('w\n\n');
  w.sendShared(shared('s2\n\n'));
  w.sendShared(shared('s3\n\n'));
  assert.equal(w.queued, 2);
  w.sendShared(shared('s4\n\n'));
  assert.deepEqual(closes, [['slow', 3]]);
});

test('closing for shutdown or expiry ends the response once; drained() waiters are released', async () => {
  const { sink, w, closes } = writer();
  sink.full = true;
  w.write('x\n\n');
  const waiting = w.drained();
  w.close('shutdown');
  w.close('client');
  await waiting;
  assert.equal(sink.ended, true);
  assert.equal(sink.destroyed, false);
  assert.deepEqual(closes, [['shutdown', 0]]);
  assert.deepEqual(await Promise.race([w.drained().then(() => 'resolved'), new Promise((r) => setTimeout(r, 50, 'pending'))]), 'resolved');
});

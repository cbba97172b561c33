/**
 * The supervisor's switchboard (src/peers/switchboard.ts), driven as the supervisor drives it:
 * what each worker is sent when others join, set entries, die, ask, and reserve.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Switchboard, type Downward } from '../../../src/peers/switchboard.ts';

function board(now = () => 1_000) {
  const b = new Switchboard(now);
  const inbox = new Map<number, Downward[]>();
  const join = (id: number) => {
    inbox.set(id, []);
    b.join(id, (m) => inbox.get(id)!.push(m));
  };
  return { b, inbox, join, last: (id: number) => inbox.get(id)!.at(-1) };
}

test('a joining worker gets every entry set before it; the first to join runs the background jobs', () => {
  const { b, join, inbox } = board();
  join(1);
  b.receive(1, { tc: 'set', topic: 'streams', key: '10.0.0.1', value: 3 });
  join(2);
  const hello = inbox.get(2)![0]!;
  assert.deepEqual(hello, { tc: 'hello', self: 2, entries: [['streams', '10.0.0.1', 1, 3, false]], background: false });
  assert.equal((inbox.get(1)![0] as { background: boolean }).background, true);
});

test('a dead worker’s entries go (kept ones stay), everyone is told, and its background role passes on', () => {
  const { b, join, inbox, last } = board();
  join(1);
  join(2);
  b.receive(1, { tc: 'set', topic: 'streams', key: 'a', value: 1 });
  b.receive(1, { tc: 'set', topic: 'revoked', key: 'jti', value: 99, keepUntil: 5_000 });
  b.leave(1);
  assert.deepEqual(inbox.get(2)!.at(-2), { tc: 'gone', from: 1 });
  assert.deepEqual(last(2), { tc: 'role', background: true });
  join(3);
  assert.deepEqual((inbox.get(3)![0] as { entries: unknown[] }).entries, [['revoked', 'jti', 1, 99, true]]);
});

test('kept entries are dropped once their time has passed, and every worker is told', () => {
  let now = 1_000;
  const { b, join, inbox, last } = board(() => now);
  join(1);
  join(2);
  b.receive(1, { tc: 'set', topic: 'revoked', key: 'jti', value: 9, keepUntil: 2_000 });
  b.leave(1);
  b.dropExpired();
  join(3);
  assert.equal((inbox.get(3)![0] as { entries: unknown[] }).entries.length, 1, 'kept until its time');
  now = 3_000;
  b.dropExpired();
  assert.deepEqual(last(2), { tc: 'set', topic: 'revoked', key: 'jti', from: 1 });
  join(4);
  assert.deepEqual((inbox.get(4)![0] as { entries: unknown[] }).entries, []);
  b.close();
});

test('a gathering collects every live worker’s answer, and ends when a worker it waits for dies', () => {
  const { b, join, inbox, last } = board();
  join(1);
  join(2);
  b.receive(1, { tc: 'ask', id: 7, topic: 'admin', timeoutMs: 10_000 });
  const ask = last(2) as { tc: 'ask'; id: number };
  assert.equal(ask.tc, 'ask');
  b.receive(1, { tc: 'reply', id: ask.id, data: 'one' });
  assert.notEqual(last(1)?.tc, 'answers', 'still waiting for worker 2');
  b.leave(2);
  assert.deepEqual(last(1), { tc: 'answers', id: 7, list: ['one'] });
  b.close();
  assert.ok(inbox.get(1)!.length > 0);
});

test('reservations are counted across workers in one window, and a give-back returns one', () => {
  const { b, join, last } = board();
  join(1);
  join(2);
  b.receive(1, { tc: 'reserve', id: 1, key: 'login 1.2.3.4', limit: 2, windowMs: 60_000 });
  b.receive(2, { tc: 'reserve', id: 1, key: 'login 1.2.3.4', limit: 2, windowMs: 60_000 });
  b.receive(1, { tc: 'reserve', id: 2, key: 'login 1.2.3.4', limit: 2, windowMs: 60_000 });
  const refused = last(1) as { ok: boolean; window: number; retryAfterMs: number };
  assert.equal(refused.ok, false);
  assert.ok(refused.retryAfterMs > 0);
  b.receive(2, { tc: 'giveBack', key: 'login 1.2.3.4', window: refused.window });
  b.receive(1, { tc: 'reserve', id: 3, key: 'login 1.2.3.4', limit: 2, windowMs: 60_000 });
  assert.equal((last(1) as { ok: boolean }).ok, true);
  b.close();
});

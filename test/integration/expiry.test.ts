/**
 * `@table(expiration: s)` over HTTP with an injected clock: an expired record is gone from every
 * read at once, writes treat it as absent, and the sweep deletes it with a change-log `delete`
 * marked `expired: true` — from `sweepExpired()` and from the server's own timer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertError, serve } from '../helpers/fixtures.ts';

const SDL = `type Session @table(database: "logins", expiration: 60) @export(name: "session") {
  id: ID! @primaryKey
  user: String! @indexed
}
type Note @table(database: "logins") @export(name: "note") {
  id: ID! @primaryKey
}`;
const S = '/logins/session';

function clock(start = 1_800_000_000_000) {
  const c = { now: start, fn: () => c.now };
  return c;
}

test('an expired record disappears from GET, queries and writes at once, before any sweep', async (t) => {
  const c = clock();
  // A sweep interval far beyond the test: only reads decide here.
  const s = await serve(t, { 's.graphql': SDL }, { now: c.fn, expirySweepInterval: 3_600_000 });
  assert.equal((await s.req('POST', S, { id: 'a', user: 'ann' })).status, 201);
  c.now += 30_000;
  assert.equal((await s.req('POST', S, { id: 'b', user: 'ann' })).status, 201);
  await s.req('POST', '/logins/note', { id: 'n' });

  c.now += 29_999;
  assert.equal((await s.req('GET', `${S}/a`)).status, 200);
  c.now += 1; // a is 60 s old
  assertError(await s.req('GET', `${S}/a`), 404, 'NOT_FOUND', 'expired record');
  assert.deepEqual((await s.req('GET', `${S}?select(id)`)).body, ['b']);
  assert.deepEqual((await s.req('GET', `${S}?user=ann&select(id)`)).body, ['b'], 'also through the index');
  assertError(await s.req('PATCH', `${S}/a`, { user: 'x' }), 404, 'NOT_FOUND', 'patch expired');
  assertError(await s.req('DELETE', `${S}/a`), 404, 'NOT_FOUND', 'delete expired');
  const head = s.server.app.store.changeLog.head();
  assert.equal(head, 3, 'refused writes on an expired record logged nothing');

  // Writing the key again creates a fresh record with a fresh deadline.
  const again = await s.req('PUT', `${S}/a`, { user: 'again' });
  assert.equal(again.status, 201);
  c.now += 59_000;
  assert.equal((await s.req('GET', `${S}/a`)).body.user, 'again');
  // Tables without expiration keep their records.
  c.now += 10 * 86_400_000;
  assert.equal((await s.req('GET', '/logins/note/n')).status, 200);
});

test('the sweep deletes expired records through the change log with expired: true', async (t) => {
  const c = clock();
  const s = await serve(t, { 's.graphql': SDL }, { now: c.fn, expirySweepInterval: 3_600_000 });
  await s.req('POST', S, { id: 'a', user: 'ann' });
  await s.req('POST', S, { id: 'b', user: 'bob' });
  c.now += 10_000;
  const renewed = await s.req('PATCH', `${S}/b`, { user: 'bob2' }); // b now lives until +70 s
  assert.equal(renewed.status, 200);
  const log = s.server.app.store.changeLog;
  const head = log.head();

  c.now += 55_000; // a expired, b not
  assert.equal(await s.server.app.sweepExpired(), 1);
  const [entry, ...rest] = log.readAfter(head);
  assert.deepEqual(rest, []);
  assert.deepEqual(
    { op: entry!.op, key: entry!.key, expired: entry!.expired, table: entry!.table, prev: entry!.prev },
    { op: 'delete', key: 'a', expired: true, table: 'logins/Session', prev: { id: 'a', user: 'ann' } },
  );
  assert.equal(await s.server.app.sweepExpired(), 0);
  assert.equal((await s.req('GET', `${S}/b`)).status, 200);

  c.now += 5_000;
  assert.equal(await s.server.app.sweepExpired(), 1);
  assert.deepEqual((await s.req('GET', S)).body, []);
  assert.deepEqual(
    log
      .readAfter(0)
      .filter((e) => e.expired)
      .map((e) => e.key),
    ['a', 'b'],
  );
});

test("the server's timer sweeps on its own", async (t) => {
  const c = clock();
  const s = await serve(t, { 's.graphql': SDL }, { now: c.fn, expirySweepInterval: 10 });
  await s.req('POST', S, { id: 'gone', user: 'ann' });
  c.now += 61_000;
  // Wait for the timer (polling, no timing assertion): the delete entry appears.
  const log = s.server.app.store.changeLog;
  for (let i = 0; i < 500 && !log.readAfter(0).some((e) => e.expired); i++) await new Promise((r) => setTimeout(r, 10));
  const expired = log.readAfter(0).filter((e) => e.expired);
  assert.deepEqual(
    expired.map((e) => [e.op, e.key]),
    [['delete', 'gone']],
  );
  assert.equal(s.server.app.store.get(s.server.app.exported('logins', 'session')!.handle, 'gone'), undefined);
});

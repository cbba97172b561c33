/**
 * Expiration with an injected clock: an expired record disappears from reads at once, the sweep
 * deletes it through the normal delete path with a `delete` change entry marked `expired: true`,
 * and a write renews the deadline.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { parseQuery } from '../../../src/query/parse.ts';
import { tmpDir } from '../../helpers/server.ts';
import { clock, indexEntries, openStore } from './helpers.ts';

const SDL = `type Session @table(database: "auth", expiration: 60) @export {
  id: ID! @primaryKey
  user: String @indexed
}
type Keep @table(database: "auth") @export {
  id: ID! @primaryKey
}`;

test('an expired record is gone from get and search at once, before any sweep', async (t) => {
  const c = clock();
  const { store, handle } = openStore(t, SDL, { now: c });
  const s = handle('Session');
  await store.transact((tx) => tx.put(s, 'old', { id: 'old', user: 'ann' }));
  c.now += 30_000;
  await store.transact((tx) => tx.put(s, 'young', { id: 'young', user: 'ann' }));

  c.now += 29_999; // old is 59.999 s old
  assert.ok(store.get(s, 'old'));
  c.now += 1; // old is exactly 60 s old: expired
  assert.equal(store.get(s, 'old'), undefined);
  assert.ok(store.get(s, 'young'));
  for (const q of ['', 'user=ann', 'user=sw=a', 'id=old']) {
    const found = (await store.search(s, parseQuery(q, s.def))).map((r) => (r as { id: string }).id);
    assert.ok(!found.includes('old'), `search ${q || '(all)'} must not return the expired record`);
  }
  assert.deepEqual(await store.search(s, parseQuery('user=ann&select(id)', s.def)), ['young']);
  // Nothing was written yet: the record is still stored, just hidden.
  assert.equal(store.changeLog.head(), 2);
});

test('the sweep deletes expired records with a delete entry marked expired, and their index entries', async (t) => {
  const c = clock();
  const { store, handle } = openStore(t, SDL, { now: c });
  const s = handle('Session');
  await store.transact((tx) => {
    tx.put(s, 'a', { id: 'a', user: 'ann' });
    tx.put(s, 'b', { id: 'b', user: 'bob' });
  });
  c.now += 10_000;
  await store.transact((tx) => tx.put(s, 'c', { id: 'c', user: 'cid' }));

  assert.equal(await store.sweepExpired(), 0, 'nothing is due yet');
  c.now += 50_000; // a and b are 60 s old, c 50 s
  assert.equal(await store.sweepExpired(), 2);
  const deletes = store.changeLog.readAfter(3);
  assert.deepEqual(
    deletes.map((e) => ({ op: e.op, key: e.key, expired: e.expired, prev: e.prev, time: e.time })),
    [
      { op: 'delete', key: 'a', expired: true, prev: { id: 'a', user: 'ann' }, time: c.now },
      { op: 'delete', key: 'b', expired: true, prev: { id: 'b', user: 'bob' }, time: c.now },
    ],
  );
  assert.deepEqual(indexEntries(s, 'user'), [['cid', 'c']]);
  assert.equal(await store.sweepExpired(), 0, 'a second sweep finds nothing');
  assert.equal(store.changeLog.head(), 5);

  c.now += 10_000;
  assert.equal(await store.sweepExpired(), 1);
  assert.deepEqual(await store.search(s, parseQuery('', s.def)), []);
});

test('a write renews the deadline; a delete request on an expired record finds nothing', async (t) => {
  const c = clock();
  const { store, handle } = openStore(t, SDL, { now: c });
  const s = handle('Session');
  await store.transact((tx) => tx.put(s, 'r', { id: 'r', user: 'ann' }));
  c.now += 50_000;
  await store.transact((tx) => tx.put(s, 'r', { id: 'r', user: 'ann2' })); // renewed until +110 s
  c.now += 20_000;
  assert.equal(await store.sweepExpired(), 0);
  assert.equal(store.get(s, 'r')?.record.user, 'ann2');

  c.now += 40_000; // expired now
  // Deleting or replacing an expired, unswept record treats it as absent.
  assert.equal(await store.transact((tx) => tx.remove(s, 'r')), undefined);
  const again = await store.transact((tx) => tx.put(s, 'r', { id: 'r', user: 'new' }));
  assert.equal(again.created, true);
  assert.equal(again.entry.prev, undefined, 'an expired record is not the previous value of a create');
  // The old deadline must not delete the new record.
  assert.equal(await store.sweepExpired(), 0);
  assert.equal(store.get(s, 'r')?.record.user, 'new');
});

test('tables without expiration never expire', async (t) => {
  const c = clock();
  const { store, handle } = openStore(t, SDL, { now: c });
  const k = handle('Keep');
  await store.transact((tx) => tx.put(k, 'k', { id: 'k' }));
  c.now += 10 * 365 * 86_400_000;
  assert.ok(store.get(k, 'k'));
  assert.equal(await store.sweepExpired(), 0);
});

test('deadlines left behind by a schema that dropped expiration do not block the sweep of other tables', async (t) => {
  const dir = tmpDir('tablecast-store-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const c = clock();
  const before = `type Short @table(expiration: 1) @export { id: ID! @primaryKey }
type Lasting @table(expiration: 100) @export { id: ID! @primaryKey }`;
  const v1 = openStore(t, before, { dir, now: c });
  const short = v1.handle('Short');
  await v1.store.transact((tx) => {
    for (let i = 0; i < 30; i++) tx.put(short, `s${i}`, { id: `s${i}` });
  });
  await v1.store.close();

  // Short no longer expires; its 30 old deadlines are due first in the queue.
  const after = `type Short @table @export { id: ID! @primaryKey }
type Lasting @table(expiration: 100) @export { id: ID! @primaryKey }`;
  c.now += 10_000;
  const v2 = openStore(t, after, { dir, now: c });
  const long = v2.handle('Lasting');
  await v2.store.transact((tx) => tx.put(long, 'l', { id: 'l' }));
  c.now += 100_000;
  // A sweep that reads at most 10 due deadlines at a time still gets to Lasting's record.
  let swept = 0;
  for (let i = 0; i < 5 && swept === 0; i++) swept = await v2.store.sweepExpired(10);
  assert.equal(swept, 1);
  assert.equal(v2.store.get(long, 'l'), undefined);
  // Short's records are kept: the table does not expire any more.
  assert.ok(v2.store.get(v2.handle('Short'), 's0'));
});

/**
 * Passwords changed at run time, as the store keeps them: each change counts one generation on,
 * writes no change entry (no event), is refused over a generation other than the one checked, survives reopening, and travels in a node's snapshot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SnapshotRow } from '../../../src/store/store.ts';
import { clock, openStore } from './helpers.ts';

const SDL = 'type Note @table(database: "n") { id: ID! @primaryKey  text: String }';

test('a changed password: generations count on, no change entry, kept across a reopen and in snapshots', async (t) => {
  const c = clock();
  const a = openStore(t, SDL, { now: c });
  assert.equal(a.store.credential('ann'), undefined);
  const first = await a.store.setCredential('ann', { hash: 'scrypt$h1', base: 'scrypt$config', expect: 0 });
  assert.deepEqual(first, { hash: 'scrypt$h1', base: 'scrypt$config', generation: 1, changedAt: c.now });
  const second = await a.store.setCredential('ann', { hash: 'scrypt$h2', base: 'scrypt$config', expect: 1 }, { position: 7 });
  assert.equal(second.generation, 2);
  // A change checked against generation 1 comes second: refused, nothing written.
  await assert.rejects(a.store.setCredential('ann', { hash: 'scrypt$late', base: 'scrypt$config', expect: 1 }), (e: { code?: string }) => e.code === 'CONFLICT');
  assert.deepEqual(a.store.credential('ann'), second);
  assert.equal(a.store.changeLog.head(), 0, 'no change entry: nothing for streams');
  assert.equal(a.store.logPosition(), 7, 'a cluster node records the log position with it');

  const rows: SnapshotRow[] = [];
  await a.store.exportRows((batch) => void rows.push(...batch));
  await a.store.close();
  const reopened = openStore(t, SDL, { dir: a.dir });
  assert.deepEqual(reopened.store.credential('ann'), second, 'kept on disk');

  const joining = openStore(t, SDL);
  await joining.store.importRows(rows);
  assert.deepEqual(joining.store.credential('ann'), second, 'a node restored from a snapshot has it');
});

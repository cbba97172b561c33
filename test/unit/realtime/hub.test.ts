/**
 * The hub's rounds (src/realtime/hub.ts) over a real LMDB store: the changes of one commit reach a
 * subscriber in commit order and in one round (one flush, for one socket write), plain table
 * streams get each round as one shared chunk, and a commit larger than a round (2,000 entries) is
 * spread over several turns of the event loop instead of holding it, still in order and complete.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHub, type SharedChunk } from '../../../src/realtime/hub.ts';
import type { HubEvent } from '../../../src/realtime/events.ts';
import { openStore } from '../store/helpers.ts';

const SDL = `type Message @table(database: "d") @export { id: ID! @primaryKey title: String }`;

const settle = (ms = 20) => new Promise((r) => setTimeout(r, ms));

/** A store with a hub over it (both closed after the test), and a commit of `n` new messages. */
function hubOn(t: TestContext) {
  const { store, handle } = openStore(t, SDL);
  const hub = createHub(store, { retention: 60_000 });
  t.after(() => hub.close());
  const m = handle('Message');
  const commit = (n: number) =>
    store.transact((tx) => {
      for (let i = 0; i < n; i++) tx.put(m, `m${i}`, { id: `m${i}`, title: `t${i}` });
    });
  return { store, hub, table: m.id, commit };
}

test('one commit of several changes: delivered in commit order, then one flush', async (t) => {
  const { store, hub, table, commit } = hubOn(t);
  const seen: Array<number | 'flush'> = [];
  hub.subscribe({ table, after: store.changeLog.head(), deliver: (e: HubEvent) => seen.push(e.seq), flush: () => seen.push('flush') });
  await commit(5);
  await settle();
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 'flush']);
});

test('a plain table stream gets the round as one shared chunk of every frame, in order', async (t) => {
  const { store, hub, table, commit } = hubOn(t);
  const chunks: SharedChunk[] = [];
  hub.subscribe({ table, after: store.changeLog.head(), deliver: () => assert.fail('plain streams take shared chunks'), deliverShared: (c) => chunks.push(c) });
  await commit(3);
  await settle();
  assert.equal(chunks.length, 1);
  assert.equal(chunks[0]!.count, 3);
  assert.deepEqual(
    [...chunks[0]!.text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1])),
    [1, 2, 3],
  );
  assert.equal(chunks[0]!.bytes(), chunks[0]!.bytes(), 'encoded once, the same bytes for every socket');
});

test('a commit of 5,000 changes is fanned out over several rounds (turns), in order, none lost', async (t) => {
  const { store, hub, table, commit } = hubOn(t);
  const seqs: number[] = [];
  let flushes = 0;
  hub.subscribe({ table, after: store.changeLog.head(), deliver: (e) => seqs.push(e.seq), flush: () => flushes++ });
  await commit(5000);
  for (let i = 0; i < 100 && seqs.length < 5000; i++) await settle(10);
  assert.equal(seqs.length, 5000);
  assert.ok(
    seqs.every((s, i) => s === i + 1),
    'in commit order, no gap, no repeat',
  );
  assert.ok(flushes >= 3, `5,000 entries in rounds of at most 2,000: ${flushes} round(s)`);
});

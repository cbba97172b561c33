/**
 * The hub's rounds (src/realtime/hub.ts) over a real LMDB store: the changes of one commit reach a
 * subscriber in commit order and in one round (one flush, for one socket write), plain table
 * streams get each round as one shared chunk, and a commit larger than a round (2,000 entries) is
 * spread over several turns of the event loop instead of holding it, still in order and complete.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHub, type SharedChunk } from '../../../src/realtime/hub.ts';
import type { HubEvent } from '../../../src/realtime/events.ts';
import { openStore } from '../store/helpers.ts';

const SDL = `type Message @table(database: "d") @export { id: ID! @primaryKey title: String }`;

const settle = (ms = 20) => new Promise((r) => setTimeout(r, ms));

test('one commit of several changes: delivered in commit order, then one flush', async (t) => {
  const { store, handle } = openStore(t, SDL);
  const hub = createHub(store, { retention: 60_000 });
  t.after(() => hub.close());
  const m = handle('Message');
  const seen: Array<number | 'flush'> = [];
  hub.subscribe({ table: m.id, after: store.changeLog.head(), deliver: (e: HubEvent) => seen.push(e.seq), flush: () => seen.push('flush') });
  await store.transact((tx) => {
    for (let i = 0; i < 5; i++) tx.put(m, `m${i}`, { id: `m${i}`, title: `t${i}` });
  });
  await settle();
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 'flush']);
});

test('a plain table stream gets the round as one shared chunk of every frame, in order', async (t) => {
  const { store, handle } = openStore(t, SDL);
  const hub = createHub(store, { retention: 60_000 });
  t.after(() => hub.close());
  const m = handle('Message');
  const chunks: SharedChunk[] = [];
  hub.subscribe({ table: m.id, after: store.changeLog.head(), deliver: () => assert.fail('plain streams take shared chunks'), deliverShared: (c) => chunks.push(c) });
  await store.transact((tx) => {
    for (let i = 0; i < 3; i++) tx.put(m, `m${i}`, { id: `m${i}`, title: `t${i}` });
  });
  await settle();
  assert.equal(chunks.length, 1);
  assert.equal(chunks[0]!.count, 3);
  assert.deepEqual([...chunks[0]!.text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1])), [1, 2, 3]);
  assert.equal(chunks[0]!.bytes(), chunks[0]!.bytes(), 'encoded once, the same bytes for every socket');
});

test('a commit of 5,000 changes is fanned out over several rounds (turns), in order, none lost', async (t) => {
  const { store, handle } = openStore(t, SDL);
  const hub = createHub(store, { retention: 60_000 });
  t.after(() => hub.close());
  const m = handle('Message');
  const seqs: number[] = [];
  let flushes = 0;
  hub.subscribe({ table: m.id, after: store.changeLog.head(), deliver: (e) => seqs.push(e.seq), flush: () => flushes++ });
  await store.transact((tx) => {
    for (let i = 0; i < 5000; i++) tx.put(m, `m${i}`, { id: `m${i}` });
  });
  for (let i = 0; i < 100 && seqs.length < 5000; i++) await settle(10);
  assert.equal(seqs.length, 5000);
  assert.ok(seqs.every((s, i) => s === i + 1), 'in commit order, no gap, no repeat');
  assert.ok(flushes >= 3, `5,000 entries in rounds of at most 2,000: ${flushes} round(s)`);
});

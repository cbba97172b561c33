/**
 * A hub over a log that another writer appends to (`--workers`: another process; here another
 * store instance on the same LMDB directory, whose commits this hub's store never announces). The
 * hub learns of them only by `wake(head)` (the other process's wake-up) or by its own poll of the
 * head (when a wake-up did not come), and then delivers from the shared log, in order. Without
 * either it delivers nothing: the control case shows the two paths are what deliver.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHub, type HubOptions } from '../../../src/realtime/hub.ts';
import type { HubEvent } from '../../../src/realtime/events.ts';
import { openStore } from '../store/helpers.ts';

const SDL = `type Message @table(database: "d") @export { id: ID! @primaryKey title: String }`;
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

function twoWriters(t: TestContext, hubOptions: Partial<HubOptions>) {
  const writer = openStore(t, SDL);
  const reader = openStore(t, SDL, { dir: writer.dir });
  const hub = createHub(reader.store, { retention: 60_000, ...hubOptions });
  t.after(() => hub.close());
  const m = writer.handle('Message');
  const seen: number[] = [];
  hub.subscribe({ table: m.id, after: reader.store.changeLog.head(), deliver: (e: HubEvent) => seen.push(e.seq) });
  const commit = (n: number) =>
    writer.store.transact((tx) => {
      for (let i = 0; i < n; i++) tx.put(m, `m${i}-${Math.random()}`, { id: `m${i}`, title: `t${i}` });
    });
  return { hub, seen, commit, writer };
}

test('another writer’s commits reach the hub by wake(head), in order, read from the shared log', async (t) => {
  const { hub, seen, commit, writer } = twoWriters(t, {});
  await commit(3);
  hub.wake(writer.store.changeLog.head());
  await settle(30);
  assert.deepEqual(seen, [1, 2, 3]);
  await commit(2);
  hub.wake(writer.store.changeLog.head());
  await settle(30);
  assert.deepEqual(seen, [1, 2, 3, 4, 5]);
});

test('a wake-up that never comes: the poll of the head delivers within its interval', async (t) => {
  const { seen, commit } = twoWriters(t, { pollInterval: 40 });
  await commit(4);
  await settle(200);
  assert.deepEqual(seen, [1, 2, 3, 4]);
});

test('control: neither a wake-up nor a poll, and nothing is delivered', async (t) => {
  const { seen, commit } = twoWriters(t, {});
  await commit(4);
  await settle(200);
  assert.deepEqual(seen, []);
});

test('onActive tells when the hub gets its first subscriber and loses its last', async (t) => {
  const { store, handle } = openStore(t, SDL);
  const calls: boolean[] = [];
  const hub = createHub(store, { retention: 60_000, onActive: (a) => calls.push(a) });
  t.after(() => hub.close());
  const table = handle('Message').id;
  const off1 = hub.subscribe({ table, after: 0, deliver() {} });
  const off2 = hub.subscribe({ table, after: 0, deliver() {} });
  off1();
  off2();
  assert.deepEqual(calls, [true, false]);
});

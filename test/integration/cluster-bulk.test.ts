/**
 * Bulk create on a cluster (SPEC §10, README › Cluster): two tablecast nodes on a real three-server
 * JetStream cluster (R3). A bulk of N records takes N consecutive entries of the log and is applied
 * in one transaction on every node, with the same change ids; a refused bulk writes nothing
 * anywhere; bulks from two nodes at once with single writes between them are each applied once,
 * whole, or refused with 503, never in part.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { MESSAGE_SDL, schemaDir, type TestServer } from '../helpers/server.ts';
import { json, openSse } from '../helpers/sse.ts';
import { clusterNodes, settled } from '../helpers/cluster-nodes.ts';

const COUNTER_SDL = `type Counter @table(database: "c") @export(name: "counter") {
  id: Int! @primaryKey
  name: String!
}
`;
const M = '/realtime-demo/message';

/** Every record of a collection on a node with its version (the change id of its write). */
async function versions(node: TestServer, path: string): Promise<Array<[string, string]>> {
  const list = await node.req('GET', `${path}/`);
  const out: Array<[string, string]> = [];
  for (const r of list.body as Array<{ id: string | number }>) {
    const one = await node.req('GET', `${path}/${r.id}`);
    out.push([String(r.id), String(one.headers.etag)]);
  }
  return out;
}

describe('bulk create on a cluster of two nodes', { timeout: 240_000 }, () => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL, 'counter.graphql': COUNTER_SDL });
  const cluster = clusterNodes(schemas, 'bulk');
  const startNodes = async (timeout = 10_000) => (await cluster.start(2, timeout)) as [TestServer, TestServer];
  const stopNodes = () => cluster.stop();
  after(() => rmSync(schemas, { recursive: true, force: true }));

  test('a bulk on node A is 201 with every record; node B streams N updates with ids S…S+N-1, resumes exactly, and holds the same records at the same versions', async () => {
    const [a, b] = await startNodes();
    try {
      const first = await a.req('PUT', `${M}/before`, { title: 'before', content: 'x' });
      assert.equal(first.status, 201, first.text);
      const sb = await openSse(`${b.url}${M}?stream=sse&retained=false`);
      await sb.next(2); // retry hint, connected
      const records = Array.from({ length: 50 }, (_, i) => ({ id: `k${String(i).padStart(2, '0')}`, title: `t${i}`, content: 'bulk' }));
      const res = await a.req('POST', M, records);
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.length, 50);
      assert.deepEqual(
        res.body.map((r: { id: string }) => r.id),
        records.map((r) => r.id),
      );
      const frames = await sb.next(50);
      assert.ok(frames.every((f) => f.event === 'update'));
      const ids = frames.map((f) => Number(f.id));
      assert.deepEqual(
        frames.map((f) => json(f).id),
        records.map((r) => r.id),
        'one update per record, in the array order',
      );
      for (let i = 1; i < ids.length; i++) assert.equal(ids[i], ids[0]! + i, 'consecutive change ids');
      assert.ok(ids[0]! > Number(String(first.headers.etag).replaceAll('"', '')), 'after the write before');
      sb.close();
      // Resumed on node B from the 20th: exactly the 30 after it.
      const resumed = await openSse(`${b.url}${M}?stream=sse`, { headers: { 'last-event-id': String(ids[19]) } });
      const again = (await resumed.next(32)).filter((f) => f.event === 'update');
      assert.deepEqual(
        again.map((f) => Number(f.id)),
        ids.slice(20),
      );
      resumed.close();
      const onB = await settled(
        () => versions(b, M),
        (v) => v.length === 51,
      );
      assert.deepEqual(onB, await versions(a, M), 'the same records at the same versions on both nodes');
      // Integer keys are counted where applied, alike on both nodes.
      const counted = await b.req('POST', '/c/counter', [{ name: 'x' }, { name: 'y' }, { name: 'z' }]);
      assert.equal(counted.status, 201, counted.text);
      assert.deepEqual(
        counted.body.map((r: { id: number }) => r.id),
        [1, 2, 3],
      );
      const onA = await settled(
        () => versions(a, '/c/counter'),
        (v) => v.length === 3,
      );
      assert.deepEqual(onA, await versions(b, '/c/counter'));
    } finally {
      await stopNodes();
    }
  });

  test('a refused bulk (a taken key at index 2) writes nothing on either node, and the next write goes on', async () => {
    const [a, b] = await startNodes();
    try {
      assert.equal((await b.req('PUT', `${M}/taken`, { title: 'mine', content: 'x' })).status, 201);
      await settled(
        () => a.req('GET', `${M}/taken`),
        (r) => r.status === 200,
      );
      const res = await a.req('POST', M, [
        { id: 'r0', title: 'a', content: 'x' },
        { id: 'r1', title: 'b', content: 'x' },
        { id: 'taken', title: 'c', content: 'x' },
        { id: 'r3', title: 'd', content: 'x' },
      ]);
      assert.equal(res.status, 409, res.text);
      assert.equal(res.body.code, 'CONFLICT');
      assert.match(res.body.message, /record 2/);
      const after = await b.req('PUT', `${M}/after`, { title: 'after', content: 'x' });
      assert.equal(after.status, 201);
      for (const n of [a, b]) {
        const list = await settled(
          () => n.req('GET', `${M}/`),
          (r) => r.body.length === 2,
        );
        assert.deepEqual(list.body.map((r: { id: string }) => r.id).sort(), ['after', 'taken'], 'nothing of the refused bulk');
      }
    } finally {
      await stopNodes();
    }
  });

  test('bulks from both nodes at once, with single writes between them, are each applied once and whole, or refused with 503', async () => {
    const [a, b] = await startNodes(20_000);
    try {
      const sa = await openSse(`${a.url}${M}?stream=sse&retained=false`);
      await sa.next(2);
      const bulks: Array<Promise<{ status: number; text: string }>> = [];
      const singles: Array<Promise<{ status: number; text: string }>> = [];
      for (let n = 0; n < 6; n++) {
        const node = n % 2 === 0 ? a : b;
        bulks.push(
          node.req(
            'POST',
            M,
            Array.from({ length: 120 }, (_, i) => ({ id: `b${n}-${i}`, title: `${n}`, content: 'bulk' })),
          ),
        );
        for (let i = 0; i < 10; i++) singles.push((i % 2 === 0 ? b : a).req('PUT', `${M}/s${n}-${i}`, { title: 'single', content: 'x' }));
      }
      const bulkAnswers = await Promise.all(bulks);
      for (const r of await Promise.all(singles)) assert.equal(r.status, 201, r.text);
      const applied: number[] = [];
      bulkAnswers.forEach((r, n) => {
        assert.ok(r.status === 201 || r.status === 503, `bulk ${n}: ${r.status} ${r.text}`);
        if (r.status === 201) applied.push(n);
      });
      assert.ok(applied.length > 0, 'some bulk was applied');
      const expected = 60 + applied.length * 120;
      const lists = await Promise.all(
        [a, b].map((n) =>
          settled(
            () => versions(n, M),
            (v) => v.length === expected,
          ),
        ),
      );
      assert.equal(lists[0]!.length, expected);
      assert.deepEqual(lists[1], lists[0], 'the same records at the same versions on both nodes');
      for (let n = 0; n < 6; n++) {
        const held = lists[0]!.filter(([id]) => id.startsWith(`b${n}-`)).length;
        assert.equal(held, applied.includes(n) ? 120 : 0, `bulk ${n} whole or not at all`);
      }
      // Every applied bulk's events are consecutive ids on the stream, and every write is there once.
      const frames = await sa.next(expected, 30_000);
      sa.close();
      assert.equal(new Set(frames.map((f) => json(f).id)).size, expected);
      for (const n of applied) {
        const ids = frames.filter((f) => String(json(f).id).startsWith(`b${n}-`)).map((f) => Number(f.id));
        for (let i = 1; i < ids.length; i++) assert.equal(ids[i], ids[0]! + i, `bulk ${n} has consecutive ids`);
      }
    } finally {
      await stopNodes();
    }
  });
});

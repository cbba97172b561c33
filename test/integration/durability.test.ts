/**
 * SPEC §8: a 2xx write is committed with its change-log entry and survives `kill -9` of the
 * server process, tested with the real CLI in a child process under concurrent writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { parseSchema } from '../../src/schema/parse.ts';
import { createStore } from '../../src/store/store.ts';
import { startChild } from '../helpers/child.ts';
import { MESSAGE_SDL, httpRequest, schemaDir, tmpDir } from '../helpers/server.ts';

test('every acknowledged write and its change entry survive kill -9 during concurrent writes', async (t) => {
  const data = tmpDir();
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  t.after(() => {
    rmSync(data, { recursive: true, force: true });
    rmSync(schemas, { recursive: true, force: true });
  });
  for (const durability of ['commit', 'sync']) {
    const child = await startChild(['--no-tls', '--data', data, '--schemas', schemas, '--durability', durability]);
    const acked: string[] = [];
    let stop = false;
    // 8 writers in parallel, each writing until the kill; the kill lands while requests are in flight.
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const id = `${durability}-${w}-${i}`;
        try {
          const res = await httpRequest(`${child.url}/realtime-demo/message`, 'POST', { id, title: 't', content: String(i) });
          if (res.status === 201) acked.push(id);
        } catch {
          return; // connection reset by the kill
        }
      }
    });
    // Kill once enough writes were acknowledged (bounded wait: a loaded machine is slower, not wrong).
    for (let waited = 0; acked.length < 40 && waited < 15_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    child.proc.kill('SIGKILL');
    stop = true;
    assert.equal(await child.exited, 'SIGKILL');
    await Promise.all(writers);
    assert.ok(acked.length > 20, `expected writes to be acknowledged before the kill, got ${acked.length}`);

    // Restart the real server on the same data: every acknowledged record is served.
    const again = await startChild(['--no-tls', '--data', data, '--schemas', schemas]);
    try {
      const list = await httpRequest(`${again.url}/realtime-demo/message?id=sw=${durability}-`);
      assert.equal(list.status, 200);
      const stored = new Set((list.body as Array<{ id: string }>).map((r) => r.id));
      const missing = acked.filter((id) => !stored.has(id));
      assert.deepEqual(missing, [], `${missing.length} acknowledged writes lost (${durability})`);
    } finally {
      again.proc.kill('SIGTERM');
      await again.exited;
    }

    // The change log holds an update entry for each acknowledged record, in one gap-free sequence.
    const store = createStore({ dataDir: data, tables: parseSchema([{ file: 'message.graphql', sdl: MESSAGE_SDL }]).tables });
    try {
      const entries = store.changeLog.readAfter(0);
      const logged = new Set(entries.filter((e) => e.op === 'update').map((e) => e.key));
      assert.deepEqual(
        acked.filter((id) => !logged.has(id)),
        [],
      );
      entries.forEach((e, i) => {
        assert.equal(e.seq, i + 1, 'sequence numbers are gap-free');
      });
      assert.equal(store.changeLog.head(), entries.length);
    } finally {
      await store.close();
    }
  }
});

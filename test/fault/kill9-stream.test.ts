/**
 * Issue #5, point 5: `kill -9` of the real CLI during concurrent writes while an SSE stream is open.
 * After a restart on the same data directory and port, the client resumes with `Last-Event-ID` and,
 * counting what it got before the kill, receives every change exactly once: ids strictly
 * increasing, gap-free from 1 to the change-log head, every acknowledged write among them, each
 * event's record the one the change log holds.
 * One process (`--workers 1`): this is the crash of the process that holds the store; a worker
 * killed under its supervisor is test/integration/workers.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Agent, request } from 'undici';
import { parseSchema } from '../../src/schema/parse.ts';
import { createStore } from '../../src/store/store.ts';
import { startChild, type Child } from '../helpers/child.ts';
import { MESSAGE_SDL, schemaDir, tmpDir } from '../helpers/server.ts';
import { eventually, json, openSse, type Frame } from '../helpers/sse.ts';

const M = '/realtime-demo/message';

/** POSTs one message; true when the server acknowledged it (201). */
async function post(agent: Agent, url: string, id: string): Promise<boolean> {
  const res = await request(`${url}${M}`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, title: 'kill -9', content: id }),
  });
  await res.body.text();
  return res.statusCode === 201;
}

const updates = (frames: readonly Frame[]): Frame[] => frames.filter((f) => f.event === 'update');

test('kill -9 during concurrent writes: a stream resumed with Last-Event-ID after the restart misses nothing and repeats nothing', { timeout: 90_000 }, async (t) => {
  const data = tmpDir();
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const children: Child[] = [];
  const agents: Agent[] = [];
  t.after(async () => {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    for (const c of children) await c.exited;
    for (const a of agents) await a.destroy();
    rmSync(data, { recursive: true, force: true });
    rmSync(schemas, { recursive: true, force: true });
  });

  const first = await startChild(['--workers', '1', '--no-tls', '--data', data, '--schemas', schemas]);
  children.push(first);
  const port = new URL(first.url).port;
  const agent = new Agent({ connections: 16, headersTimeout: 20_000, bodyTimeout: 20_000 });
  const streamAgent = new Agent({ connections: 2 });
  agents.push(agent, streamAgent);

  // Stream A stays open until the kill; stream B's client leaves early (its events must come back
  // from the change log on disk, after the restart).
  const open = () => openSse(`${first.url}${M}?stream=sse`, { agent: streamAgent, timeoutMs: 10_000 });
  const streamA = await open();
  const streamB = await open();
  for (const s of [streamA, streamB]) {
    assert.equal(s.status, 200);
    await s.until((f) => f.event === 'message' && json(f).type === 'connected');
  }

  // 8 writers, each bounded in count; the kill lands while their requests are in flight.
  const acked: string[] = [];
  let stop = false;
  const writers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; i < 5_000 && !stop; i++) {
      const id = `w${w}-${i}`;
      try {
        if (await post(agent, first.url, id)) acked.push(id);
      } catch {
        return; // the connection died with the server
      }
    }
  });
  await eventually(() => updates(streamB.frames).length >= 100, `stream B received updates (${updates(streamB.frames).length})`, 30_000);
  streamB.close();
  const leftAt = acked.length;
  // Enough acknowledged writes after B left, and A receiving them live, before the kill.
  await eventually(
    () => acked.length >= leftAt + 300 && updates(streamA.frames).length >= leftAt + 100,
    `writes acknowledged (${acked.length}) and streamed (${updates(streamA.frames).length})`,
    30_000,
  );
  first.proc.kill('SIGKILL');
  assert.equal(await first.exited, 'SIGKILL');
  stop = true;
  await Promise.all(writers);
  await Promise.race([streamA.ended, new Promise((r) => setTimeout(r, 5_000).unref())]);
  assert.ok(streamA.isEnded, 'the open stream ended with the server');
  const ackedBeforeKill = acked.length;

  // Restart on the same data directory and port; both clients resume where their stream stopped.
  const second = await startChild(['--workers', '1', '--no-tls', '--data', data, '--schemas', schemas, '--port', port]);
  children.push(second);
  assert.equal(new URL(second.url).port, port, 'the restarted server listens on the same port');
  const agent2 = new Agent({ connections: 4, headersTimeout: 20_000, bodyTimeout: 20_000 });
  const streamAgent2 = new Agent({ connections: 2 });
  agents.push(agent2, streamAgent2);
  const clients = [
    { name: 'A (open at the kill)', before: updates(streamA.frames) },
    { name: 'B (left before the kill)', before: updates(streamB.frames) },
  ].map((c) => ({ ...c, lastId: c.before.at(-1)!.id! }));
  const resumed = await Promise.all(clients.map((c) => openSse(`${second.url}${M}?stream=sse`, { agent: streamAgent2, headers: { 'last-event-id': c.lastId }, timeoutMs: 10_000 })));
  // Live again: writes after the restart arrive on the resumed streams, after the replay.
  const later = Array.from({ length: 5 }, (_, i) => `after-${i}`);
  for (const id of later) assert.ok(await post(agent2, second.url, id), `write ${id} after the restart`);
  acked.push(...later);
  for (const r of resumed) {
    assert.equal(r.status, 200);
    await r.until((f) => f.event === 'update' && json(f).id === later.at(-1), 20_000);
    r.close();
    assert.equal(r.frames.filter((f) => f.event === 'reset').length, 0, 'a resume within the log sends no reset');
    assert.equal(r.frames.filter((f) => f.event === 'message' && f.id !== undefined).length, 0, 'a resumed stream sends no retained data');
  }

  second.proc.kill('SIGTERM');
  assert.equal(await second.exited, 0);

  // Compare what each client saw with the change log on disk.
  const store = createStore({ dataDir: data, tables: parseSchema([{ file: 'message.graphql', sdl: MESSAGE_SDL }]).tables });
  try {
    const log = store.changeLog.readAfter(0);
    const head = store.changeLog.head();
    assert.equal(log.length, head, 'the change log is gap-free');
    clients.forEach((c, n) => {
      const received = [...c.before, ...updates(resumed[n]!.frames)];
      const ids = received.map((f) => Number(f.id));
      for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `${c.name}: ids strictly increase: ${ids[i - 1]} then ${ids[i]}`);
      assert.deepEqual(
        ids,
        Array.from({ length: head }, (_, i) => i + 1),
        `${c.name}: every change, 1 to the head, once each`,
      );
      received.forEach((frame, i) => {
        const entry = log[i]!;
        assert.equal(entry.op, 'update');
        assert.deepEqual(json(frame), entry.value, `${c.name}: event ${frame.id} carries the record the change log holds`);
      });
      const seen = received.map((f) => json(f).id as string);
      assert.equal(new Set(seen).size, seen.length, `${c.name}: no record event was delivered twice`);
      const missing = acked.filter((id) => !seen.includes(id));
      assert.deepEqual(missing, [], `${c.name}: ${missing.length} acknowledged writes never reached the client`);
    });
    // Stream B's resume replayed the writes made while it was away, from disk.
    assert.ok(head - Number(clients[1]!.lastId) >= 300, `stream B replayed what it missed (${head - Number(clients[1]!.lastId)} events)`);
    t.diagnostic(`${ackedBeforeKill} writes acknowledged before the kill; after the restart A got ${head - Number(clients[0]!.lastId)} events, B ${head - Number(clients[1]!.lastId)}`);
  } finally {
    await store.close();
  }
});

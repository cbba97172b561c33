/**
 * Issue #14: the real CLI with `--workers 2`. Each stream and request below goes over its own new
 * connection, which the supervisor hands to the workers in turn, and `/admin/connections` shows that
 * both workers hold streams: what one worker commits reaches the other's streams, with the same ids,
 * and a client that reconnects (to the other worker) resumes exactly. Limits, logins, revocation
 * and operations pages are the server's, a worker killed with -9 is replaced with nothing
 * acknowledged lost, and SIGTERM to the supervisor drains every worker and exits 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { parseSchema } from '../../src/schema/parse.ts';
import { createStore } from '../../src/store/store.ts';
import { hashPassword } from '../../src/auth/password.ts';
import { waitGone } from '../helpers/child.ts';
import { MESSAGE_SDL, tmpDir } from '../helpers/server.ts';
import { eventually, type SseStream } from '../helpers/sse.ts';
import { startWorkers, workerPids } from '../helpers/workers.ts';

const M = '/realtime-demo/message';

const ids = (s: SseStream) => s.frames.filter((f) => f.event === 'update').map((f) => Number(f.id));

test('--workers 2: every stream on either worker gets every write in commit order with the same ids, and resumes on the other worker exactly', { timeout: 120_000 }, async (t) => {
  const c = await startWorkers(t);
  const streams: SseStream[] = [];
  for (let i = 0; i < 6; i++) streams.push(await c.stream(`${M}?stream=sse`));
  for (const s of streams) assert.equal(s.status, 200);
  assert.equal(
    c.child
      .output()
      .split('\n')
      .filter((l) => l.includes('no auth configured')).length,
    1,
    'the open-server warning, once per server',
  );
  assert.deepEqual(new Set(streams.map((s) => s.headers['x-tablecast-worker'])).size, 2, 'each stream names its worker, and there are two');
  const healths = await Promise.all([c.fresh('/health'), c.fresh('/health')]);
  for (const h of healths) assert.equal(typeof h.body.worker, 'number', JSON.stringify(h.body));
  const admin = await c.fresh('/admin/connections');
  assert.equal(admin.body.workers, 2, JSON.stringify(admin.body));
  assert.equal(admin.body.streams.open, 6, 'the server counts the streams of both workers');
  assert.ok(
    admin.body.byWorker.every((w: { streams: number }) => w.streams > 0),
    `both workers hold streams: ${JSON.stringify(admin.body.byWorker)}`,
  );

  // Writes from new connections: both workers commit some of them.
  const acked: number[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await c.fresh(M, { method: 'POST', body: { id: `w${i}`, title: `t${i}`, content: 'x' } });
    assert.equal(r.status, 201);
    acked.push(i);
  }
  await eventually(() => streams.every((s) => ids(s).length >= 20), 'every stream got all 20 updates', 10_000);
  const expected = Array.from({ length: 20 }, (_, i) => i + 1);
  for (const s of streams) assert.deepEqual(ids(s), expected, 'same ids, in commit order, no gap, no duplicate');

  // Resume: a client leaves after id 10, writes go on, it comes back on a new connection.
  streams[0]!.close();
  for (let i = 20; i < 30; i++) assert.equal((await c.fresh(M, { method: 'POST', body: { id: `w${i}`, title: `t${i}`, content: 'x' } })).status, 201);
  for (const lastId of ['10', '20']) {
    const resumed = await c.stream(`${M}?stream=sse`, { 'last-event-id': lastId });
    await eventually(() => ids(resumed).length >= 30 - Number(lastId), `resumed after ${lastId}`, 10_000);
    assert.deepEqual(
      ids(resumed),
      Array.from({ length: 30 - Number(lastId) }, (_, i) => Number(lastId) + i + 1),
    );
    resumed.close();
  }

  // /metrics adds up both workers' requests: 30 POSTs went to the two of them.
  const metrics = await c.fresh('/metrics');
  const posts = [...String(metrics.body).matchAll(/tablecast_http_requests_total\{method="POST",route="\/realtime-demo\/message",status="201"\} (\d+)/g)].map((m) => Number(m[1]));
  assert.deepEqual(posts, [30], 'one series, the sum over workers');
  assert.match(String(metrics.body), /tablecast_workers 2\n/);
  assert.match(String(metrics.body), /tablecast_changelog_head 30\n/, 'the shared log is not summed');
  for (const s of streams) s.close();
});

test('--workers 2: stream limits count the streams of every worker', { timeout: 120_000 }, async (t) => {
  const c = await startWorkers(t, [], { TABLECAST_MAX_STREAMS_PER_ADDRESS: '3' });
  const open: SseStream[] = [];
  for (let i = 0; i < 3; i++) {
    const s = await c.stream(`${M}?stream=sse`);
    assert.equal(s.status, 200);
    open.push(s);
  }
  // The counts reach the other worker by message: wait until the server reports all three.
  await eventually(async () => (await c.fresh('/admin/connections')).body.streams.open === 3, 'three streams counted');
  // Whichever worker the next two connections reach, both refuse.
  for (let i = 0; i < 2; i++) {
    const refused = await c.stream(`${M}?stream=sse`);
    assert.equal(refused.status, 429);
    assert.match((await refused.json()).message, /too many open streams from/);
  }
  open[0]!.close();
  await eventually(async () => (await c.fresh('/admin/connections')).body.streams.open === 2, 'the closed stream released');
  const again = await c.stream(`${M}?stream=sse`);
  assert.equal(again.status, 200);
  for (const s of [...open, again]) s.close();
});

test('--workers 2: the login rate and logout revocation are the server’s', { timeout: 120_000 }, async (t) => {
  const dir = tmpDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'tablecast.config.json');
  const auth = {
    loginRate: 4,
    roles: { reader: { tables: { '*': ['read'] } } },
    users: { ann: { password: await hashPassword('right-password'), roles: ['reader'] } },
  };
  writeFileSync(config, JSON.stringify({ auth }));
  const c = await startWorkers(t, ['--config', config]);
  const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`ann:${password}`).toString('base64')}` });

  // A token, then logout on one connection: from then on every worker refuses it.
  const issued = await c.fresh('/auth/token', { method: 'POST', body: { username: 'ann', password: 'right-password' } });
  assert.equal(issued.status, 200, JSON.stringify(issued.body));
  const bearer = { authorization: `Bearer ${issued.body.access_token}` };
  for (let i = 0; i < 2; i++) assert.equal((await c.fresh(M, { headers: bearer })).status, 200);
  assert.equal((await c.fresh('/auth/logout', { method: 'POST', headers: bearer })).status, 204);
  for (let i = 0; i < 4; i++) assert.equal((await c.fresh(M, { headers: bearer })).status, 401, `request ${i} after logout`);

  // Four wrong passwords over four connections (both workers), then the fifth is refused whatever the worker.
  for (let i = 0; i < 4; i++) assert.equal((await c.fresh(M, { headers: basic(`wrong-${i}`) })).status, 401);
  for (let i = 0; i < 2; i++) {
    const limited = await c.fresh(M, { headers: basic('wrong-again') });
    assert.equal(limited.status, 429, JSON.stringify(limited.body));
    assert.ok(Number(limited.headers['retry-after']) > 0);
  }
});

test('--workers 2: a worker killed with -9 during writes on both is replaced; nothing acknowledged is lost and streams resume; SIGTERM drains and exits 0', { timeout: 120_000 }, async (t) => {
  const c = await startWorkers(t);
  const watcher = await c.stream(`${M}?stream=sse`);
  const acked = new Set<string>();
  let stop = false;
  // Eight keep-alive connections, spread over both workers: each writer's requests keep going to one
  // worker until that worker dies (its connection fails, and the pool opens a new one).
  const writeAgent = new Agent({ connections: 8, headersTimeout: 10_000, bodyTimeout: 10_000 });
  t.after(() => writeAgent.destroy());
  const writers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      const id = `k${w}-${i}`;
      const res = await request(`${c.url}${M}`, {
        method: 'POST',
        dispatcher: writeAgent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id, title: id, content: 'x' }),
      }).catch(() => undefined);
      await res?.body.text().catch(() => undefined);
      if (res?.statusCode === 201) acked.add(id);
      // A request that fails (its worker just died) can reject without any I/O: without a timer
      // turn here the loop would spin on microtasks and starve every timer of this test.
      else await new Promise((r) => setTimeout(r, 5));
    }
  });
  await eventually(() => acked.size >= 40, 'writes flowing', 20_000);
  // The victim is the worker running the background jobs: the role must pass to the other.
  const before = (await c.fresh('/admin/connections')).body.byWorker as Array<{ worker: number; background: boolean }>;
  assert.equal(before.filter((w) => w.background).length, 1, `exactly one worker runs the background jobs: ${JSON.stringify(before)}`);
  const backgroundWorker = before.find((w) => w.background)!.worker;
  const victim = pidOfWorker(c.child.output(), backgroundWorker);
  process.kill(victim, 'SIGKILL');
  await eventually(() => /worker \d+ died \(signal SIGKILL\); starting a replacement/.test(c.child.output()), 'the supervisor noticed', 10_000);
  await eventually(
    () =>
      c.child
        .output()
        .split('\n')
        .filter((l) => l.includes('tablecast serving')).length >= 3,
    'a replacement serves',
    60_000,
  );
  const ackedBefore = acked.size;
  await eventually(() => acked.size >= ackedBefore + 40, 'writes flow again', 20_000);
  const after = (await c.fresh('/admin/connections')).body.byWorker as Array<{ worker: number; background: boolean }>;
  assert.equal(after.filter((w) => w.background).length, 1, `the role passed on, to one worker: ${JSON.stringify(after)}`);
  assert.notEqual(after.find((w) => w.background)!.worker, backgroundWorker);
  stop = true;
  await Promise.all(writers);

  // The stream that lived on the killed worker (if it did) ended; either way a resume from its last id gets the rest, once each.
  const seen = ids(watcher);
  watcher.close();
  const last = seen.at(-1) ?? 0;
  const resumed = await c.stream(`${M}?stream=sse`, { 'last-event-id': String(last) });
  const head = (await c.fresh('/admin/connections')).body.changeLog.head as number;
  await eventually(() => (ids(resumed).at(-1) ?? last) >= head, 'resumed to the head', 10_000);
  const all = [...seen, ...ids(resumed)];
  assert.deepEqual(
    all,
    Array.from({ length: head }, (_, i) => i + 1),
    'every change once, in order',
  );
  resumed.close();

  // SIGTERM to the supervisor: every worker drains, the supervisor exits 0, no process stays.
  const pids = [c.child.proc.pid!, ...workerPids(c.child.output())];
  c.child.proc.kill('SIGTERM');
  const code = await Promise.race([c.child.exited, new Promise((r) => setTimeout(() => r('still running after 15 s'), 15_000).unref())]);
  assert.equal(code, 0, quiet(c.child.output()));
  for (const pid of pids) assert.equal(await waitGone(pid, 5000), true, `process ${pid} gone`);

  // Every acknowledged write is in the store, which closed cleanly (it opens and reads here).
  const store = createStore({ dataDir: c.data, tables: parseSchema([{ file: 'message.graphql', sdl: MESSAGE_SDL }]).tables });
  try {
    const table = store.table(parseSchema([{ file: 'message.graphql', sdl: MESSAGE_SDL }]).tables[0]!);
    const missing = [...acked].filter((id) => !store.get(table, id));
    if (missing.length > 0) {
      // What the log says of them tells a lost commit (no entry) from a record lost after its commit.
      const logged = new Map<string, number[]>();
      for (const e of store.changeLog.iterateAfter(0)) if (missing.includes(String(e.key))) logged.set(String(e.key), [...(logged.get(String(e.key)) ?? []), e.seq]);
      assert.fail(
        `${missing.length} of ${acked.size} acknowledged writes are not stored: ${missing.slice(0, 5).join(', ')}; change entries: ${JSON.stringify([...logged].slice(0, 5))}; head ${store.changeLog.head()}\n${quiet(c.child.output())}`,
      );
    }
    assert.ok(store.changeLog.head() >= head);
  } finally {
    await store.close();
  }
});

/** The server's output without access lines: what it said about starting, dying and stopping. */
function quiet(output: string): string {
  return output
    .split('\n')
    .filter((l) => !l.includes('request completed'))
    .join('\n');
}

/** The pid of worker `n`, from its serving line ("… (worker n)"). */
function pidOfWorker(output: string, n: number): number {
  const line = output.split('\n').find((l) => l.includes('tablecast serving') && l.includes(`(worker ${n})`));
  assert.ok(line, `worker ${n} has a serving line`);
  return (JSON.parse(line) as { pid: number }).pid;
}

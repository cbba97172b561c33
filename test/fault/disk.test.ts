/**
 * Issue #5, point 5: a data directory the server cannot write, and a full disk, give clear errors
 * and never a corrupt store.
 *
 * - Read-only: file modes do not stop root, so as root the CLI runs as `nobody` (setpriv or
 *   runuser), from a mirror of the checkout when `nobody` cannot reach it (a clone in a private
 *   directory); without setpriv or runuser the test is skipped, saying why.
 * - Full disk: LMDB's MDB_MAP_FULL cannot be provoked with a small map: lmdb-js grows the map on
 *   demand (its mdb.c resizes in mdb_page_alloc), and the server does not pass `mapSize` on anyway
 *   (createStore takes it; createApp, createServer and the config do not). So the data directory is
 *   put on a 2 MiB tmpfs, which needs the right to mount; without it the test is skipped. On a full
 *   tmpfs LMDB fails the commit with EIO (its code for a short write) or ENOSPC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { parseSchema } from '../../src/schema/parse.ts';
import { createStore } from '../../src/store/store.ts';
import { startChild, type Child } from '../helpers/child.ts';
import { assertErrorShape, checkStore, runCli } from '../helpers/fuzz.ts';
import { MESSAGE_SDL, schemaDir, tmpDir } from '../helpers/server.ts';
import { asUnprivileged } from '../helpers/unprivileged.ts';

const M = '/realtime-demo/message';
const TABLES = parseSchema([{ file: 'message.graphql', sdl: MESSAGE_SDL }]).tables;

function digest(dir: string): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(dir).sort()) if (!name.endsWith('-lock')) hash.update(name).update(readFileSync(join(dir, name)));
  return hash.digest('hex');
}

test('a data directory the server may not write: start fails with exit 1 and one line naming it, and the data is untouched', async (t) => {
  const as = asUnprivileged();
  if (typeof as === 'string') {
    t.skip(as);
    return;
  }
  t.after(as.cleanup);
  const parent = tmpDir();
  const data = join(parent, 'data');
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  t.after(() => {
    chmodSync(parent, 0o755);
    chmodSync(data, 0o755);
    rmSync(parent, { recursive: true, force: true });
    rmSync(schemas, { recursive: true, force: true });
  });
  // Existing data, written while the directory was still writable.
  const store = createStore({ dataDir: data, tables: TABLES });
  await store.transact((tx) => tx.put(store.table(TABLES[0]!), 'kept', { id: 'kept', title: 'Hello', content: 'World' }));
  await store.close();
  const before = digest(data);

  // Readable by the unprivileged user, writable by nobody.
  chmodSync(schemas, 0o755);
  for (const f of readdirSync(schemas)) chmodSync(join(schemas, f), 0o644);
  for (const f of readdirSync(data)) chmodSync(join(data, f), 0o444);
  chmodSync(data, 0o555);
  chmodSync(parent, 0o555);

  for (const [what, dir] of [
    ['an existing read-only data directory', data],
    ['a data directory that cannot be created', join(parent, 'new-data')],
  ] as const) {
    const run = await runCli(['start', '--no-tls', '--port', '0', '--host', '127.0.0.1', '--data', dir, '--schemas', schemas], as.wrapper, 20_000, as.cwd);
    assert.equal(run.code, 1, `${what}: exit 1\n${run.output}`);
    const lines = run.output.trim().split('\n');
    const problem = lines.find((l) => l.includes(dir));
    assert.ok(problem, `${what}: a line names the directory ${dir}\n${run.output}`);
    assert.match(problem, /cannot open the data directory .*(permission denied|EACCES|read-only)/i, `${what}: says why`);
    assert.doesNotMatch(run.output, /^\s+at /m, `${what}: no stack trace\n${run.output}`);
    assert.doesNotMatch(run.output, /serving/, `${what}: it did not start`);
  }
  assert.equal(digest(data), before, 'the data files are unchanged');
  chmodSync(data, 0o755);
  const reopened = createStore({ dataDir: data, tables: TABLES });
  try {
    assert.deepEqual(reopened.get(reopened.table(TABLES[0]!), 'kept')?.record, { id: 'kept', title: 'Hello', content: 'World' });
  } finally {
    await reopened.close();
  }
});

test('a full disk: writes get 507 STORAGE_FULL, nothing partial is stored, reads go on, and writes work again once space is freed', { timeout: 120_000 }, async (t) => {
  const mount = tmpDir('tablecast-full-');
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mount], { encoding: 'utf8' });
  if (mounted.status !== 0) {
    rmSync(mount, { recursive: true, force: true });
    t.skip(`cannot mount a small tmpfs to fill (needs root and CAP_SYS_ADMIN): ${(mounted.stderr || mounted.error?.message || '').trim()}`);
    return;
  }
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  let child: Child | undefined;
  // A write that never gets an answer fails the test instead of hanging it.
  const agent = new Agent({ connections: 4, headersTimeout: 20_000, bodyTimeout: 20_000 });
  t.after(async () => {
    if (child && child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
    await child?.exited;
    await agent.destroy();
    // The mount may be busy for a moment after the child exits.
    for (let i = 0; i < 50 && spawnSync('umount', [mount]).status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    rmSync(mount, { recursive: true, force: true });
    rmSync(schemas, { recursive: true, force: true });
  });
  // Space to give back later: what an operator frees when the disk fills.
  const ballast = join(mount, 'ballast');
  writeFileSync(ballast, Buffer.alloc(256 * 1024));
  const data = join(mount, 'data');
  mkdirSync(data);
  child = await startChild(['--no-tls', '--data', data, '--schemas', schemas]);
  const url = child.url;
  const send = async (method: string, path: string, body?: unknown) => {
    const res = await request(`${url}${path}`, {
      method: method as 'GET',
      dispatcher: agent,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await res.body.text();
    return { status: res.statusCode, text, body: text ? JSON.parse(text) : undefined };
  };
  const record = (id: string) => ({ id, title: 'full', content: `${id} `.repeat(1000) });

  // Fill it: 4 writers of ~5 KB records until a dozen writes were refused (bounded in count).
  const acked: string[] = [];
  const refused: string[] = [];
  let n = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (refused.length < 12 && n < 2_000) {
        const id = `r${n++}`;
        const res = await send('POST', M, record(id));
        if (res.status === 201) {
          acked.push(id);
          continue;
        }
        assert.equal(res.status, 507, `a write on a full disk: ${res.status} ${res.text}`);
        assertErrorShape(res.body, 507, res.text);
        assert.equal(res.body.code, 'STORAGE_FULL');
        assert.match(res.body.message, /full/);
        refused.push(id);
      }
    }),
  );
  assert.ok(refused.length >= 12, `the disk filled up (${acked.length} writes stored, ${refused.length} refused)`);
  assert.ok(acked.length > 20, `writes were stored before it did (${acked.length})`);

  // Still serving: health, every stored record, and none of the refused ones.
  assert.equal((await send('GET', '/health')).status, 200);
  const list = await send('GET', `${M}?select(id)`);
  assert.equal(list.status, 200);
  assert.deepEqual(new Set(list.body), new Set(acked), 'exactly the acknowledged writes are stored');
  assert.deepEqual((await send('GET', `${M}/${acked[0]}`)).body, record(acked[0]!));
  assert.equal((await send('GET', `${M}/${refused[0]}`)).status, 404, 'a refused write left nothing behind');

  // Deleting needs space too on a copy-on-write store that logs the deleted record: each delete
  // is done or refused as a whole, never a 500.
  const deleted: string[] = [];
  for (const id of acked.slice(0, 5)) {
    const res = await send('DELETE', `${M}/${id}`);
    assert.ok(res.status === 204 || res.status === 507, `a delete on a full disk: ${res.status} ${res.text}`);
    if (res.status === 204) deleted.push(id);
    else assert.equal(res.body.code, 'STORAGE_FULL');
  }

  // Space freed: writes and deletes work again.
  rmSync(ballast);
  for (const id of ['again-1', 'again-2']) {
    const res = await send('POST', M, record(id));
    assert.equal(res.status, 201, `a write after space was freed: ${res.text}`);
    acked.push(id);
  }
  const removed = acked.find((id) => !deleted.includes(id))!;
  assert.equal((await send('DELETE', `${M}/${removed}`)).status, 204);
  deleted.push(removed);

  assert.equal(child.proc.exitCode, null, `the server is still running:\n${child.output().slice(-2000)}`);
  child.proc.kill('SIGTERM');
  assert.equal(await child.exited, 0, child.output().slice(-2000));
  assert.doesNotMatch(child.output(), /Unhandled|uncaught/i, 'no unhandled rejection reached the process');

  // The store on disk is whole: valid records, exact indexes, a gap-free log replaying to the table.
  const store = createStore({ dataDir: data, tables: TABLES });
  try {
    checkStore(store);
    const handle = store.table(TABLES[0]!);
    const stored = new Set([...handle.records.getKeys({})]);
    assert.deepEqual(stored, new Set(acked.filter((id) => !deleted.includes(id))), 'stored: every acknowledged write not deleted since');
    const logged = new Set(store.changeLog.readAfter(0).map((e) => e.key));
    assert.deepEqual(
      refused.filter((id) => logged.has(id)),
      [],
      'no refused write reached the change log',
    );
  } finally {
    await store.close();
  }
});

/**
 * `tablecast export` reads and never writes: an export with a schema that adds `@indexed`, run
 * beside a server, leaves no index behind for that server's later writes to make stale; a
 * misspelt `--data` is refused; a reader of `--out -` that goes away ends it quietly; changed
 * passwords (stored in the same store) are never read, counted or written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { hashPassword } from '../../src/auth/password.ts';
import { exportNdjson, openExport } from '../../src/server/data-commands.ts';
import { ROOT } from '../helpers/fixtures.ts';
import { CLI_FROM_SOURCE, cliEnv, runCli } from '../helpers/cli-env.ts';
import { MESSAGE_SDL, schemaDir, startServer, tmpDir } from '../helpers/server.ts';

const INDEXED_SDL = MESSAGE_SDL.replace('title: String!', 'title: String! @indexed');

/** A temp directory removed after the test. */
function tempDir(t: { after(fn: () => void): void }): string {
  const made = tmpDir();
  t.after(() => rmSync(made, { recursive: true, force: true }));
  return made;
}

test('an export with a schema that adds @indexed, beside a running server, builds no index: the server later restarted on that schema finds every record', async (t) => {
  const [s1, s2] = [schemaDir({ 'm.graphql': MESSAGE_SDL }), schemaDir({ 'm.graphql': INDEXED_SDL })];
  const data = tempDir(t);
  const out = tempDir(t);
  t.after(() => removeAll(s1, s2));
  const s = await startServer({ schemas: s1, data });
  try {
    for (const id of ['m1', 'm2', 'm3']) assert.equal((await s.req('POST', '/realtime-demo/message', { id, title: 'a', content: 'c' })).status, 201);
    const exported = await runCli(['export', '--data', data, '--schemas', s2, '--out', out]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /realtime-demo\/Message: 3 records/);
    // The server (schema s1) does not maintain an index on title: had the export built one and
    // marked it built, this record would be missing from it.
    assert.equal((await s.req('POST', '/realtime-demo/message', { id: 'm4', title: 'a', content: 'c' })).status, 201);
  } finally {
    await s.server.close();
  }
  const again = await startServer({ schemas: s2, data });
  try {
    const found = await again.req('GET', '/realtime-demo/message?title=a&select(id)');
    assert.deepEqual([...found.body].sort(), ['m1', 'm2', 'm3', 'm4']);
  } finally {
    await again.server.close();
  }
});

test('export refuses a data directory without a store (a misspelt --data) and creates nothing', async (t) => {
  const schemas = schemaDir({ 'm.graphql': MESSAGE_SDL });
  const parent = tempDir(t);
  const out = tempDir(t);
  t.after(() => removeAll(schemas));
  const typo = join(parent, 'dat');
  const res = await runCli(['export', '--data', typo, '--schemas', schemas, '--out', join(out, 'dump')]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /there is no store in .*dat \(the data setting\)/);
  assert.equal(existsSync(typo), false, 'no data directory created');
  assert.equal(existsSync(join(out, 'dump')), false, 'no export directory created');
});

test('export --out - whose reader goes away (| head -1) ends quietly with exit 0', async (t) => {
  const schemas = schemaDir({ 'm.graphql': MESSAGE_SDL });
  const data = tempDir(t);
  t.after(() => removeAll(schemas));
  const s = await startServer({ schemas, data });
  // ~4 MB of NDJSON: far more than a pipe holds, so the export is still writing when the reader goes.
  for (let i = 0; i < 4; i++) {
    const batch = Array.from({ length: 1000 }, (_, j) => ({ id: `m${i}-${j}`, title: 't', content: 'x'.repeat(1000) }));
    assert.equal((await s.req('POST', '/realtime-demo/message', batch)).status, 201);
  }
  await s.server.close();
  const proc = spawn(process.execPath, [...CLI_FROM_SOURCE, 'export', '--out', '-', '--table', 'realtime-demo/message', '--data', data, '--schemas', schemas], {
    cwd: ROOT,
    env: cliEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | string>((res) => proc.on('exit', (code, signal) => res(code ?? signal ?? -1)));
  // The first line read, the pipe's read end is closed, as `head -1` does.
  proc.stdout.once('data', () => proc.stdout.destroy());
  assert.equal(await exited, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE|Error/);
});

test('export reads no changed password: counts and progress are the table rows, no file holds a hash', async (t) => {
  const schemas = schemaDir({ 'm.graphql': MESSAGE_SDL });
  const data = tempDir(t);
  const out = tempDir(t);
  t.after(() => removeAll(schemas));
  const users = { alice: { password: await hashPassword('Tr0ub4dor&3'), roles: ['writer'], changePassword: true } };
  const auth = { users, roles: { writer: { tables: { 'realtime-demo/message': ['read', 'insert'] } } } };
  const s = await startServer({ schemas, data, auth: auth as never });
  const basic = { authorization: `Basic ${Buffer.from('alice:Tr0ub4dor&3').toString('base64')}` };
  try {
    const rows = Array.from({ length: 5 }, (_, i) => ({ id: `m${i}`, title: 't', content: 'c' }));
    assert.equal((await s.req('POST', '/realtime-demo/message', rows, basic)).status, 201);
    const changed = await s.req('POST', '/auth/password', { current: 'Tr0ub4dor&3', password: 'correct horse battery' }, basic);
    assert.equal(changed.status, 204, changed.text);
  } finally {
    await s.server.close();
  }
  assert.ok(readFileSync(join(data, 'tablecast.mdb')).includes('scrypt$'), 'the changed password is in the store');

  // In-process, to see the counts and progress the CLI reports (progress only on a terminal).
  const { config, tables } = await openExport({ schemas, data }, ROOT);
  let text = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      text += chunk;
      done();
    },
  });
  const progress: number[] = [];
  const counts = await exportNdjson(config.data, tables, new Map([['realtime-demo/Message', sink]]), { onProgress: (n) => progress.push(n) });
  assert.deepEqual([...counts], [['realtime-demo/Message', 5]]);
  assert.equal(progress.at(-1), 5);
  assert.equal(text.trim().split('\n').length, 5);
  assert.doesNotMatch(text, /scrypt/);

  const exported = await runCli(['export', '--data', data, '--schemas', schemas, '--out', out]);
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal(exported.stdout, `realtime-demo/Message: 5 records → ${join(out, 'realtime-demo.Message.ndjson')}\n`);
  for (const name of readdirSync(out)) assert.doesNotMatch(readFileSync(join(out, name), 'utf8'), /scrypt|correct horse|"hash"/);
});

function removeAll(...paths: string[]): void {
  for (const p of paths) rmSync(p, { recursive: true, force: true });
}

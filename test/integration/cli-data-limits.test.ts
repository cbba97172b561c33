/**
 * Bounds of `tablecast import` and `backup`: an import line is at most the body limit REST applies
 * (longer: a bad line, numbered and resumable, or skipped without being held in memory), and a
 * backup refuses a target inside the data directory before writing anything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/fixtures.ts';
import { CLI_FROM_SOURCE, cliEnv, runCli } from '../helpers/cli-env.ts';
import { MESSAGE_SDL, schemaDir, startServer, tmpDir } from '../helpers/server.ts';

/** A temp directory removed after the test. */
function tempDir(t: { after(fn: () => void): void }): string {
  const made = tmpDir();
  t.after(() => rmSync(made, { recursive: true, force: true }));
  return made;
}

async function ids(data: string, schemas: string): Promise<string[]> {
  const s = await startServer({ schemas, data });
  try {
    return ((await s.server.tables['realtime-demo']!.message!.search()) as Array<{ id: string }>).map((r) => r.id).sort();
  } finally {
    await s.server.close();
  }
}

const line = (id: string, content = 'c') => `${JSON.stringify({ id, title: 't', content })}\n`;

test('an import line longer than the body limit stops the import at its number (earlier batches kept, resumable) or is skipped', async (t) => {
  const schemas = schemaDir({ 'm.graphql': MESSAGE_SDL });
  const data = tempDir(t);
  const fresh = tempDir(t);
  const dir = tempDir(t);
  t.after(() => rmSync(schemas, { recursive: true, force: true }));
  const file = join(dir, 'm.ndjson');
  const lines = [line('a'), line('b'), line('c'), line('long', 'x'.repeat(5000)), line('d'), line('e')];
  writeFileSync(file, lines.join(''));
  const common = ['--table', 'realtime-demo/message', '--body-limit', '1024', '--schemas', schemas];

  const stopped = await runCli(['import', file, '--batch', '2', '--data', data, ...common]);
  assert.equal(stopped.code, 1, stopped.stderr);
  assert.match(stopped.stderr, /^tablecast: line 4: longer than 1024 bytes \(the body limit\) \(lines 1–3 are imported; fix the line and add --resume to go on from line 4\)/);
  assert.deepEqual(await ids(data, schemas), ['a', 'b', 'c']);

  const skipped = await runCli(['import', file, '--skip-invalid', '--data', fresh, ...common]);
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stderr, /m\.ndjson:4: skipped: longer than 1024 bytes/);
  assert.match(skipped.stdout, /5 imported, 1 skipped, 6 lines/);
  assert.deepEqual(await ids(fresh, schemas), ['a', 'b', 'c', 'd', 'e']);

  lines[3] = line('long', 'x'.repeat(900));
  writeFileSync(file, lines.join(''));
  const resumed = await runCli(['import', file, '--resume', '--data', data, ...common]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /3 imported, 0 skipped, 6 lines \(resumed after line 3\)/);
  assert.deepEqual(await ids(data, schemas), ['a', 'b', 'c', 'd', 'e', 'long']);
});

test('a skipped line larger than the import heap is never held: the lines around it are imported', async (t) => {
  const schemas = schemaDir({ 'm.graphql': MESSAGE_SDL });
  const data = tempDir(t);
  const dir = tempDir(t);
  t.after(() => rmSync(schemas, { recursive: true, force: true }));
  const file = join(dir, 'm.ndjson');
  // One line of 96 MB between two small ones (the last without its newline); the import runs in a
  // 48 MiB heap, which the line as one string would not fit in.
  const fd = openSync(file, 'w');
  writeSync(fd, `${line('a')}{"id":"huge","title":"t","content":"`);
  const chunk = Buffer.alloc(1 << 20, 'x');
  for (let i = 0; i < 96; i++) writeSync(fd, chunk);
  writeSync(fd, `"}\n${line('b').trim()}`);
  closeSync(fd);
  const proc = spawn(process.execPath, [...CLI_FROM_SOURCE, 'import', file, '--table', 'realtime-demo/message', '--skip-invalid', '--data', data, '--schemas', schemas], {
    cwd: ROOT,
    env: cliEnv({ NODE_OPTIONS: '--max-old-space-size=48' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const code = await new Promise((res) => proc.on('exit', (c, signal) => res(c ?? signal)));
  assert.equal(code, 0, out);
  assert.match(out, /m\.ndjson:2: skipped: longer than 1048576 bytes/);
  assert.match(out, /2 imported, 1 skipped, 3 lines/);
  assert.deepEqual(await ids(data, schemas), ['a', 'b']);
});

test('backup refuses a target inside the data directory (also through a link, or the directory itself) and writes nothing', async (t) => {
  const schemas = schemaDir({ 'm.graphql': MESSAGE_SDL });
  const data = tempDir(t);
  const elsewhere = tempDir(t);
  t.after(() => rmSync(schemas, { recursive: true, force: true }));
  const s = await startServer({ schemas, data });
  assert.equal((await s.req('POST', '/realtime-demo/message', { id: 'a', title: 't', content: 'c' })).status, 201);
  await s.server.close();
  const before = readdirSync(data).sort();
  const link = join(elsewhere, 'link');
  symlinkSync(data, link);
  for (const target of [join(data, 'bk'), join(data, 'sub', 'bk'), data, join(link, 'bk')]) {
    const res = await runCli(['backup', target, '--data', data, '--schemas', schemas]);
    assert.equal(res.code, 2, `${target}: ${res.stderr}`);
    assert.match(res.stderr, /is inside the data directory .*: back up somewhere else/);
    assert.deepEqual(readdirSync(data).sort(), before, `${target}: nothing written`);
  }
  const ok = await runCli(['backup', join(elsewhere, 'bk'), '--data', data, '--schemas', schemas]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(await ids(join(elsewhere, 'bk'), schemas), ['a']);
});

/**
 * `tablecast export`, `import` and `backup` through the real CLI: an export → import round trip into
 * a fresh data directory, a bad line stopping the import with its number (and `--resume` after the
 * fix), an import killed with SIGKILL mid-way and resumed (every line once), memory that does not
 * grow with the file, an import refused while a server holds the store, and a backup of a server
 * under writes that a second server opens consistent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, SHOP_SDL } from '../helpers/fixtures.ts';
import { CLI_FROM_SOURCE, cliEnv, runCli } from '../helpers/cli-env.ts';
import { startChild } from '../helpers/child.ts';
import { httpRequest, MESSAGE_SDL, schemaDir, startServer, tmpDir } from '../helpers/server.ts';

const order = (i: number) => ({ customerEmail: `c${i}${'x'.repeat(i % 50)}@example.com`, lines: [{ productId: `p${i % 7}`, quantity: 1 + (i % 3), unitPrice: 2.5 }], total: 2.5 * (1 + (i % 3)) });

/** Reads every record of a table straight from a stopped server's store, through a fresh server. */
async function recordsOf(data: string, schemas: string, path: string): Promise<any[]> {
  const s = await startServer({ schemas, data });
  try {
    return (await s.server.app.services.get(path)!.search({ reserved: {} })) as any[];
  } finally {
    await s.server.close();
  }
}

test('export → import round trip into a fresh data directory; --out - writes one table to stdout', async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL, 'shop.graphql': SHOP_SDL });
  const [d1, d2, out] = [tmpDir(), tmpDir(), tmpDir()];
  t.after(() => removeAll(schemas, d1, d2, out));
  const s = await startServer({ schemas, data: d1 });
  await s.req(
    'POST',
    '/realtime-demo/message',
    Array.from({ length: 30 }, (_, i) => ({ id: `m${i}`, title: `t${i}`, content: 'c', extra: { n: i } })),
  );
  await s.req(
    'POST',
    '/shop/order',
    Array.from({ length: 40 }, (_, i) => order(i)),
  );
  const before = { m: await s.server.tables['realtime-demo']!.message!.search(), o: await s.server.tables.shop!.order!.search() };
  await s.server.close();

  const exported = await runCli(['export', '--data', d1, '--schemas', schemas, '--out', out]);
  assert.equal(exported.code, 0, exported.stderr);
  assert.deepEqual(readdirSync(out).sort(), ['realtime-demo.Message.ndjson', 'shop.Order.ndjson', 'shop.Product.ndjson']);
  assert.equal(readFileSync(join(out, 'shop.Order.ndjson'), 'utf8').trim().split('\n').length, 40);
  const stdout = await runCli(['export', '--data', d1, '--schemas', schemas, '--out', '-', '--table', 'realtime-demo/message']);
  assert.equal(stdout.code, 0, stdout.stderr);
  assert.deepEqual(
    stdout.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)),
    before.m,
  );

  const imported = await runCli(['import', out, '--data', d2, '--schemas', schemas]);
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stdout, /shop\.Order\.ndjson → shop\/Order: 40 imported, 0 skipped, 40 lines/);
  assert.deepEqual(await recordsOf(d2, schemas, 'realtime-demo/Message'), before.m);
  // placedAt is a @createdTime attribute: the import stamps its own time, as a REST create would.
  const strip = (rows: any[]) => rows.map(({ placedAt, ...rest }) => rest);
  assert.deepEqual(strip(await recordsOf(d2, schemas, 'shop/Order')), strip(before.o));

  // Again: every key exists now. fail (default) stops at line 1; skip keeps them.
  const again = await runCli(['import', join(out, 'shop.Order.ndjson'), '--data', d2, '--schemas', schemas]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^tablecast: line 1: order 1 already exists \(nothing was imported\)/i);
  const skipped = await runCli(['import', join(out, 'shop.Order.ndjson'), '--data', d2, '--schemas', schemas, '--on-conflict', 'skip']);
  assert.match(skipped.stdout, /0 imported, 40 skipped/);
});

test('a bad line stops the import with its number; batches before it stay; --resume goes on after the fix', async (t) => {
  const schemas = schemaDir({ 'shop.graphql': SHOP_SDL });
  const [data, dir] = [tmpDir(), tmpDir()];
  t.after(() => removeAll(schemas, data, dir));
  const file = join(dir, 'orders.ndjson');
  const lines = Array.from({ length: 25 }, (_, i) => JSON.stringify(order(i)));
  lines[16] = JSON.stringify({ ...order(16), total: 'lots' });
  writeFileSync(file, `${lines.join('\n')}\n`);
  const bad = await runCli(['import', file, '--table', 'shop/order', '--batch', '5', '--data', data, '--schemas', schemas]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^tablecast: line 17: total: .*\(lines 1–16 are imported; fix the line and add --resume to go on from line 17\)/);
  assert.equal((await recordsOf(data, schemas, 'shop/Order')).length, 16);

  const invalidJson = await runCli(['import', file, '--table', 'shop/order', '--data', tmpDirFor(t), '--schemas', schemas, '--skip-invalid']);
  assert.equal(invalidJson.code, 0, invalidJson.stderr);
  assert.match(invalidJson.stderr, /orders\.ndjson:17: skipped: total: /);
  assert.match(invalidJson.stdout, /24 imported, 1 skipped, 25 lines/);

  lines[16] = JSON.stringify(order(16));
  writeFileSync(file, `${lines.join('\n')}\n`);
  const resumed = await runCli(['import', file, '--table', 'shop/order', '--batch', '5', '--resume', '--data', data, '--schemas', schemas]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /9 imported, 0 skipped, 25 lines \(resumed after line 16\)/);
  const rows = await recordsOf(data, schemas, 'shop/Order');
  assert.deepEqual(
    rows.map((r) => r.customerEmail),
    lines.map((l) => JSON.parse(l).customerEmail),
  );
});

function removeAll(...dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

function tmpDirFor(t: { after(fn: () => void): void }): string {
  const dir = tmpDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs an import with at most 48 MiB of V8 heap; resolves to its exit code and output. */
function importCapped(args: string[]): Promise<{ code: number | string; out: string }> {
  const proc = spawn(process.execPath, [...CLI_FROM_SOURCE, 'import', ...args], { cwd: ROOT, env: cliEnv({ NODE_OPTIONS: '--max-old-space-size=48' }), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  return new Promise((res) => proc.on('exit', (code, signal) => res({ code: code ?? signal ?? -1, out })));
}

test('an import killed with SIGKILL mid-way resumes after its last commit: every line once, in a heap smaller than the file', async (t) => {
  const schemas = schemaDir({ 'shop.graphql': SHOP_SDL });
  const [data, dir] = [tmpDir(), tmpDir()];
  t.after(() => removeAll(schemas, data, dir));
  const N = 50_000;
  const file = join(dir, 'shop.Order.ndjson');
  // Keyless lines: Int keys are counted where applied, so a line imported twice would be a second
  // record. ~700 bytes each: the file (35 MB) is more than the imports' heap cap, so an import
  // that held the file's lines or records would run out of memory.
  const line = (i: number) => `${JSON.stringify({ ...order(i), customerEmail: `c${i}${'x'.repeat(600)}@example.com` })}\n`;
  writeFileSync(file, Array.from({ length: N }, (_, i) => line(i)).join(''));

  const proc = spawn(process.execPath, [...CLI_FROM_SOURCE, 'import', file, '--batch', '500', '--data', data, '--schemas', schemas], { cwd: ROOT, env: cliEnv(), stdio: 'ignore' });
  const exited = new Promise((res) => proc.on('exit', (code, signal) => res(code ?? signal)));
  // Killed once some batches are committed: the store's file has grown by a few of them (each
  // batch of 500 is ~150 KB of records and as much change log).
  const mdb = join(data, 'tablecast.mdb');
  const size = () => (existsSync(mdb) ? statSync(mdb).size : 0);
  for (let i = 0; i < 3000 && size() < 2 << 20; i++) await new Promise((r) => setTimeout(r, 10));
  proc.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL', 'the import was still running when killed (make N larger if this fails)');

  const resumed = await importCapped([file, '--resume', '--batch', '500', '--data', data, '--schemas', schemas]);
  assert.equal(resumed.code, 0, resumed.out);
  const after = Number(/resumed after line (\d+)/.exec(resumed.out)?.[1]);
  assert.ok(after > 0 && after < N && after % 500 === 0, `resumed after a whole batch: ${resumed.out}`);
  const rows = await recordsOf(data, schemas, 'shop/Order');
  assert.equal(rows.length, N, 'every line exactly once');
  assert.deepEqual(
    rows.map((r) => r.id),
    Array.from({ length: N }, (_, i) => i + 1),
  );
  assert.equal(new Set(rows.map((r) => r.customerEmail)).size, N);

  // The whole file into a fresh store, in the same heap cap.
  const whole = await importCapped([file, '--data', tmpDirFor(t), '--schemas', schemas]);
  assert.equal(whole.code, 0, whole.out);
  assert.match(whole.out, /50000 imported/);
});

test('import refuses a store a running server holds; backup copies it consistently while the server writes', async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const [data, dir, copy] = [tmpDir(), tmpDir(), tmpDir()];
  const target = join(copy, 'backup');
  t.after(() => removeAll(schemas, data, dir, copy));
  const server = await startChild(['--no-tls', '--data', data, '--schemas', schemas, '--workers', '1']);
  t.after(() => server.proc.kill('SIGKILL'));
  writeFileSync(join(dir, 'm.ndjson'), `${JSON.stringify({ id: 'x', title: 't', content: 'c' })}\n`);
  const refused = await runCli(['import', join(dir, 'm.ndjson'), '--table', 'realtime-demo/message', '--data', data, '--schemas', schemas]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`is open in process ${server.serverPid} \\(a running server\\?\\): stop it first`));

  // Writers keep going during the backup: bulk arrays and single creates.
  let writing = true;
  let written = 0;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      const res = await httpRequest(
        `${server.url}/realtime-demo/message`,
        'POST',
        Array.from({ length: 20 }, (_, j) => ({ id: `w${i}-${j}`, title: `t${i}`, content: 'x'.repeat(200) })),
      );
      assert.equal(res.status, 201, res.text);
      written += 20;
    }
  })();
  while (written < 2000) await new Promise((r) => setTimeout(r, 20));
  const backup = await runCli(['backup', target, '--data', data, '--schemas', schemas]);
  writing = false;
  await writer;
  assert.equal(backup.code, 0, backup.stderr);
  assert.match(backup.stdout, /tablecast\.mdb/);

  // The copy opens as a store: every record complete, and the change log ends at the last record written.
  const s = await startServer({ schemas, data: target });
  try {
    const rows = (await s.server.tables['realtime-demo']!.message!.search()) as Array<{ id: string; title: string; content: string }>;
    assert.ok(rows.length >= 2000 && rows.length % 20 === 0, `whole arrays only: ${rows.length}`);
    for (const r of rows) assert.equal(r.content.length, 200);
    const head = s.server.app.store.changeLog.head();
    const versions = rows.map((r) => s.server.app.store.get(s.server.app.services.get('realtime-demo/Message')!.handle, r.id)!.version);
    assert.equal(Math.max(...versions), head, 'the change log head is the last record written');
    assert.equal(s.server.app.store.changeLog.readAfter(0, 1_000_000).length, head, 'every change up to the head');
  } finally {
    await s.server.close();
  }
  assert.ok(written > 2000);
});

/**
 * `tablecast tail` as users run it (dist/cli.js) against real servers: JSON lines when piped,
 * --filter, --since, a record URL, resume across a server restart with no gap and no duplicate,
 * HTTPS trusting the certificate of the data directory, and failures that end it with a reason.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadTls } from '../../src/http/tls.ts';
import { createServer, type TablecastServer } from '../../src/server.ts';
import { cliEnv } from '../helpers/cli-env.ts';
import { ROOT } from '../helpers/fixtures.ts';
import { MESSAGE_SDL, schemaDir, tmpDir } from '../helpers/server.ts';
import { eventually } from '../helpers/sse.ts';

const CLI = join(ROOT, 'dist/cli.js');
const M = 'realtime-demo/message';

interface Tail {
  proc: ChildProcess;
  /** Parsed JSON lines so far. */
  lines(): any[];
  stderr(): string;
  exited: Promise<number | null>;
}

function startTail(t: TestContext, args: string[], env: Record<string, string> = {}): Tail {
  assert.ok(existsSync(CLI), 'dist/ is missing: run `npm run build` (npm test does)');
  const proc = spawn(process.execPath, [CLI, 'tail', ...args], { cwd: ROOT, env: { ...cliEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  t.after(async () => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    await exited;
  });
  return {
    proc,
    lines: () =>
      out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    stderr: () => err,
    exited,
  };
}

interface Served {
  server: TablecastServer;
  url: string;
  port: number;
  data: string;
  write(record: { id: string; title: string }): Promise<void>;
  restart(): Promise<void>;
}

async function serve(t: TestContext, tls = false): Promise<Served> {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const data = tmpDir();
  const options = { schemas, data, tls, host: '127.0.0.1', logLevel: 'silent', sseRetry: 50 } as const;
  const s: Served = {
    server: await createServer({ ...options, port: 0 }),
    url: '',
    port: 0,
    data,
    async write(record) {
      await s.server.app.services.get('realtime-demo/Message')!.create({ content: 'c', ...record });
    },
    async restart() {
      await s.server.close();
      s.server = await createServer({ ...options, port: s.port });
      await s.server.listen();
    },
  };
  s.url = await s.server.listen();
  s.port = Number(new URL(s.url).port);
  t.after(async () => {
    await s.server.close();
    rmSync(schemas, { recursive: true, force: true });
    rmSync(data, { recursive: true, force: true });
  });
  return s;
}

test('piped: JSON lines; --filter; --since; a record URL; SIGTERM ends it with status 0', async (t) => {
  const s = await serve(t);
  await s.write({ id: 'old', title: 'keep' });
  const filtered = startTail(t, [`${s.url}/${M}`, '--filter', 'title=keep']);
  const record = startTail(t, [`${s.url}/${M}/r2?stream=sse`]);
  await eventually(() => s.server.streams.size === 2, 'both tails are open', 15_000);
  await s.write({ id: 'r1', title: 'drop' });
  await s.write({ id: 'r2', title: 'keep' });
  await eventually(() => filtered.lines().length === 2 && record.lines().length === 1, 'the lines arrive', 15_000);
  assert.deepEqual(filtered.lines(), [
    { type: 'retained', cursor: '1', record: { id: 'old', title: 'keep', content: 'c' } },
    { type: 'update', cursor: '3', record: { id: 'r2', title: 'keep', content: 'c' } },
  ]);
  assert.deepEqual(record.lines(), [{ type: 'update', cursor: '3', record: { id: 'r2', title: 'keep', content: 'c' } }]);

  const since = startTail(t, [`${s.url}/${M}`, '--since', '1', '--json']);
  await eventually(() => since.lines().length === 2, 'the changes after cursor 1', 15_000);
  assert.deepEqual(
    since.lines().map((l) => [l.type, l.cursor]),
    [
      ['update', '2'],
      ['update', '3'],
    ],
  );
  for (const tail of [filtered, record, since]) tail.proc.kill('SIGTERM');
  assert.deepEqual(await Promise.all([filtered.exited, record.exited, since.exited]), [0, 0, 0]);
  assert.equal(filtered.stderr(), '');
});

test('db/table on --host/--port/--no-tls resumes across a server restart: no gap, no duplicate', async (t) => {
  const s = await serve(t);
  const tail = startTail(t, [M, '--host', '127.0.0.1', '--port', String(s.port), '--no-tls']);
  await eventually(() => s.server.streams.size === 1, 'the tail is open', 15_000);
  await s.write({ id: 'a', title: 't' });
  await s.write({ id: 'b', title: 't' });
  await eventually(() => tail.lines().length === 2, 'two lines', 15_000);
  await s.restart();
  await s.write({ id: 'c', title: 't' });
  await s.write({ id: 'd', title: 't' });
  await eventually(() => tail.lines().length >= 4, 'the lines after the restart', 20_000);
  assert.deepEqual(
    tail.lines().map((l) => [l.type, l.cursor, l.record.id]),
    [
      ['update', '1', 'a'],
      ['update', '2', 'b'],
      ['update', '3', 'c'],
      ['update', '4', 'd'],
    ],
  );
  assert.equal(tail.proc.exitCode, null, 'still following');
});

test('HTTPS: the certificate of --data is trusted; elsewhere it is refused with the reason; a wrong table ends it', async (t) => {
  const s = await serve(t, true);
  const trusted = startTail(t, [M, '--host', 'localhost', '--port', String(s.port), '--data', s.data]);
  await eventually(() => s.server.streams.size === 1, 'the tail is open over HTTPS', 15_000);
  await s.write({ id: 'tls', title: 't' });
  await eventually(() => trusted.lines().length === 1, 'the line', 15_000);
  assert.equal(trusted.lines()[0].record.id, 'tls');

  const empty = tmpDir();
  t.after(() => rmSync(empty, { recursive: true, force: true }));
  const untrusted = startTail(t, [M, '--host', 'localhost', '--port', String(s.port), '--data', empty]);
  assert.equal(await untrusted.exited, 1);
  assert.match(untrusted.stderr(), /^tablecast: GET https:\/\/localhost:\d+\/realtime-demo\/message\/ failed: .*certificate/m);
  const insecure = startTail(t, [`https://localhost:${s.port}/${M}`, '--insecure']);
  await eventually(() => insecure.lines().length === 1, 'the retained record, certificate unchecked', 15_000);

  const wrong = startTail(t, [`https://localhost:${s.port}/realtime-demo/nope`, '--insecure']);
  assert.equal(await wrong.exited, 1);
  assert.match(wrong.stderr(), /^tablecast: .*nope.* \(404 TABLE_NOT_FOUND\)$/m);
});

test('HTTPS URL: the local certificate is trusted besides the default CAs, not instead of them', async (t) => {
  const s = await serve(t, true);
  // Another server's generated certificate in --data, and the target's trusted as a default CA
  // (NODE_EXTRA_CA_CERTS stands in for a public CA here): both must hold.
  const other = tmpDir();
  t.after(() => rmSync(other, { recursive: true, force: true }));
  await loadTls({ dataDir: other });
  const tail = startTail(t, [`https://localhost:${s.port}/${M}`, '--data', other], { NODE_EXTRA_CA_CERTS: join(s.data, 'tls', 'cert.pem') });
  await s.write({ id: 'ca', title: 't' });
  await eventually(() => tail.lines().length === 1 || tail.proc.exitCode !== null, 'the retained record', 15_000);
  assert.equal(tail.proc.exitCode, null, tail.stderr());
  assert.equal(tail.lines()[0].record.id, 'ca');
});

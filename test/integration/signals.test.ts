/**
 * Stopping the server the ways users start it: SIGTERM to `npm start` (npm runs scripts under
 * `sh -c`, which does not pass signals on) and SIGINT/SIGTERM to `node dist/cli.js`. Each stops the
 * server gracefully (its "shutting down" line, exit 0) and leaves no process behind.
 * (`npx tablecast start` is covered by test/package/pack-and-import.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnServer, waitGone } from '../helpers/child.ts';
import { ROOT } from '../helpers/fixtures.ts';
import { MESSAGE_SDL, schemaDir, tmpDir } from '../helpers/server.ts';

function dirs(t: { after(fn: () => void): void }): string[] {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const data = tmpDir();
  t.after(() =>
    [schemas, data].forEach((d) => {
      rmSync(d, { recursive: true, force: true });
    }),
  );
  return ['--port', '0', '--host', '127.0.0.1', '--no-tls', '--schemas', schemas, '--data', data];
}

test('SIGTERM to `npm start` stops the server gracefully, with no orphan', async (t) => {
  const s = await spawnServer('npm', ['start', '--', ...dirs(t)]);
  assert.equal((await fetch(`${s.url}/health`)).status, 200);
  s.proc.kill('SIGTERM');
  assert.ok(await waitGone(s.serverPid), `server ${s.serverPid} outlived npm:\n${s.output()}`);
  await s.exited;
  assert.match(s.output(), /"msg":"SIGTERM: shutting down"/);
  await assert.rejects(fetch(`${s.url}/health`), 'the port is closed');
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} to node dist/cli.js closes the server and exits 0`, async (t) => {
    const s = await spawnServer(process.execPath, [join(ROOT, 'dist/cli.js'), 'start', ...dirs(t)]);
    assert.equal(s.serverPid, s.proc.pid);
    s.proc.kill(signal);
    assert.equal(await s.exited, 0, s.output());
    assert.match(s.output(), new RegExp(`"msg":"${signal}: shutting down"`));
  });
}

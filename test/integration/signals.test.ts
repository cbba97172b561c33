/**
 * Stopping the server the ways users start it: SIGTERM to `npm start` (npm runs scripts under
 * `sh -c`, which does not pass signals on) and SIGINT/SIGTERM to `node dist/cli.js`. Each stops the
 * server gracefully (its "shutting down" line, exit 0) and leaves no process behind.
 * (`npx tablecast start` is covered by test/package/pack-and-import.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/fixtures.ts';
import { cliEnv } from '../helpers/cli-env.ts';
import { MESSAGE_SDL, schemaDir, tmpDir } from '../helpers/server.ts';

interface Started {
  proc: ChildProcess;
  serverPid: number;
  url: string;
  output(): string;
  exited: Promise<number | string>;
}

/** Spawns `command`, waits for tablecast's serving line and reads the server's pid from it. */
async function launch(command: string, args: string[]): Promise<Started> {
  const proc = spawn(command, args, { cwd: ROOT, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((res) => proc.on('exit', (code, signal) => res(code ?? signal ?? -1)));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no serving line:\n${out}`)), 30_000);
    proc.stdout!.on('data', () => {
      const found = out.split('\n').find((l) => l.includes('tablecast serving'));
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    });
    exited.then((code) => reject(new Error(`exited (${code}) before serving:\n${out}`)));
  });
  const parsed = JSON.parse(line) as { pid: number; msg: string };
  return { proc, serverPid: parsed.pid, url: /on (http\S+) /.exec(parsed.msg)![1]!, output: () => out, exited };
}

async function gone(pid: number, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      return false;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function dirs(t: { after(fn: () => void): void }): string[] {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const data = tmpDir();
  t.after(() => [schemas, data].forEach((d) => rmSync(d, { recursive: true, force: true })));
  return ['--port', '0', '--host', '127.0.0.1', '--no-tls', '--schemas', schemas, '--data', data];
}

test('SIGTERM to `npm start` stops the server gracefully, with no orphan', async (t) => {
  const s = await launch('npm', ['start', '--', ...dirs(t)]);
  assert.equal((await fetch(`${s.url}/health`)).status, 200);
  s.proc.kill('SIGTERM');
  assert.ok(await gone(s.serverPid), `server ${s.serverPid} outlived npm:\n${s.output()}`);
  await s.exited;
  assert.match(s.output(), /"msg":"SIGTERM: shutting down"/);
  await assert.rejects(fetch(`${s.url}/health`), 'the port is closed');
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} to node dist/cli.js closes the server and exits 0`, async (t) => {
    const s = await launch(process.execPath, [join(ROOT, 'dist/cli.js'), 'start', ...dirs(t)]);
    assert.equal(s.serverPid, s.proc.pid);
    s.proc.kill(signal);
    assert.equal(await s.exited, 0, s.output());
    assert.match(s.output(), new RegExp(`"msg":"${signal}: shutting down"`));
  });
}

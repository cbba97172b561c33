/**
 * Seed 000 with real curl over HTTPS, as a user types it: terminal 1 listens on the collection (or
 * one record), terminal 2 writes with the seed's own POST. Terminal 1 runs under `script` so curl
 * has a terminal, as in the seed (piped, curl holds its output until it exits).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { eventually, startSseServer } from '../helpers/sse.ts';

const missing = ['curl', 'script'].filter((cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0);
const skip = missing.length > 0 ? `${missing.join(' and ')} not installed` : false;

interface Terminal {
  proc: ChildProcess;
  /** Everything printed so far, with the terminal's CRLF turned back into LF. */
  output(): string;
  /** Resolves once the output contains `text`. */
  shows(text: string, timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
  close(): void;
}

/** Runs a shell command line in a pseudo-terminal, like a user's terminal window. */
function terminal(commandLine: string): Terminal {
  const proc = spawn('script', ['-qfec', commandLine, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  let done = false;
  void exited.then(() => (done = true));
  const output = () => out.replace(/\r\n/g, '\n');
  return {
    proc,
    output,
    exited,
    async shows(text, timeoutMs = 5000) {
      await eventually(() => output().includes(text) || done, `terminal never showed ${JSON.stringify(text)}; it shows:\n${output()}`, timeoutMs);
      assert.ok(output().includes(text), `terminal exited without showing ${JSON.stringify(text)}; it shows:\n${output()}`);
    },
    close() {
      // Ctrl-C in the terminal, as a user stops curl; SIGKILL if anything is left later.
      if (!done) proc.stdin!.write('\x03');
      setTimeout(() => {
        if (!done) process.kill(-proc.pid!, 'SIGKILL');
      }, 3000).unref();
    },
  };
}

/** Seed 000's terminal 2, character for character except the port. */
const SEED_POST = (port: string) => `curl -sk -X POST https://localhost:${port}/realtime-demo/message \\
  -H "Content-Type: application/json" \\
  -d '{"id":"test-1","title":"Live","content":"SSE is working"}'`;

test('seed 000, two terminals: curl listens on the collection, curl POSTs, the update arrives', { skip }, async (t) => {
  const s = await startSseServer(t, { tls: true });
  const port = new URL(s.url).port;
  const listen = terminal(`curl -sk --max-time 20 "https://localhost:${port}/realtime-demo/message?stream=sse"`);
  s.defer(() => listen.close());
  await listen.shows('data: {"type":"connected","status":"ok"}\n\n');
  assert.equal(listen.output(), 'retry: 3000\n\nevent: message\nid: 0\ndata: {"type":"connected","status":"ok"}\n\n');

  const write = terminal(SEED_POST(port));
  assert.equal(await write.exited, 0);
  assert.equal(write.output(), '{"id":"test-1","title":"Live","content":"SSE is working"}');

  const update = 'event: update\nid: 1\ndata: {"id":"test-1","title":"Live","content":"SSE is working"}\n\n';
  await listen.shows(update);
  await s.req('DELETE', '/realtime-demo/message/test-1');
  await listen.shows('event: delete\nid: 2\ndata: {"id":"test-1"}\n\n');
  assert.equal(listen.output(), `retry: 3000\n\nevent: message\nid: 0\ndata: {"type":"connected","status":"ok"}\n\n${update}event: delete\nid: 2\ndata: {"id":"test-1"}\n\n`);
  listen.close();
  await listen.exited;
  await eventually(() => s.server.streams.size === 0, 'the server freed the stream when curl went away');
});

test('seed 000 record-level subscription with curl: retained record, update, publish, delete', { skip }, async (t) => {
  const s = await startSseServer(t, { tls: true });
  const port = new URL(s.url).port;
  await s.req('POST', '/realtime-demo/message', { id: 'msg-1', title: 'Hello', content: 'World' });
  const listen = terminal(`curl -sk "https://localhost:${port}/realtime-demo/message/msg-1?stream=sse"`);
  s.defer(() => listen.close());
  await listen.shows('event: message\nid: 1\ndata: {"id":"msg-1","title":"Hello","content":"World"}\n\n');

  await s.req('POST', '/realtime-demo/message', { id: 'msg-2', title: 'other', content: 'record' });
  await s.req('PATCH', '/realtime-demo/message/msg-1', { content: 'again' });
  const publish = terminal(`curl -sk -X POST https://localhost:${port}/realtime-demo/message/msg-1 -H "Content-Type: application/json" -d '{"text":"typing…"}'`);
  assert.equal(await publish.exited, 0);
  assert.match(publish.output(), /"published":true/);
  await s.req('DELETE', '/realtime-demo/message/msg-1');
  await listen.shows('event: delete\nid: 5\ndata: {"id":"msg-1"}\n\n');
  assert.equal(
    listen.output(),
    [
      'retry: 3000\n\n',
      'event: message\nid: 1\ndata: {"type":"connected","status":"ok"}\n\n',
      'event: message\nid: 1\ndata: {"id":"msg-1","title":"Hello","content":"World"}\n\n',
      'event: update\nid: 3\ndata: {"id":"msg-1","title":"Hello","content":"again"}\n\n',
      'event: publish\nid: 4\ndata: {"id":"msg-1","message":{"text":"typing…"}}\n\n',
      'event: delete\nid: 5\ndata: {"id":"msg-1"}\n\n',
    ].join(''),
  );
});

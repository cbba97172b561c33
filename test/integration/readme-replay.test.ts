/**
 * The README's examples, run in order on a fresh data directory, show what they say.
 *
 * Every ```sh block right after a `<!-- replay -->` comment is replayed, in README order, with real
 * curl (and node) against one real server: HTTPS with its generated self-signed certificate, the
 * shipped `schemas/`, a fresh data directory at `<tmp>/data`, and commands run in `<tmp>` so that
 * `data/tls/cert.pem` means what it means in a clone. `https://localhost:9996` becomes the test's
 * port. In a block:
 * - a command (with its `\` continuation lines) is followed by `# → <line>` comments: what it prints.
 *   A command must exit 0 and print exactly those lines;
 * - a stream (`stream=sse` or `text/event-stream`) is another terminal: it runs in the background
 *   (with curl's `-N`, as a terminal would show it: unbuffered) and the block goes on once its
 *   connection frame has arrived; after the block's other commands its `# →` lines must appear in
 *   its output, in that order (other lines may come between: ids, blank lines, retained records);
 * - other comments are for readers.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { createServer } from '../../src/server.ts';
import { ROOT } from '../helpers/fixtures.ts';
import { tmpDir } from '../helpers/server.ts';
import { eventually } from '../helpers/sse.ts';

const skip = spawnSync('sh', ['-c', 'command -v curl']).status === 0 ? false : 'curl is not installed';
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

interface Command {
  line: string;
  expect: string[];
  stream: boolean;
}

/** The replayable blocks of a README, in order, each as its commands. */
function replayBlocks(markdown: string): Command[][] {
  const blocks = [...markdown.matchAll(/<!-- replay -->\n```sh\n([\s\S]*?)\n```/g)].map((m) => m[1]!);
  return blocks.map((block) => {
    const commands: Command[] = [];
    let pending = '';
    for (const raw of block.split('\n')) {
      const expected = /^# → ?(.*)$/.exec(raw);
      if (expected) {
        assert.ok(commands.length > 0, `a "# →" line with no command before it:\n${block}`);
        commands.at(-1)!.expect.push(expected[1]!);
      } else if (pending || (raw.trim() && !raw.startsWith('#'))) {
        pending += (pending ? '\n' : '') + raw;
        if (!raw.endsWith('\\')) {
          commands.push({ line: pending, expect: [], stream: /stream=sse|text\/event-stream/.test(pending) });
          pending = '';
        }
      }
    }
    return commands;
  });
}

/** Whether `expected` appears within `lines` in order (other lines may sit between). */
function inOrder(lines: string[], expected: string[]): boolean {
  let i = 0;
  for (const line of lines) if (i < expected.length && line === expected[i]) i++;
  return i === expected.length;
}

/** Starts a server as `npm start` would on a fresh clone (HTTPS, shipped schemas), on a free port. */
async function freshServer(t: TestContext): Promise<{ port: string; cwd: string }> {
  const cwd = tmpDir('tablecast-readme-');
  const server = await createServer({ port: 0, host: 'localhost', logLevel: 'silent', data: join(cwd, 'data'), schemas: join(ROOT, 'schemas') });
  const url = await server.listen();
  t.after(async () => {
    await server.close();
    rmSync(cwd, { recursive: true, force: true });
  });
  assert.match(url, /^https:/, 'the default server speaks HTTPS');
  return { port: new URL(url).port, cwd };
}

/** Replays every block against a fresh server; throws on the first example that does not show what it says. */
async function replay(t: TestContext, markdown: string): Promise<void> {
  const { port, cwd } = await freshServer(t);
  // The README's commands as a user's shell runs them: this node first on PATH, and no TLS
  // overrides inherited from the environment (the examples must bring their own).
  const env: Record<string, string | undefined> = { ...process.env, PATH: dirname(process.execPath) + delimiter + process.env.PATH };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_TLS_REJECT_UNAUTHORIZED;
  const shell = (line: string) => spawn('sh', ['-c', line.replaceAll('https://localhost:9996', `https://localhost:${port}`)], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });

  for (const [b, commands] of replayBlocks(markdown).entries()) {
    const streams: Array<{ command: Command; output: () => string; stop: () => Promise<void> }> = [];
    try {
      for (const command of commands) {
        if (command.stream) {
          const proc = shell(command.line.replace(/^curl /, 'curl -N '));
          let out = '';
          proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
          proc.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
          const exited = new Promise((r) => proc.on('exit', r));
          streams.push({
            command,
            output: () => out,
            async stop() {
              if (proc.exitCode === null && proc.signalCode === null) process.kill(-proc.pid!, 'SIGTERM');
              await exited;
            },
          });
          await eventually(() => out.includes('"type":"connected"'), `block ${b + 1}: the stream never connected:\n${command.line}\n${out}`, 10_000);
          continue;
        }
        const proc = shell(command.line);
        let stdout = '';
        let stderr = '';
        proc.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        const timer = setTimeout(() => process.kill(-proc.pid!, 'SIGKILL'), 20_000);
        const code = await new Promise((r) => proc.on('exit', (c, s) => r(c ?? s)));
        clearTimeout(timer);
        assert.equal(code, 0, `block ${b + 1}: ${command.line}\nexited ${code}\n${stdout}${stderr}`);
        assert.equal(stdout.trimEnd(), command.expect.join('\n'), `block ${b + 1}: ${command.line}\nprinted what the README does not say`);
      }
      for (const s of streams) {
        const lines = () => s.output().split('\n');
        await eventually(() => inOrder(lines(), s.command.expect), `block ${b + 1}: ${s.command.line}\nnever showed, in order:\n${s.command.expect.join('\n')}\nit showed:\n${s.output()}`, 10_000);
      }
    } finally {
      await Promise.all(streams.map((s) => s.stop()));
    }
  }
}

test('the README examples marked <!-- replay --> run in order on a fresh data directory and print what the README says', { skip, timeout: 120_000 }, async (t) => {
  const blocks = replayBlocks(README);
  // Try it, the Node passage, the two SSE examples: losing a marker must not quietly shrink the test.
  assert.ok(blocks.length >= 4, `replayable blocks found: ${blocks.length}`);
  for (const commands of blocks)
    assert.ok(
      commands.every((c) => c.expect.length > 0),
      `every replayed command says what it prints:\n${commands.map((c) => c.line).join('\n')}`,
    );
  await replay(t, README);
});

test('the replay catches an example that trips over an earlier one (Try it creating the id the SSE example POSTs)', { skip, timeout: 120_000 }, async (t) => {
  // Before issue #12 "Try it" created test-1, and seed 000's terminal 2 then got a 409: nothing streamed.
  const tryIt = README.indexOf('## Try it');
  const sse = README.indexOf('## Realtime: Server-Sent Events');
  const broken = README.slice(0, tryIt) + README.slice(tryIt, sse).replaceAll('hello-1', 'test-1') + README.slice(sse);
  await assert.rejects(replay(t, broken), (err: unknown) => err instanceof assert.AssertionError && String(err.actual).includes('"code":"CONFLICT"'));
});

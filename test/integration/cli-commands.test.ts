/**
 * The small commands of the CLI and its usage errors: `--version`, `help`, `init`, and one clear
 * sentence for an unknown flag (with the flag it was probably meant to be) or a flag missing its value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/fixtures.ts';
import { cliEnv } from '../helpers/cli-env.ts';
import { tmpDir } from '../helpers/server.ts';

const run = promisify(execFile);
// Resolved here, so the CLI also runs with a working directory outside the checkout.
const TSX = import.meta.resolve('tsx');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Runs the CLI; outside the checkout it reads the folder's own tablecast.config.json, as a user's would. */
async function cli(args: string[], cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  const { TABLECAST_CONFIG, ...env } = cliEnv();
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', TSX, join(ROOT, 'src/cli.ts'), ...args], { cwd, env: cwd === ROOT ? { ...env, TABLECAST_CONFIG } : env, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('--version, -v and version print the package version', async () => {
  for (const args of [['--version'], ['-v'], ['version']]) {
    const r = await cli(args);
    assert.deepEqual(r, { code: 0, stdout: `tablecast ${VERSION}\n`, stderr: '' }, args.join(' '));
  }
});

test('help lists every command and flag', async () => {
  const r = await cli(['help']);
  assert.equal(r.code, 0);
  for (const word of ['start', 'check', 'init', 'hash-password', 'version', '--port', '--no-tls', '--log-level', '--config']) assert.ok(r.stdout.includes(word), word);
  assert.deepEqual(await cli(['--help']), r);
});

test('a usage error is one sentence naming the flag, exit 2', async () => {
  const cases: Array<[string[], string]> = [
    [['start', '--prot', '8080'], 'unknown flag --prot (did you mean --port?)'],
    [['--verison'], 'unknown flag --verison (did you mean --version?)'],
    [['check', '--frobnicate'], 'unknown flag --frobnicate'],
    [['start', '--port'], 'flag --port needs a value, e.g. --port <n>'],
    [['start', '--data', '--no-tls'], 'flag --data needs a value, e.g. --data <dir>'],
    [['start', '--no-tls=yes'], 'flag --no-tls takes no value (remove "=yes")'],
    [['start', '-x'], 'unknown flag -x'],
  ];
  for (const [args, sentence] of cases) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, `tablecast: ${sentence}; "tablecast help" lists every command and flag\n`);
    assert.equal(r.stdout, '');
  }
  // A value given with `=` and a value that looks like a path are not flags.
  const ok = await cli(['check', '--schemas=schemas', '--data', '-']);
  assert.equal(ok.code, 0, ok.stderr);
});

test('init writes a starter project that check accepts, and never overwrites', async (t) => {
  const dir = tmpDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const first = await cli(['init'], dir);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(readdirSync(dir).sort(), ['schemas', 'tablecast.config.json']);
  assert.deepEqual(readdirSync(join(dir, 'schemas')), ['message.graphql']);
  assert.match(first.stdout, /next: npx tablecast start/);
  const config = JSON.parse(readFileSync(join(dir, 'tablecast.config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.port, 9996);

  // `check` in that folder finds the config file and the schema by itself.
  const check = await cli(['check'], dir);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /^realtime-demo\.Message {2}\/realtime-demo\/message {2}key id$/m);

  // A second init (or one over a user's edits) refuses and changes nothing.
  writeFileSync(join(dir, 'tablecast.config.json'), '{"port": 8080}\n');
  const again = await cli(['init'], dir);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists.*changed nothing/);
  assert.equal(readFileSync(join(dir, 'tablecast.config.json'), 'utf8'), '{"port": 8080}\n');

  // Into a named folder that does not exist yet.
  const named = await cli(['init', 'app'], dir);
  assert.equal(named.code, 0, named.stderr);
  assert.deepEqual(readdirSync(join(dir, 'app')).sort(), ['schemas', 'tablecast.config.json']);
  assert.match(named.stdout, /next: cd app && npx tablecast start/);
});

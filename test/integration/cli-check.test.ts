/**
 * `tablecast check` runs every check that start-up runs, and `tablecast start` refuses what `check`
 * reports, with the same lines: settings named where they were set (the config file's JSON path,
 * the variable, the flag), schema problems at `file:line:column`, every problem at once, exit 1,
 * never a stack trace. A port in use or a port the user may not bind gets one plain sentence.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { hashPassword } from '../../src/auth/password.ts';
import { AppError } from '../../src/errors.ts';
import { generateSelfSigned } from '../../src/http/self-signed.ts';
import { ROOT } from '../helpers/fixtures.ts';
import { MESSAGE_SDL, schemaDir, startServer, tmpDir } from '../helpers/server.ts';
import { asUnprivileged } from '../helpers/unprivileged.ts';
import { cliEnv } from '../helpers/cli-env.ts';

interface Run {
  code: number | string;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real CLI to completion (killed after 20 s: a start that wrongly succeeds), in `cwd`: the
 * checkout, or a mirror of it another user can read (`asUnprivileged`).
 */
function cli(args: string[], env: Record<string, string> = {}, wrapper: string[] = [], cwd = ROOT): Promise<Run> {
  const command = [...wrapper, process.execPath, '--import', 'tsx', 'src/cli.ts', ...args];
  const proc = spawn(command[0]!, command.slice(1), { cwd, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  return new Promise((done) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      done({ code: code ?? signal ?? -1, stdout, stderr });
    });
  });
}

/** `check` and `start` on the same settings, side by side. */
async function checkAndStart(args: string[], env: Record<string, string> = {}): Promise<{ check: Run; start: Run }> {
  const [check, start] = await Promise.all([cli(['check', ...args], env), cli(['start', '--host', '127.0.0.1', ...args], env)]);
  return { check, start };
}

/** Both refused with exit 1 and the very same problem lines, nothing on stdout, no stack trace. */
function assertRefusedAlike({ check, start }: { check: Run; start: Run }): string[] {
  assert.equal(check.code, 1, `check exits 1:\n${check.stderr}`);
  assert.equal(start.code, 1, `start exits 1:\n${start.stderr}${start.stdout}`);
  assert.equal(check.stdout, '');
  assert.doesNotMatch(start.stdout + start.stderr, /serving/);
  assert.equal(start.stderr, check.stderr, 'start refuses with what check reports');
  for (const out of [check.stderr, start.stderr]) assert.doesNotMatch(out, /^\s+at |\.ts:\d+:\d+\)?$/m, `no stack trace:\n${out}`);
  return check.stderr.split('\n');
}

/** The line of `lines` that starts with `  <where>: ` and contains `text`. */
function lineAt(lines: string[], where: string, text: string | RegExp): string {
  const line = lines.find((l) => l.startsWith(`  ${where}: `) && (typeof text === 'string' ? l.includes(text) : text.test(l)));
  assert.ok(line, `a line at ${where} saying ${text}:\n${lines.join('\n')}`);
  return line;
}

const APP_SDL = `type Note @table(database: "app") @export(name: "note") {
  id: ID!
  owner: String
}
type Vault @table(database: "app") @export(name: "vault") @sealed {
  id: ID!
  owner: String
}
type Login @table(database: "auth") @export(name: "login") {
  id: ID!
}
type Panel @table(database: "admin") @export {
  id: ID!
}
type Query @table(database: "app") @export(name: "graphql") {
  id: ID!
}
type Screen @table(database: "console") @export {
  id: ID!
}
`;

test('check lists every problem of settings, environment and schema at once, each where it is; start refuses with the same lines', async (t) => {
  const schemas = schemaDir({ 'app.graphql': APP_SDL });
  const dir = tmpDir();
  t.after(() =>
    [schemas, dir].forEach((d) => {
      rmSync(d, { recursive: true, force: true });
    }),
  );
  const good = await hashPassword('pw');
  const config = join(dir, 'tablecast.config.json');
  writeFileSync(
    config,
    JSON.stringify({
      bodyLimit: 5,
      auth: {
        users: { bob: { password: 'scrypt$16384$8$1$salt', roles: ['r'] }, ann: { password: good, roles: ['r'] } },
        roles: {
          r: {
            tables: {
              'app/nope': ['read'],
              'zzz/*': ['read'],
              'app/note': { read: { filter: 'owner=[' } },
              'app/vault': { read: { filter: 'colour=red' }, update: { filter: 'owner=ann' } },
            },
          },
        },
      },
    }),
  );
  const dataFile = join(dir, 'data-is-a-file');
  writeFileSync(dataFile, 'not a directory');
  const args = ['--schemas', schemas, '--config', config, '--data', dataFile, '--cert', join(dir, 'missing-cert.pem'), '--key', join(dir, 'missing-key.pem')];
  const lines = assertRefusedAlike(await checkAndStart(args, { TABLECAST_PORT: 'abc' }));

  // The environment variable, not the setting it feeds.
  lineAt(lines, 'TABLECAST_PORT', 'must be a number');
  assert.ok(!lines.some((l) => l.startsWith('  port:')), 'not named by the merged key');
  // Config-file keys: the file and the JSON path.
  lineAt(lines, `${config}: bodyLimit`, '1024');
  lineAt(lines, `${config}: auth.users.bob.password`, 'tablecast hash-password');
  assert.ok(!lines.some((l) => l.includes('auth.users.ann')), 'a good hash passes');
  lineAt(lines, `${config}: auth.roles.r.tables["app/nope"]`, 'names no table');
  lineAt(lines, `${config}: auth.roles.r.tables["zzz/*"]`, 'names no table');
  lineAt(lines, `${config}: auth.roles.r.tables["app/note"].read.filter`, '"owner=["');
  lineAt(lines, `${config}: auth.roles.r.tables["app/vault"].read.filter`, /colour/);
  assert.ok(!lines.some((l) => l.includes('app/vault"].update')), 'a filter on a declared attribute passes');
  // Schema: file:line:column of the type whose URL the server owns.
  const file = join(schemas, 'app.graphql');
  lineAt(lines, `${file}:9:6`, '/auth/login');
  lineAt(lines, `${file}:12:6`, '/admin/Panel');
  lineAt(lines, `${file}:18:6`, '/console');
  lineAt(lines, `${file}:15:6`, '/app/graphql');
  // Flags, and what they name on disk.
  lineAt(lines, '--cert', 'missing-cert.pem');
  lineAt(lines, '--key', 'missing-key.pem');
  lineAt(lines, '--data', /cannot open the data directory .*not a directory/);
  assert.match(lines[0]!, /^tablecast: invalid configuration and schema \(14 problems\):$/);
  assert.equal(lines.filter((l) => l.startsWith('  ')).length, 14, 'one line per problem');
});

test("a JSON variable is named with the path inside it; a schema that does not compile is listed with the settings; a key that is not the certificate's", async (t) => {
  const schemas = schemaDir({ 'a.graphql': 'type A @table {\n  id: ID!\n  x: Nope\n}\n' });
  const dir = tmpDir();
  t.after(() =>
    [schemas, dir].forEach((d) => {
      rmSync(d, { recursive: true, force: true });
    }),
  );
  const [one, two] = await Promise.all([generateSelfSigned(), generateSelfSigned()]);
  writeFileSync(join(dir, 'cert.pem'), one.cert);
  writeFileSync(join(dir, 'other-key.pem'), two.key);
  writeFileSync(join(dir, 'garbage.pem'), 'not PEM');
  const env = {
    TABLECAST_AUTH: JSON.stringify({ users: { bob: { password: 'scrypt$x', roles: ['r'] } }, roles: { r: { tables: { '*': ['read'] } } } }),
    TABLECAST_BODY_LIMIT: '10',
    TABLECAST_CERT: join(dir, 'cert.pem'),
    TABLECAST_DATA: join(dir, 'data'),
  };
  const mismatched = assertRefusedAlike(await checkAndStart(['--schemas', schemas, '--key', join(dir, 'other-key.pem')], env));
  lineAt(mismatched, 'TABLECAST_AUTH: users.bob.password', 'tablecast hash-password');
  lineAt(mismatched, 'TABLECAST_BODY_LIMIT', '1024');
  lineAt(mismatched, `${join(schemas, 'a.graphql')}:3:6`, 'Nope');
  lineAt(mismatched, '--key', 'is not the private key of the certificate');
  assert.equal(mismatched.filter((l) => l.startsWith('  ')).length, 4, mismatched.join('\n'));

  const garbage = assertRefusedAlike(await checkAndStart(['--key', join(dir, 'garbage.pem')], { TABLECAST_SCHEMAS: join(dir, 'no-such-dir'), TABLECAST_CERT: join(dir, 'garbage.pem') }));
  lineAt(garbage, '--key', 'no unencrypted PEM private key');
  lineAt(garbage, 'TABLECAST_CERT', 'no PEM certificate');
  lineAt(garbage, 'TABLECAST_SCHEMAS', /schema directory .*no-such-dir does not exist/);
});

test('check passes what start accepts, and createServer refuses the same problems in code (named by their keys)', async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const dir = tmpDir();
  t.after(() =>
    [schemas, dir].forEach((d) => {
      rmSync(d, { recursive: true, force: true });
    }),
  );
  const ok = await cli(['check', '--schemas', schemas, '--data', join(dir, 'new/data')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^ok: 1 table\(s\) in 1 file\(s\)$/m);

  const auth = { users: { bob: { password: 'scrypt$1$1$1$a$', roles: ['r'] } }, roles: { r: { tables: { 'realtime-demo/nothing': ['read'] } } } };
  await assert.rejects(startServer({ schemas, data: join(dir, 'data'), auth }), (err) => {
    assert.ok(err instanceof AppError && err.code === 'CONFIG_INVALID', String(err));
    assert.match(err.message, /^ {2}auth\.users\.bob\.password: /m);
    assert.match(err.message, /^ {2}auth\.roles\.r\.tables\["realtime-demo\/nothing"\]: .*names no table/m);
    assert.equal((err.details as unknown[]).length, 2);
    return true;
  });
});

test('a port in use and a port the user may not bind: one plain sentence naming the setting, exit 1', async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const data = tmpDir();
  const blocker = createNetServer();
  await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
  t.after(() => {
    blocker.close();
    [schemas, data].forEach((d) => {
      rmSync(d, { recursive: true, force: true });
    });
  });
  const port = (blocker.address() as AddressInfo).port;
  const taken = await cli(['start', '--no-tls', '--host', '127.0.0.1', '--data', data, '--schemas', schemas], { TABLECAST_PORT: String(port) });
  assert.equal(taken.code, 1, taken.stderr + taken.stdout);
  const sentence = taken.stderr
    .trim()
    .split('\n')
    .find((l) => l.startsWith('tablecast:'));
  assert.equal(sentence, `tablecast: cannot start: port ${port} on 127.0.0.1 is already in use by another process; stop it or choose another port (TABLECAST_PORT)`);
  assert.doesNotMatch(taken.stderr + taken.stdout, /^\s+at |EADDRINUSE/m, 'no stack, no error code to decode');

  const as = asUnprivileged();
  if (typeof as === 'string' || as.wrapper.length === 0) {
    t.diagnostic(`EACCES not tried: ${typeof as === 'string' ? as : 'needs root (to run as nobody)'}`);
    return;
  }
  t.after(as.cleanup);
  const { wrapper } = as;
  // The unprivileged user must read the schemas and write a data directory of its own: the one
  // above holds files root made, which check refuses (the next assertion).
  chmodSync(schemas, 0o755);
  chmodSync(join(schemas, 'message.graphql'), 0o644);
  chmodSync(data, 0o777);
  const rootsFiles = await cli(['check', '--data', data, '--schemas', schemas], {}, wrapper, as.cwd);
  assert.equal(rootsFiles.code, 1, rootsFiles.stdout);
  assert.match(rootsFiles.stderr, /^ {2}--data: cannot open the data directory .*permission denied \(tablecast\.mdb is not writable\)$/m);
  const own = tmpDir();
  t.after(() => rmSync(own, { recursive: true, force: true }));
  chmodSync(own, 0o777);
  const denied = await cli(['start', '--no-tls', '--host', '127.0.0.1', '--port', '80', '--data', own, '--schemas', schemas], {}, wrapper, as.cwd);
  assert.equal(denied.code, 1, denied.stderr + denied.stdout);
  assert.match(denied.stderr, /^tablecast: cannot start: permission denied to listen on port 80 on 127\.0\.0\.1 \(ports below 1024 need privileges\); choose another port \(--port\)$/m);
  assert.doesNotMatch(denied.stderr + denied.stdout, /^\s+at /m);
});

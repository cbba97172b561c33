/**
 * Configuration and the command line: `loadConfig` merges file < env < flags and lists every
 * problem at once; `tablecast check` answers with exit codes and `file:line:column` problems;
 * `tablecast start` serves plain HTTP with `--no-tls` or TABLECAST_TLS=false, HTTPS with a
 * generated certificate kept in the data directory (and reused), or with `--cert/--key`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import { jsonPath, loadConfig, mergeConfig, settingLocation } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';
import { generateSelfSigned } from '../../src/http/self-signed.ts';
import { startChild, type Child } from '../helpers/child.ts';
import { cliEnv } from '../helpers/cli-env.ts';
import { ROOT } from '../helpers/fixtures.ts';
import { MESSAGE_SDL, httpRequest, schemaDir, startServer, tmpDir } from '../helpers/server.ts';

const run = promisify(execFile);

/** Runs the real CLI to completion: exit code, stdout, stderr. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, env: cliEnv(env), timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The CONFIG_INVALID error `fn` throws. */
function configError(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError, String(err));
    assert.equal(err.code, 'CONFIG_INVALID');
    return err;
  }
  return assert.fail('expected CONFIG_INVALID');
}

/** The certificate a TLS server presents, as PEM-independent fingerprint. */
async function servedFingerprint(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false, servername: 'localhost' }, () => {
      const fp = socket.getPeerX509Certificate()?.fingerprint256;
      socket.end();
      fp ? resolve(fp) : reject(new Error('no certificate'));
    });
    socket.on('error', reject);
  });
}

async function stop(child: Child): Promise<void> {
  child.proc.kill('SIGTERM');
  await child.exited;
}

test('loadConfig: defaults, resolved against cwd, frozen', (t) => {
  const cwd = tmpDir();
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  const c = loadConfig({ cwd, env: {} });
  assert.equal(c.port, 9996);
  assert.equal(c.host, 'localhost');
  assert.equal(c.schemas, join(cwd, 'schemas'));
  assert.equal(c.data, join(cwd, 'data'));
  assert.equal(c.tls, true);
  assert.equal(c.durability, 'commit');
  assert.equal(c.bodyLimit, 1024 * 1024);
  assert.equal(c.pingInterval, 15_000);
  assert.equal(c.retention, 86_400_000);
  assert.equal(c.expirySweepInterval, 1000);
  assert.equal(c.logLevel, 'info');
  assert.equal(c.cert, undefined);
  assert.ok(Object.isFrozen(c));
});

test('loadConfig: the config file is weakest, then TABLECAST_* variables, then flags', (t) => {
  const cwd = tmpDir();
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  writeFileSync(
    join(cwd, 'tablecast.config.json'),
    JSON.stringify({ port: 1000, host: 'file-host', data: 'file-data', schemas: 'file-schemas', durability: 'sync', logLevel: 'warn', retention: 5000 }),
  );
  const env = { TABLECAST_PORT: '2000', TABLECAST_HOST: 'env-host', TABLECAST_LOG_LEVEL: 'error', TABLECAST_TLS: 'false', TABLECAST_DATA: '' };
  const c = loadConfig({ cwd, env, flags: { port: '3000', schemas: '/abs/schemas' } });
  assert.equal(c.port, 3000, 'flag beats env and file');
  assert.equal(c.host, 'env-host', 'env beats file');
  assert.equal(c.logLevel, 'error');
  assert.equal(c.tls, false);
  assert.equal(c.data, join(cwd, 'file-data'), 'an empty variable is not set; the file value stays');
  assert.equal(c.schemas, '/abs/schemas');
  assert.equal(c.durability, 'sync');
  assert.equal(c.retention, 5000);
  // Without flags and env, the file alone.
  assert.equal(loadConfig({ cwd, env: {} }).port, 1000);
  // An explicit file, relative to cwd, replaces the default one.
  mkdirSync(join(cwd, 'conf'));
  writeFileSync(join(cwd, 'conf/other.json'), JSON.stringify({ port: 4000 }));
  const other = loadConfig({ cwd, env: {}, configFile: 'conf/other.json' });
  assert.equal(other.port, 4000);
  assert.equal(other.host, 'localhost');
  // Every TABLECAST_* name scripts rely on.
  const named = loadConfig({
    cwd,
    configFile: 'conf/other.json',
    env: {
      TABLECAST_PORT: '8080',
      TABLECAST_HOST: '0.0.0.0',
      TABLECAST_SCHEMAS: 's',
      TABLECAST_DATA: 'd',
      TABLECAST_TLS: 'true',
      TABLECAST_CERT: 'c.pem',
      TABLECAST_KEY: 'k.pem',
      TABLECAST_DURABILITY: 'sync',
      TABLECAST_BODY_LIMIT: '2048',
      TABLECAST_PING_INTERVAL: '100',
      TABLECAST_RETENTION: '200',
      TABLECAST_EXPIRY_SWEEP_INTERVAL: '300',
      TABLECAST_LOG_LEVEL: 'silent',
    },
  });
  assert.deepEqual(
    [
      named.port,
      named.host,
      named.schemas,
      named.data,
      named.tls,
      named.cert,
      named.key,
      named.durability,
      named.bodyLimit,
      named.pingInterval,
      named.retention,
      named.expirySweepInterval,
      named.logLevel,
    ],
    [8080, '0.0.0.0', join(cwd, 's'), join(cwd, 'd'), true, join(cwd, 'c.pem'), join(cwd, 'k.pem'), 'sync', 2048, 100, 200, 300, 'silent'],
  );
});

test('loadConfig: every problem from every source is listed at once', (t) => {
  const cwd = tmpDir();
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  writeFileSync(join(cwd, 'tablecast.config.json'), JSON.stringify({ port: 'eighty', bogus: true }));
  const err = configError(() => loadConfig({ cwd, env: { TABLECAST_DURABILITY: 'fast', TABLECAST_BODY_LIMIT: '10', TABLECAST_TLS: 'maybe' }, flags: { cert: 'c.pem', logLevel: 'loud' as never } }));
  const paths = (err.details as Array<{ path: string }>).map((p) => p.path).sort();
  assert.deepEqual(paths, ['bodyLimit', 'bogus', 'durability', 'key', 'logLevel', 'port', 'tls']);
  // Each on its own line, named where it was set: the file's JSON path, the variable, the flag.
  const file = join(cwd, 'tablecast.config.json');
  const where = [`${file}: port`, `${file}: bogus`, 'TABLECAST_DURABILITY', 'TABLECAST_BODY_LIMIT', 'TABLECAST_TLS', '--cert', '--log-level'];
  for (const w of where)
    assert.ok(
      err.message.split('\n').some((line) => line.startsWith(`  ${w}: `)),
      `${w} has its own line:\n${err.message}`,
    );
  assert.match(err.message, /^invalid configuration \(7 problems\):$/m);

  const empty = tmpDir();
  t.after(() => rmSync(empty, { recursive: true, force: true }));
  for (const port of ['-1', '65536', '1.5', 'abc']) {
    const problems = configError(() => loadConfig({ cwd: empty, env: { TABLECAST_PORT: port } })).details as Array<{ path: string }>;
    assert.deepEqual(
      problems.map((p) => p.path),
      ['port'],
      port,
    );
  }
  const tls = (value: string) => loadConfig({ cwd: empty, env: { TABLECAST_TLS: value } }).tls;
  assert.deepEqual(['false', '0', 'no', 'true', '1', 'yes'].map(tls), [false, false, false, true, true, true]);
});

test("mergeConfig remembers where each setting came from, and copies of the configuration (createServer's options) keep it", (t) => {
  const cwd = tmpDir();
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  const file = join(cwd, 'tablecast.config.json');
  writeFileSync(file, JSON.stringify({ host: 'file-host', port: 1 }));
  const merged = mergeConfig({ cwd, env: { TABLECAST_PORT: '2', TABLECAST_CORS: '{}' }, flags: { data: 'd', tls: false, bodyLimit: '2048' } });
  assert.equal(settingLocation(merged, ['port']), 'TABLECAST_PORT', 'the strongest source names it');
  assert.equal(settingLocation(merged, ['host']), `${file}: host`);
  assert.equal(settingLocation(merged, ['auth', 'roles', 'r', 'tables', 'db/*']), 'auth.roles.r.tables["db/*"]', 'not given anywhere: the path');
  assert.equal(settingLocation(merged, ['cors', 'origins']), 'TABLECAST_CORS: origins', 'a path inside a JSON variable');
  assert.equal(settingLocation(merged, ['tls']), '--no-tls');
  assert.equal(settingLocation(merged, ['bodyLimit']), '--body-limit');
  const { ...copy } = loadConfig({ cwd, env: { TABLECAST_PORT: '2' }, flags: { data: 'd' } });
  assert.equal(copy.port, 2);
  assert.equal(settingLocation(copy, ['port']), 'TABLECAST_PORT');
  assert.equal(settingLocation(copy, ['data']), '--data');
  assert.equal(jsonPath(['origins', 0, 'a-b', 'c']), 'origins[0]["a-b"].c');
});

test('loadConfig: a config file that is missing (when named), unreadable or not a JSON object', (t) => {
  const cwd = tmpDir();
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  assert.match(configError(() => loadConfig({ cwd, configFile: 'nope.json' })).message, /nope\.json/);
  writeFileSync(join(cwd, 'bad.json'), '{"port": 1,');
  assert.match(configError(() => loadConfig({ cwd, configFile: 'bad.json' })).message, /bad\.json/);
  writeFileSync(join(cwd, 'list.json'), '[1, 2]');
  assert.match(configError(() => loadConfig({ cwd, configFile: 'list.json' })).message, /JSON object/);
  // The default file may be absent.
  assert.equal(loadConfig({ cwd, env: {} }).port, 9996);
});

test('tablecast check: exit 0 with the tables; exit 1 with file:line:column for every schema problem', async (t) => {
  const good = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const broken = schemaDir({
    'a.graphql': 'type A @table {\n  id: ID! @primaryKey\n  x: Nope\n}\n',
    'sub/b.graphql': 'type B @table {\n  id: ID!\n  y: Strin @indexed\n  z: Int @createdTime\n}\n',
  });
  const syntax = schemaDir({ 'c.graphql': 'type C @table {\n  id: ID!\n' });
  const cfgDir = tmpDir();
  writeFileSync(join(cfgDir, 'bad.json'), JSON.stringify({ port: 'x', durability: 'fast', nonsense: 1 }));
  t.after(() =>
    [good, broken, syntax, cfgDir].forEach((d) => {
      rmSync(d, { recursive: true, force: true });
    }),
  );

  const [ok, bad, badSyntax, badConfig, unknownFlag, unknownCommand] = await Promise.all([
    cli(['check', '--schemas', good]),
    cli(['check', '--schemas', broken]),
    cli(['check', '--schemas', syntax]),
    cli(['check', '--schemas', good, '--cert', 'c.pem'], { TABLECAST_CONFIG: join(cfgDir, 'bad.json') }),
    cli(['check', '--bogus']),
    cli(['frobnicate', '--port', 'not-a-port']),
  ]);

  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^realtime-demo\.Message {2}\/realtime-demo\/message {2}key id$/m);
  assert.match(ok.stdout, /^ok: 1 table\(s\) in 1 file\(s\)$/m);

  assert.equal(bad.code, 1);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /invalid schema \(3 problems\)/);
  // One `file:line:column: message` line per problem, in every file.
  assert.ok(bad.stderr.includes(`${join(broken, 'a.graphql')}:3:6: `), bad.stderr);
  assert.ok(bad.stderr.includes(`${join(broken, 'sub/b.graphql')}:3:6: `), bad.stderr);
  assert.ok(bad.stderr.includes(`${join(broken, 'sub/b.graphql')}:4:`), bad.stderr);
  assert.match(bad.stderr, /Nope/);
  assert.match(bad.stderr, /Strin/);
  assert.doesNotMatch(bad.stderr, /at .*\.ts:\d+/, 'no stack trace for a schema problem');
  assert.equal(badSyntax.code, 1);
  assert.ok(badSyntax.stderr.includes(`${join(syntax, 'c.graphql')}:3:1: Syntax Error`), badSyntax.stderr);

  assert.equal(badConfig.code, 1);
  assert.equal(badConfig.stdout, '');
  for (const w of ['port', 'durability', 'nonsense'].map((p) => `${join(cfgDir, 'bad.json')}: ${p}`).concat('--cert')) {
    assert.ok(badConfig.stderr.includes(`\n  ${w}: `), `${w}:\n${badConfig.stderr}`);
  }

  assert.equal(unknownFlag.code, 2, unknownFlag.stderr);
  // One sentence naming the flag, not Node's parser message or a page of usage.
  assert.equal(unknownFlag.stderr, 'tablecast: unknown flag --bogus; "tablecast help" lists every command and flag\n');
  assert.equal(unknownCommand.code, 2);
  assert.match(unknownCommand.stderr, /unknown command "frobnicate"/);
});

test('tablecast start --no-tls serves plain HTTP over the given directories', async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const data = tmpDir();
  t.after(() =>
    [schemas, data].forEach((d) => {
      rmSync(d, { recursive: true, force: true });
    }),
  );
  const child = await startChild(['--no-tls', '--data', data, '--schemas', schemas]);
  try {
    assert.match(child.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(child.output(), /plain HTTP/);
    const created = await httpRequest(`${child.url}/realtime-demo/message`, 'POST', { id: 'x', title: 't', content: 'c' });
    assert.equal(created.status, 201);
    assert.ok(existsSync(join(data, 'tablecast.mdb')), 'the LMDB file is in the chosen data directory');
    assert.equal(existsSync(join(data, 'tls')), false, 'no certificate without TLS');
  } finally {
    await stop(child);
  }
});

test('tablecast start: HTTPS by default, certificate generated into data/tls (directories from TABLECAST_*)', async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const data = tmpDir();
  t.after(() =>
    [schemas, data].forEach((d) => {
      rmSync(d, { recursive: true, force: true });
    }),
  );

  const first = await startChild([], { TABLECAST_DATA: data, TABLECAST_SCHEMAS: schemas });
  try {
    assert.match(first.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(first.output(), /HTTP\/2 \+ HTTP\/1\.1, self-signed certificate in /);
    const certPem = readFileSync(join(data, 'tls/cert.pem'), 'utf8');
    assert.equal(statSync(join(data, 'tls/key.pem')).mode & 0o077, 0, 'the key is readable by its owner only');
    const cert = new X509Certificate(certPem);
    assert.match(cert.subjectAltName ?? '', /DNS:localhost/);
    assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    assert.equal(await servedFingerprint(first.url), cert.fingerprint256);
    assert.equal((await httpRequest(`${first.url}/realtime-demo/message`, 'POST', { id: 'x', title: 't', content: 'c' })).status, 201);
    assert.ok(existsSync(join(data, 'tablecast.mdb')));
  } finally {
    await stop(first);
  }
  // Reuse on the next start is shown in-process below (each CLI start costs a second or two).
});

test('tablecast start: --cert/--key serve the given certificate; a missing file is a start-up error', async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const data = tmpDir();
  const pki = tmpDir();
  t.after(() =>
    [schemas, data, pki].forEach((d) => {
      rmSync(d, { recursive: true, force: true });
    }),
  );
  const pair = await generateSelfSigned();
  writeFileSync(join(pki, 'cert.pem'), pair.cert);
  writeFileSync(join(pki, 'key.pem'), pair.key);

  const child = await startChild(['--data', data, '--schemas', schemas, '--cert', join(pki, 'cert.pem'), '--key', join(pki, 'key.pem')]);
  try {
    assert.match(child.output(), /certificate from --cert/);
    assert.equal(await servedFingerprint(child.url), new X509Certificate(pair.cert).fingerprint256);
    assert.equal(existsSync(join(data, 'tls')), false, 'nothing generated when a certificate is given');
    assert.equal((await httpRequest(`${child.url}/health`)).status, 200);
  } finally {
    await stop(child);
  }
  // A missing file stops start-up with CONFIG_INVALID naming it; a lone --cert is a config problem.
  await assert.rejects(
    startServer({ schemas, tls: true, cert: join(pki, 'nope.pem'), key: join(pki, 'key.pem') }),
    (err) => err instanceof AppError && err.code === 'CONFIG_INVALID' && /nope\.pem/.test(err.message),
  );
  assert.match(configError(() => loadConfig({ cwd: pki, env: {}, flags: { cert: 'cert.pem' } })).message, /--cert and --key go together/);
});

test('createServer with tls: true generates, then reuses, the certificate in the data directory', async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const data = tmpDir();
  t.after(() => {
    for (const d of [schemas, data]) rmSync(d, { recursive: true, force: true });
  });
  const first = await startServer({ schemas, data, tls: true });
  assert.equal(first.server.tls, 'generated');
  assert.match(first.url, /^https:/);
  const pem = readFileSync(join(data, 'tls/cert.pem'), 'utf8');
  await first.close();
  const second = await startServer({ schemas, data, tls: true });
  t.after(() => second.close());
  assert.equal(second.server.tls, 'reused');
  assert.equal(readFileSync(join(data, 'tls/cert.pem'), 'utf8'), pem);
  assert.equal(await servedFingerprint(second.url), new X509Certificate(pem).fingerprint256);
});

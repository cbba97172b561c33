/**
 * The package as a user gets it: `npm pack` of this checkout, installed into an empty project
 * without dev dependencies, then used with nothing but plain Node: `import { createServer } from
 * 'tablecast'` and `tablecast/client`, a consumer file type-checked against the shipped declarations,
 * and `npx tablecast`.
 * `npm test` builds dist/ first (`npm run build`); this file tests that build.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateSelfSigned } from '../../src/http/self-signed.ts';
import { parentChain, spawnServer, waitGone } from '../helpers/child.ts';
import { ROOT, writeConsumerTsconfig } from '../helpers/fixtures.ts';
import { MESSAGE_SDL, tmpDir } from '../helpers/server.ts';

const run = promisify(execFile);
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
const work = tmpDir();
const app = join(work, 'app');
let installLog = '';

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist/index.js')), 'dist/ is missing: run `npm run build` (npm test does)');
  // --ignore-scripts: `prepare` would rebuild dist/ under the feet of other test files.
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, timeout: 60_000 });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  writeFileSync(join(work, 'files.json'), JSON.stringify(packed!.files.map((f) => f.path)));
  mkdirSync(app);
  // What the README tells an app to write: lmdb and msgpackr-extract run from prebuilt binaries,
  // so their install scripts (build-from-source fallbacks) are declined, as npm 11 asks.
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', allowScripts: { lmdb: false, 'msgpackr-extract': false } }));
  const install = await run('npm', ['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', join(work, packed!.filename)], { cwd: app, timeout: 180_000 });
  installLog = install.stdout + install.stderr;
  mkdirSync(join(app, 'schemas'));
  writeFileSync(join(app, 'schemas/message.graphql'), MESSAGE_SDL);
});
after(() => rmSync(work, { recursive: true, force: true }));

test('the tarball ships the compiled package and nothing else', () => {
  const files = JSON.parse(readFileSync(join(work, 'files.json'), 'utf8')) as string[];
  for (const f of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'dist/server.d.ts', 'dist/cli.bundle.cjs', 'dist/cli.bundle.cache']) assert.ok(files.includes(f), f);
  for (const f of ['dist/client/node.js', 'dist/client/node.d.ts', 'dist/client/browser.js', 'dist/client/browser.d.ts']) assert.ok(files.includes(f), f);
  const consoleFiles = ['dist/console/index.html', 'dist/console/console.js', 'dist/console/console.css'];
  for (const f of consoleFiles) assert.ok(files.includes(f), f);
  const stray = files.filter(
    (f) =>
      !(f === 'package.json' || f === 'README.md' || (f.startsWith('dist/') && /\.(js|d\.ts)$/.test(f)) || f === 'dist/cli.bundle.cjs' || f === 'dist/cli.bundle.cache' || consoleFiles.includes(f)),
  );
  assert.deepEqual(stray, [], 'only dist/*.js and *.d.ts, the command line bundle and its code cache, the console page, package.json and README.md');
  assert.ok(!files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), 'no TypeScript source');
});

test('installing it on Node 20 prints no warning but the notice for a tarball source', () => {
  assert.doesNotMatch(installLog, /EBADENGINE/);
  // npm 11 asks about `prepare` only for non-registry sources (this tarball); from the registry
  // it neither runs nor asks. Every other warning line fails the test.
  const warnings = installLog.split('\n').filter((l) => /npm (warn|WARN)/.test(l) && !/install-scripts( |$)/.test(l));
  assert.deepEqual(warnings, []);
  const scriptNotice = installLog.split('\n').filter((l) => /install-scripts {3}\S/.test(l));
  assert.ok(
    scriptNotice.every((l) => l.includes(`${PKG.name}@${PKG.version} (prepare`)),
    scriptNotice.join('\n'),
  );
  assert.ok(!existsSync(join(app, 'node_modules/tsx')), 'tsx is a dev dependency');
  assert.ok(!existsSync(join(app, 'node_modules/typescript')), 'typescript is a dev dependency');
});

test('plain Node imports createServer; reflect-metadata stays out unless a certificate is made', async () => {
  const { cert, key } = await generateSelfSigned();
  writeFileSync(join(work, 'cert.pem'), cert);
  writeFileSync(join(work, 'key.pem'), key);
  const script = `
    import { createServer, AppError } from 'tablecast';
    const out = { loaders: process.execArgv.filter((a) => /^--(import|loader|require|experimental)/.test(a)) };
    for (const tls of [{ tls: false }, { cert: ${JSON.stringify(join(work, 'cert.pem'))}, key: ${JSON.stringify(join(work, 'key.pem'))} }]) {
      const server = await createServer({ port: 0, host: '127.0.0.1', schemas: './schemas', data: './data-' + ('cert' in tls), logLevel: 'silent', ...tls });
      const url = await server.listen();
      const created = await server.tables['realtime-demo'].message.create({ id: 'm', title: 't', content: 'c' }).then(() => 'created', (e) => e.code);
      // The console's page comes from the installed package's dist/console/.
      const page = tls.tls === false ? (await fetch(url + '/console')).headers.get('content-type') : 'https';
      out[url.split(':')[0]] = { health: tls.tls === false ? (await fetch(url + '/health')).status : 'https', created, page };
      await server.close();
    }
    out.reflect = typeof Reflect.getMetadata;
    out.appError = new AppError('NOT_FOUND', 'x').statusCode;
    console.log(JSON.stringify(out));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app, timeout: 30_000 });
  assert.deepEqual(JSON.parse(stdout), {
    loaders: [],
    http: { health: 200, created: 'created', page: 'text/html; charset=utf-8' },
    https: { health: 'https', created: 'created', page: 'https' },
    reflect: 'undefined',
    appError: 404,
  });
});

test('plain Node imports tablecast/client (its undici entry, a dependency) and talks to a server', async () => {
  const script = `
    import { createServer } from 'tablecast';
    import { createClient, ClientError } from 'tablecast/client';
    const server = await createServer({ port: 0, host: '127.0.0.1', schemas: './schemas', data: './data-client', logLevel: 'silent', tls: false });
    const url = await server.listen();
    const client = createClient({ url });
    const messages = client.table('realtime-demo', 'message');
    const events = messages.subscribe({ retained: false });
    while (server.streams.size === 0) await new Promise((r) => setTimeout(r, 10));
    const created = await messages.create({ id: 'c', title: 't', content: 'from the package' });
    const event = (await events.next()).value;
    const missing = await messages.get('nope').catch((e) => e instanceof ClientError && e.code);
    await client.close();
    await server.close();
    console.log(JSON.stringify({ created, event, missing, entry: import.meta.resolve('tablecast/client').split('/node_modules/')[1] }));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app, timeout: 30_000 });
  const record = { id: 'c', title: 't', content: 'from the package' };
  assert.deepEqual(JSON.parse(stdout), { created: record, event: { type: 'update', cursor: '1', record }, missing: 'NOT_FOUND', entry: 'tablecast/dist/client/node.js' });
});

test('a consumer type-checks against the shipped declarations', async () => {
  writeFileSync(
    join(app, 'consumer.ts'),
    `import { createServer, AppError, type ServerOptions, type TablecastServer, type ErrorCode } from 'tablecast';
import { createClient, ClientError } from 'tablecast/client';
const options: ServerOptions = { port: 0, tls: false, logLevel: 'warn' };
const server: TablecastServer = await createServer(options);
const url: string = await server.listen();
const code: ErrorCode = new AppError('NOT_FOUND', url).code;
const client = createClient({ url, auth: { bearer: 'token' }, ca: 'PEM' });
const messages = client.table('realtime-demo', 'message');
const record: { [attribute: string]: unknown } = await messages.get('msg-1');
for await (const event of messages.subscribe({ filter: { title: 'Hello' }, signal: AbortSignal.timeout(10) })) {
  if (event.type === 'update') console.log(event.cursor, event.record);
}
const failure: ClientError = new ClientError('NOT_FOUND', 404, 'gone');
// @ts-expect-error: a client needs the server's url
createClient({ auth: 'cookie' });
// @ts-expect-error: not a subscribe option
messages.subscribe({ since: 5 });
// @ts-expect-error: not a log level
await createServer({ logLevel: 'loud' });
// @ts-expect-error: there is no such method
server.listenTwice();
export { code, record, failure };
`,
  );
  writeConsumerTsconfig(app);
  const tsc = join(ROOT, 'node_modules/.bin/tsc');
  // An unused @ts-expect-error is itself an error: declarations typed as `any` would fail here.
  await run(tsc, ['-p', app], { cwd: app, timeout: 60_000 }).catch((err: { stdout: string }) => assert.fail(`tsc:\n${err.stdout}`));
  // And a wrong use is caught, not waved through.
  writeFileSync(join(app, 'consumer.ts'), `import { createServer } from 'tablecast';\nawait createServer({ durability: 'sometimes' });\n`);
  const failed = await run(tsc, ['-p', app], { cwd: app, timeout: 60_000 }).then(
    () => '',
    (err: { stdout: string }) => err.stdout,
  );
  assert.match(failed, /consumer\.ts\(2,\d+\): error TS\d+: Type '"sometimes"' is not assignable/);
});

test('npx tablecast --version, and SIGTERM to npx stops the server it started', async () => {
  const { stdout } = await run('npx', ['--no-install', 'tablecast', '--version'], { cwd: app, timeout: 30_000 });
  assert.equal(stdout, `tablecast ${PKG.version}\n`);

  const npx = await spawnServer('npx', ['--no-install', 'tablecast', 'start', '--port', '0', '--host', '127.0.0.1', '--no-tls', '--data', './data-npx'], { cwd: app });
  assert.notEqual(npx.serverPid, npx.proc.pid, 'npx runs the bin in a child process');
  npx.proc.kill('SIGTERM');
  let chain = '';
  assert.ok(await waitGone(npx.serverPid, 10_000, () => (chain = parentChain(npx.serverPid))), `the server (pid ${npx.serverPid}) outlived npx: ${chain}\n${npx.output()}`);
  assert.match(npx.output(), /(parent|npm) process gone: shutting down|SIGTERM: shutting down/);
});

test('SIGKILL to npx stops the server too: the shell npm ran lives on, so the server watches npm itself', async () => {
  const npx = await spawnServer('npx', ['--no-install', 'tablecast', 'start', '--port', '0', '--host', '127.0.0.1', '--no-tls', '--data', './data-npx-kill'], { cwd: app });
  npx.proc.kill('SIGKILL');
  let chain = '';
  assert.ok(await waitGone(npx.serverPid, 10_000, () => (chain = parentChain(npx.serverPid))), `the server (pid ${npx.serverPid}) outlived npx: ${chain}\n${npx.output()}`);
  // A graceful close, not a kill: the store was closed.
  assert.match(npx.output(), /(npm|parent) process gone: shutting down/);
});

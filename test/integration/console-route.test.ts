/**
 * `/console` (README › Console): the page's three files from dist/console/ (built by `npm run
 * build`), with their content types, a strong ETag (304 on a match), `no-cache`, and a CSP on the
 * page; off with `console: false`, `TABLECAST_CONSOLE=false` or `--no-console` (404). The command
 * line bundle (dist/cli.js) finds the files too. `/console/schema.json` describes only the tables
 * the caller may read, with what its roles allow.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { hashPassword } from '../../src/auth/password.ts';
import { loadConfig } from '../../src/config.ts';
import { spawnServer, startChild } from '../helpers/child.ts';
import { httpRequest, MESSAGE_SDL, schemaDir, startServer, tmpDir } from '../helpers/server.ts';

const built = existsSync(new URL('../../dist/console/console.js', import.meta.url));
const skip = built ? false : 'dist/console/ is missing: run `npm run build` (npm test does)';

test('the page, its script and its style: types, ETag, no-cache, CSP; 304 on a matching If-None-Match', { skip }, async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const s = await startServer({ schemas });
  t.after(async () => {
    await s.close();
    rmSync(schemas, { recursive: true, force: true });
  });
  const page = await s.req('GET', '/console');
  assert.equal(page.status, 200);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.match(page.text, /<title>tablecast console<\/title>/);
  assert.doesNotMatch(page.text, /<script>|<style>|\son\w+=/, 'no inline script, style or handler');
  const csp = String(page.headers['content-security-policy']);
  assert.match(csp, /default-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(page.headers['cache-control'], 'no-cache');
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  const etag = String(page.headers.etag);
  assert.match(etag, /^"[\w-]+"$/);

  const again = await s.req('GET', '/console', undefined, { 'if-none-match': etag });
  assert.equal(again.status, 304);
  assert.equal(again.text, '');
  assert.equal((await s.req('GET', '/console', undefined, { 'if-none-match': '"other"' })).status, 200);

  const script = await s.req('GET', '/console/console.js');
  assert.equal(script.status, 200);
  assert.equal(script.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.notEqual(script.headers.etag, etag);
  assert.ok(script.text.includes('EventSource'), 'the bundled page script');
  const style = await s.req('GET', '/console/console.css');
  assert.equal(style.headers['content-type'], 'text/css; charset=utf-8');
  const head = await s.req('HEAD', '/console/console.css');
  assert.equal(head.status, 200);
  assert.equal(head.headers.etag, style.headers.etag);

  const other = await s.req('GET', '/console/nope.js');
  assert.equal(other.status, 404);
  assert.equal(other.body.code, 'ROUTE_NOT_FOUND');
});

test('console: false (and TABLECAST_CONSOLE=false) turns the page off: 404, the API unchanged', async (t) => {
  assert.equal(loadConfig({}).console, true, 'on by default');
  assert.equal(loadConfig({ env: { TABLECAST_CONSOLE: 'false' } }).console, false);
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const s = await startServer({ schemas, console: false });
  t.after(async () => {
    await s.close();
    rmSync(schemas, { recursive: true, force: true });
  });
  for (const path of ['/console', '/console/console.js', '/console/console.css', '/console/schema.json']) {
    const res = await s.req('GET', path);
    assert.equal(res.status, 404, path);
    assert.equal(res.body.code, 'ROUTE_NOT_FOUND', path);
  }
  assert.equal((await s.req('GET', '/')).body.databases['realtime-demo'][0], '/realtime-demo/message');
});

test('tablecast start --no-console answers 404; the command line bundle serves the page', { skip }, async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const data = tmpDir();
  const off = await startChild(['--no-tls', '--workers', '1', '--no-console', '--data', `${data}/off`, '--schemas', schemas]);
  const bundled = await spawnServer(process.execPath, ['dist/cli.js', 'start', '--port', '0', '--host', '127.0.0.1', '--no-tls', '--workers', '1', '--data', `${data}/on`, '--schemas', schemas]);
  t.after(async () => {
    for (const c of [off, bundled]) {
      c.proc.kill('SIGTERM');
      await c.exited;
    }
    rmSync(schemas, { recursive: true, force: true });
    rmSync(data, { recursive: true, force: true });
  });
  assert.equal((await httpRequest(`${off.url}/console`)).status, 404);
  const page = await httpRequest(`${bundled.url}/console`);
  assert.equal(page.status, 200, page.text);
  assert.match(page.text, /\/console\/console\.js/);
});

const LEDGER_SDL = `type Entry @table(database: "books", expiration: 60) @export(name: "entry", sse: false) @sealed {
  code: Int! @primaryKey
  account: String! @indexed
  tags: [String!]
}
`;

test('/console/schema.json: the tables the caller may read, their attributes, and the actions its roles allow', async (t) => {
  const hash = await hashPassword('pw');
  const auth = {
    users: { alice: { password: hash, roles: ['reader'] }, ed: { password: hash, roles: ['editor'] } },
    roles: { reader: { tables: { 'realtime-demo/message': ['read'] } }, editor: { tables: { '*': ['read', 'insert', 'delete'] } } },
  };
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL, 'entry.graphql': LEDGER_SDL });
  const s = await startServer({ schemas, auth });
  t.after(async () => {
    await s.close();
    rmSync(schemas, { recursive: true, force: true });
  });
  const as = (user: string) => ({ authorization: `Basic ${Buffer.from(`${user}:pw`).toString('base64')}` });

  const anonymous = await s.req('GET', '/console/schema.json');
  assert.equal(anonymous.status, 200);
  assert.deepEqual(anonymous.body, { tables: [] });
  assert.match(String(anonymous.headers['cache-control']), /private/);

  const alice = await s.req('GET', '/console/schema.json', undefined, as('alice'));
  assert.deepEqual(alice.body, {
    tables: [
      {
        database: 'realtime-demo',
        name: 'message',
        path: '/realtime-demo/message',
        primaryKey: 'id',
        sealed: false,
        sse: true,
        fields: [
          { name: 'id', type: 'ID', required: true, primaryKey: true, indexed: false },
          { name: 'title', type: 'String', required: true, primaryKey: false, indexed: false },
          { name: 'content', type: 'String', required: true, primaryKey: false, indexed: false },
        ],
        allowed: ['read'],
      },
    ],
  });

  const ed = await s.req('GET', '/console/schema.json', undefined, as('ed'));
  const entry = ed.body.tables.find((x: any) => x.path === '/books/entry');
  assert.equal(ed.body.tables.length, 2);
  assert.deepEqual(entry, {
    database: 'books',
    name: 'entry',
    path: '/books/entry',
    primaryKey: 'code',
    sealed: true,
    sse: false,
    expiration: 60,
    fields: [
      { name: 'code', type: 'Int', required: true, primaryKey: true, indexed: false },
      { name: 'account', type: 'String', required: true, primaryKey: false, indexed: true },
      { name: 'tags', type: '[String!]', required: false, primaryKey: false, indexed: false },
    ],
    allowed: ['read', 'insert', 'delete'],
  });
  // A wrong password is refused as everywhere else, not answered as anonymous.
  assert.equal((await s.req('GET', '/console/schema.json', undefined, { authorization: `Basic ${Buffer.from('ed:nope').toString('base64')}` })).status, 401);
});

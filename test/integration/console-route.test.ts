/**
 * `/console` (README › Console): the page's three files from dist/console/ (built by `npm run
 * build`), with their content types, a strong ETag (304 on a match), `no-cache`, and a CSP on the
 * page; off with `console: false`, `TABLECAST_CONSOLE=false` or `--no-console` (404). The command
 * line bundle (dist/cli.js) finds the files too. `/console/schema.json` describes only the tables
 * the caller may read, with what its roles allow, and `/console/actions.json` which row-limited
 * actions it may take on given records.
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
  assert.doesNotMatch(page.text, /<script(?![^>]*\ssrc=)[^>]*>|<style[\s>]|\son\w+=/, 'no inline script, style or handler');
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
  assert.deepEqual(anonymous.body, { session: { user: null, roles: ['anonymous'], via: 'anonymous', auth: true, admin: false }, tables: [] });
  assert.match(String(anonymous.headers['cache-control']), /private/);

  const alice = await s.req('GET', '/console/schema.json', undefined, as('alice'));
  assert.deepEqual(alice.body, {
    session: { user: 'alice', roles: ['reader'], via: 'basic', auth: true, admin: false },
    tables: [
      {
        database: 'realtime-demo',
        name: 'message',
        path: '/realtime-demo/message',
        primaryKey: 'id',
        sealed: false,
        sse: true,
        fields: [
          { name: 'id', type: 'ID', kind: 'scalar', required: true, primaryKey: true, indexed: false, auto: false },
          { name: 'title', type: 'String', kind: 'scalar', required: true, primaryKey: false, indexed: false, auto: false },
          { name: 'content', type: 'String', kind: 'scalar', required: true, primaryKey: false, indexed: false, auto: false },
        ],
        allowed: ['read'],
        limited: [],
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
      { name: 'code', type: 'Int', kind: 'scalar', required: true, primaryKey: true, indexed: false, auto: false },
      { name: 'account', type: 'String', kind: 'scalar', required: true, primaryKey: false, indexed: true, auto: false },
      { name: 'tags', type: '[String!]', kind: 'list', required: false, primaryKey: false, indexed: false, auto: false },
    ],
    allowed: ['read', 'insert', 'delete'],
    limited: [],
  });
  // A wrong password is refused as everywhere else, not answered as anonymous.
  assert.equal((await s.req('GET', '/console/schema.json', undefined, { authorization: `Basic ${Buffer.from('ed:nope').toString('base64')}` })).status, 401);
});

test('/console/actions.json: per record, the row-limited actions the caller may take, judged by the write rules; enums, server-set times, admins', async (t) => {
  const hash = await hashPassword('pw');
  const TASK = `enum Level { low high }
type Task @table(database: "work") @export(name: "task") {
  id: ID! @primaryKey
  owner: String
  level: Level
  at: Long @createdTime
}
`;
  const auth = {
    users: { alice: { password: hash, roles: ['member'] }, root: { password: hash, roles: ['ops'] } },
    roles: {
      // Reads every task, changes and publishes to its own, deletes only the low ones it owns.
      member: { tables: { 'work/task': { read: true, insert: true, update: { filter: 'owner=$user' }, publish: { filter: 'owner=$user' }, delete: { filter: 'owner=$user&level=low' } } } },
      ops: { admin: true, tables: { '*': ['read'] } },
    },
  };
  const schemas = schemaDir({ 'task.graphql': TASK });
  const s = await startServer({ schemas, auth });
  t.after(async () => {
    await s.close();
    rmSync(schemas, { recursive: true, force: true });
  });
  const as = (user: string) => ({ authorization: `Basic ${Buffer.from(`${user}:pw`).toString('base64')}` });
  for (const [id, owner, level] of [
    ['a1', 'alice', 'low'],
    ['a2', 'alice', 'high'],
    ['b1', 'bob', 'low'],
  ]) {
    assert.equal((await s.req('POST', '/work/task', { id, owner, level }, as('alice'))).status, 201);
  }

  const schema = (await s.req('GET', '/console/schema.json', undefined, as('alice'))).body;
  assert.deepEqual(schema.session, { user: 'alice', roles: ['member'], via: 'basic', auth: true, admin: false });
  const [task] = schema.tables;
  assert.deepEqual(task.allowed, ['read', 'insert', 'update', 'delete', 'publish']);
  assert.deepEqual(task.limited, ['update', 'delete', 'publish']);
  assert.deepEqual(
    task.fields.find((f: any) => f.name === 'level'),
    { name: 'level', type: 'Level', kind: 'enum', values: ['low', 'high'], required: false, primaryKey: false, indexed: false, auto: false },
  );
  assert.equal(task.fields.find((f: any) => f.name === 'at').auto, true);
  assert.equal((await s.req('GET', '/console/schema.json', undefined, as('root'))).body.session.admin, true);

  const actions = (query: string, user = 'alice') => s.req('GET', `/console/actions.json?${query}`, undefined, as(user));
  const mine = await actions('table=/work/task&key=a1&key=a2&key=b1&key=nope');
  assert.equal(mine.status, 200);
  assert.match(String(mine.headers['cache-control']), /private, no-store/);
  // An absent key is left out; each record gets what the write rules would allow on it.
  assert.deepEqual(mine.body, { actions: { a1: ['update', 'delete', 'publish'], a2: ['update', 'publish'], b1: [] } });
  // What it says is what the server does.
  assert.equal((await s.req('PATCH', '/work/task/b1', { level: 'high' }, as('alice'))).status, 403);
  assert.equal((await s.req('DELETE', '/work/task/a2', undefined, as('alice'))).status, 403);
  assert.equal((await s.req('PATCH', '/work/task/a2', { level: 'low' }, as('alice'))).status, 200);
  assert.deepEqual((await actions('table=/work/task&key=a2')).body, { actions: { a2: ['update', 'delete', 'publish'] } });
  // Not the caller's to ask: anonymous (no read) is 401; bad requests are 4xx and bounded.
  assert.equal((await s.req('GET', '/console/actions.json?table=/work/task&key=a1')).status, 401);
  assert.equal((await actions('key=a1')).status, 400);
  assert.equal((await actions('table=/work/nothing&key=a1')).status, 404);
  assert.equal((await actions('table=/work/task/a1&key=a1')).status, 404);
  const many = await actions(`table=/work/task&${Array.from({ length: 101 }, (_, i) => `key=k${i}`).join('&')}`);
  assert.equal(many.status, 400);
  assert.match(many.body.message, /at most 100 keys/);
});

test('a stale session cookie does not keep the page from loading; its schema.json is a 401 saying why', { skip }, async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const s = await startServer({ schemas, auth: { users: { ed: { password: await hashPassword('pw'), roles: ['editor'] } }, roles: { editor: { tables: { '*': ['read'] } } } } });
  t.after(async () => {
    await s.close();
    rmSync(schemas, { recursive: true, force: true });
  });
  const stale = { cookie: 'tablecast_session=no-longer-valid' };
  for (const path of ['/console', '/console/console.js', '/console/console.css']) assert.equal((await s.req('GET', path, undefined, stale)).status, 200, path);
  const schema = await s.req('GET', '/console/schema.json', undefined, stale);
  assert.equal(schema.status, 401);
  assert.equal(schema.body.code, 'UNAUTHORIZED');
  // The page's files only: a table with that cookie is still refused.
  assert.equal((await s.req('GET', '/realtime-demo/message', undefined, stale)).status, 401);
});

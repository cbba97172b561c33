/**
 * `--static DIR` (src/http/static-files.ts) on a real server: content types, caching headers and
 * 304s, HEAD, no listing, no way out of the directory, the single-page-app fallback, API routes
 * winning over files, streaming of a large file, and start-up refusing a missing directory.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_STATIC_PATH } from '../../src/http/static-files.ts';
import { createServer } from '../../src/server.ts';
import { hashPassword } from '../../src/auth/password.ts';
import { SHOP_SDL, assertError, serve } from '../helpers/fixtures.ts';
import { agent, tmpDir, type Res, type TestServer } from '../helpers/server.ts';

const INDEX = '<!doctype html><title>app</title><script src="app.js"></script>';

/** A public directory with pages, assets, a dotfile, a directory without index, links in and out. */
function publicDir(t: TestContext): { dir: string; outside: string } {
  const base = tmpDir('tablecast-static-');
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const dir = join(base, 'public');
  const outside = join(base, 'secret.txt');
  writeFileSync(outside, 'outside the directory');
  mkdirSync(join(dir, 'docs'), { recursive: true });
  mkdirSync(join(dir, 'empty'));
  mkdirSync(join(dir, 'shop'));
  mkdirSync(join(dir, 'auth'));
  mkdirSync(join(dir, 'channels', 'room'), { recursive: true });
  writeFileSync(join(dir, 'index.html'), INDEX);
  writeFileSync(join(dir, 'app.js'), 'console.log("app")');
  writeFileSync(join(dir, 'style.CSS'), 'body{}');
  writeFileSync(join(dir, 'logo.svg'), '<svg/>');
  writeFileSync(join(dir, 'data.bin'), Buffer.from([0, 1, 2, 3]));
  writeFileSync(join(dir, 'notes.unknownext'), 'text');
  writeFileSync(join(dir, 'with space.txt'), 'spaced');
  writeFileSync(join(dir, '.env'), 'SECRET=1');
  writeFileSync(join(dir, 'docs', 'index.html'), '<p>docs</p>');
  writeFileSync(join(dir, 'docs', 'page.html'), '<p>page</p>');
  writeFileSync(join(dir, 'health'), 'a file named like an API route');
  writeFileSync(join(dir, 'shop', 'product'), 'a file named like a table');
  writeFileSync(join(dir, 'shop', 'notes.txt'), 'under a database name, no table of that name');
  writeFileSync(join(dir, 'auth', 'login'), 'a file named like the login route');
  writeFileSync(join(dir, 'channels', 'room', 'x'), 'a file under the channel routes');
  symlinkSync(outside, join(dir, 'escape.txt'));
  symlinkSync(base, join(dir, 'up'));
  symlinkSync(join(dir, 'app.js'), join(dir, 'alias.js'));
  symlinkSync(join(dir, '.env'), join(dir, 'envlink'));
  return { dir, outside };
}

/** A request sent with its path exactly as given (no URL normalisation of `..` or `%2e`). */
async function raw(s: TestServer, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Res> {
  const res = await agent.request({ origin: s.url, path, method: method as 'GET', headers });
  const text = await res.body.text();
  const json = String(res.headers['content-type'] ?? '').includes('json') && text ? JSON.parse(text) : text;
  return { status: res.statusCode, headers: res.headers as Res['headers'], body: json, text };
}

async function serveStatic(t: TestContext, statics: { fallback?: boolean; maxAge?: number } = {}): Promise<TestServer> {
  const { dir } = publicDir(t);
  return serve(t, { 'shop.graphql': SHOP_SDL }, { static: { dir, ...statics } });
}

test('files are served with the content type of their extension, nosniff, and their length', async (t) => {
  const s = await serveStatic(t);
  const expected: Array<[string, string, string]> = [
    ['/app.js', 'text/javascript; charset=utf-8', 'console.log("app")'],
    ['/style.CSS', 'text/css; charset=utf-8', 'body{}'],
    ['/logo.svg', 'image/svg+xml', '<svg/>'],
    ['/docs/page.html', 'text/html; charset=utf-8', '<p>page</p>'],
    ['/data.bin', 'application/octet-stream', '\u0000\u0001\u0002\u0003'],
    ['/notes.unknownext', 'application/octet-stream', 'text'],
    ['/with%20space.txt', 'text/plain; charset=utf-8', 'spaced'],
    ['/alias.js', 'text/javascript; charset=utf-8', 'console.log("app")'],
    ['/app.js?v=3', 'text/javascript; charset=utf-8', 'console.log("app")'],
  ];
  for (const [path, type, body] of expected) {
    const res = await raw(s, path);
    assert.equal(res.status, 200, `${path}: ${res.text}`);
    assert.equal(res.headers['content-type'], type, path);
    assert.equal(res.headers['x-content-type-options'], 'nosniff', path);
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(body)), path);
    assert.equal(res.text, body, path);
  }
});

test('ETag and Last-Modified give 304s; html and (by default) everything is no-cache; maxAge caches the rest', async (t) => {
  const s = await serveStatic(t);
  const first = await raw(s, '/app.js');
  const etag = String(first.headers.etag);
  assert.match(etag, /^W\/"[0-9a-f]+-[0-9a-f]+"$/);
  assert.equal(first.headers['cache-control'], 'no-cache');
  const modified = String(first.headers['last-modified']);
  assert.ok(!Number.isNaN(Date.parse(modified)));

  const cases: Array<[Record<string, string>, number]> = [
    [{ 'if-none-match': etag }, 304],
    [{ 'if-none-match': etag.slice(2) }, 304],
    [{ 'if-none-match': `"other", ${etag}` }, 304],
    [{ 'if-none-match': '*' }, 304],
    [{ 'if-none-match': '"other"' }, 200],
    [{ 'if-modified-since': modified }, 304],
    [{ 'if-modified-since': new Date(Date.parse(modified) + 60_000).toUTCString() }, 304],
    [{ 'if-modified-since': new Date(Date.parse(modified) - 60_000).toUTCString() }, 200],
    [{ 'if-modified-since': 'not a date' }, 200],
    // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    [{ 'if-none-match': '"other"', 'if-modified-since': modified }, 200],
  ];
  for (const [headers, status] of cases) {
    const res = await raw(s, '/app.js', headers);
    assert.equal(res.status, status, JSON.stringify(headers));
    if (status === 304) {
      assert.equal(res.text, '', 'a 304 has no body');
      assert.equal(res.headers.etag, etag);
      assert.equal(res.headers['cache-control'], 'no-cache');
    }
  }
  // A changed file has a new ETag: the old one no longer matches.
  utimesSync(join(s.server.config.static!.dir, 'app.js'), new Date(), new Date(Date.now() + 5000));
  assert.equal((await raw(s, '/app.js', { 'if-none-match': etag })).status, 200);

  const cached = await serveStatic(t, { maxAge: 3600 });
  assert.equal((await raw(cached, '/app.js')).headers['cache-control'], 'public, max-age=3600');
  assert.equal((await raw(cached, '/docs/page.html')).headers['cache-control'], 'no-cache', 'pages are always revalidated');
});

test('HEAD answers the headers of GET without the body', async (t) => {
  const s = await serveStatic(t);
  const get = await raw(s, '/logo.svg');
  const head = await raw(s, '/logo.svg', {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.text, '');
  for (const name of ['content-type', 'content-length', 'etag', 'last-modified', 'cache-control', 'x-content-type-options']) {
    assert.equal(head.headers[name], get.headers[name], name);
  }
  assert.equal((await raw(s, '/logo.svg', { 'if-none-match': String(get.headers.etag) }, 'HEAD')).status, 304);
  assert.equal((await raw(s, '/missing.svg', {}, 'HEAD')).status, 404);
});

test('no directory listing: a directory answers its index.html, else 404; /dir redirects to /dir/', async (t) => {
  const s = await serveStatic(t);
  const docs = await raw(s, '/docs/');
  assert.equal(docs.status, 200);
  assert.equal(docs.text, '<p>docs</p>');
  assert.equal(docs.headers['content-type'], 'text/html; charset=utf-8');
  const redirect = await raw(s, '/docs?x=1');
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.location, '/docs/?x=1');
  assertError(await raw(s, '/empty/'), 404, 'ROUTE_NOT_FOUND', 'a directory without index.html');
  assert.equal((await raw(s, '/empty')).headers.location, '/empty/', 'a directory without index redirects like any other, then 404s');
  assertError(await raw(s, '/missing.js'), 404, 'ROUTE_NOT_FOUND');
  assertError(await raw(s, '/.env'), 404, 'ROUTE_NOT_FOUND', 'dotfiles are never served');
  assertError(await raw(s, '/envlink'), 404, 'ROUTE_NOT_FOUND', 'nor through a link to one');
  assertError(await raw(s, '/docs//page.html'), 404, 'ROUTE_NOT_FOUND', 'an empty segment names no file');
  assertError(await raw(s, '/app.js', {}, 'POST'), 404, 'ROUTE_NOT_FOUND', 'files answer GET and HEAD only');
});

test('no path leaves the directory: .., encoded dots and slashes, backslashes, NUL, links out; long paths', async (t) => {
  const s = await serveStatic(t);
  const refused: Array<[string, number]> = [
    ['/../secret.txt', 400],
    ['/docs/../../secret.txt', 400],
    ['/%2e%2e/secret.txt', 400],
    ['/%2E%2E/secret.txt', 400],
    ['/docs/%2e%2e%2f%2e%2e%2fsecret.txt', 400],
    ['/..%2fsecret.txt', 400],
    ['/%2e/app.js', 400],
    ['/..%5csecret.txt', 400],
    ['/docs%5c..%5c..%5csecret.txt', 400],
    ['/app.js%00.html', 400],
    ['/%E0%A4%A', 400],
    ['/escape.txt', 404],
    ['/up/secret.txt', 404],
    [`/${'a'.repeat(MAX_STATIC_PATH)}`, 400],
  ];
  for (const [path, status] of refused) {
    const res = await raw(s, path);
    assertError(res, status, status === 400 ? 'BAD_REQUEST' : 'ROUTE_NOT_FOUND', path);
    assert.doesNotMatch(res.text, /outside the directory/, path);
  }
  // A `.` segment is refused too, rather than read as the directory itself.
  assertError(await raw(s, '/docs/./page.html'), 400, 'BAD_REQUEST');
});

test('API routes win over files of the same path; files fill only what no route takes', async (t) => {
  const s = await serveStatic(t);
  assert.deepEqual((await s.req('GET', '/health')).body, { status: 'ok' });
  assert.deepEqual((await s.req('GET', '/shop/product')).body, [], 'the table, not the file shop/product');
  // The API's prefixes are the API's, route or not: auth is off here (no /auth routes), and no
  // table is named notes.txt, yet neither file is served.
  assertError(await s.req('GET', '/auth/login'), 404, 'ROUTE_NOT_FOUND', 'no file under /auth');
  assertError(await s.req('GET', '/channels/room/x'), 404, 'ROUTE_NOT_FOUND', 'no file under /channels');
  assertError(await raw(s, '/shop/notes.txt'), 404, 'TABLE_NOT_FOUND', 'no file under a database');
  // `/`: a browser gets the page, every other client the server's description.
  const page = await raw(s, '/', { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' });
  assert.equal(page.text, INDEX);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal((await s.req('GET', '/')).body.name, 'tablecast');
  assert.equal((await s.req('GET', '/shop/graphql?query=%7B__typename%7D')).body.data.__typename, 'Query');
});

test('the index fallback: unknown paths asking for HTML get index.html, API paths and assets keep their 404', async (t) => {
  const s = await serveStatic(t, { fallback: true });
  const html = { accept: 'text/html' };
  const page = await raw(s, '/orders/42', html);
  assert.equal(page.status, 200);
  assert.equal(page.text, INDEX);
  assert.equal(page.headers['cache-control'], 'no-cache');
  assertError(await raw(s, '/orders/42'), 404, 'ROUTE_NOT_FOUND', 'without Accept: text/html');
  assertError(await raw(s, '/missing.js', { accept: '*/*' }), 404, 'ROUTE_NOT_FOUND');
  assertError(await raw(s, '/shop/nothing', html), 404, 'TABLE_NOT_FOUND', 'a database path is the API');
  assertError(await raw(s, '/auth/whatever', html), 404, 'ROUTE_NOT_FOUND', '/auth is the API');
  assertError(await raw(s, '/.env', html), 404, 'ROUTE_NOT_FOUND', 'a dotfile does not fall back either');
  assertError(await raw(s, '/../secret.txt', html), 400, 'BAD_REQUEST');
  // Without fallback (the default), the same request is a 404.
  const plain = await serveStatic(t);
  assertError(await raw(plain, '/orders/42', html), 404, 'ROUTE_NOT_FOUND');
});

test('a large file streams: its first bytes leave before it is read whole, and a client that leaves stops the read', async (t) => {
  const { dir } = publicDir(t);
  const size = 64 * 1024 * 1024;
  writeFileSync(join(dir, 'big.bin'), Buffer.alloc(size, 7));
  const s = await serve(t, { 'shop.graphql': SHOP_SDL }, { static: { dir } });
  // Server and client share this process: a server that read the file into memory would hold all
  // 64 MiB before its first byte went out.
  const before = process.memoryUsage().arrayBuffers;
  const controller = new AbortController();
  const partial = await fetch(`${s.url}/big.bin`, { signal: controller.signal });
  assert.equal(partial.headers.get('content-length'), String(size));
  await partial.body!.getReader().read();
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < size / 4, `buffers grew by ${grown} bytes before the first chunk of ${size} arrived`);
  controller.abort();
  // Read whole, every byte arrives.
  const res = await agent.request({ origin: s.url, path: '/big.bin', method: 'GET' });
  let received = 0;
  for await (const chunk of res.body) received += (chunk as Buffer).length;
  assert.equal(received, size);
  assert.equal((await raw(s, '/app.js')).status, 200);
});

test('start-up refuses a static directory that does not exist, or is a file, naming the setting', async () => {
  const base = tmpDir('tablecast-static-');
  try {
    writeFileSync(join(base, 'file'), 'x');
    for (const [dir, why] of [
      [join(base, 'nope'), 'no such directory'],
      [join(base, 'file'), 'it is not a directory'],
    ]) {
      await assert.rejects(createServer({ port: 0, tls: false, logLevel: 'silent', data: join(base, 'data'), static: dir }), (err: Error) => {
        assert.match(err.message, new RegExp(`static: cannot serve static files from ${dir}: ${why}`));
        return true;
      });
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('with auth on, files need no credentials and a stale session cookie does not keep the page from loading', async (t) => {
  const { dir } = publicDir(t);
  const auth = { users: { ann: { password: await hashPassword('pw-ann-1234'), roles: ['clerk'] } }, roles: { clerk: { tables: { 'shop/order': ['read'] } } } };
  const s = await serve(t, { 'shop.graphql': SHOP_SDL }, { static: { dir }, auth });
  const stale = { cookie: 'tablecast_session=expired-or-forged' };
  assert.equal((await raw(s, '/app.js', stale)).status, 200);
  assert.equal((await raw(s, '/', { ...stale, accept: 'text/html' })).text, INDEX);
  assert.equal((await raw(s, '/app.js')).status, 200, 'no credentials at all');
  // The API still checks the same cookie.
  assertError(await raw(s, '/shop/order', stale), 401, 'UNAUTHORIZED');
  assertError(await raw(s, '/auth/me', stale), 401, 'UNAUTHORIZED');
});

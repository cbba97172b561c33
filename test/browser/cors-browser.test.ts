/**
 * Issue #5 (2): CORS, configurable origins and credentials. First the answers themselves (preflight,
 * `Vary: Origin`, headers on errors, streams and GraphQL, `*`); then the real thing in Chromium: a
 * page served from another origin logs in with `fetch(..., { credentials: 'include' })` and follows
 * the table with `new EventSource(url, { withCredentials: true })` on the HttpOnly session cookie,
 * while a page from an origin that is not listed gets nothing (its fetch fails, its EventSource errors).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hashPassword } from '../../src/auth/password.ts';
import { createServer as createTablecast } from '../../src/server.ts';
import { generateSelfSigned } from '../../src/http/self-signed.ts';
import { MESSAGE_SDL, schemaDir, startServer, type TestServer } from '../helpers/server.ts';
import { eventually, openSse, startSseServer } from '../helpers/sse.ts';
import { launchChromium, skipWithoutChromium } from '../helpers/browser.ts';

const skip = skipWithoutChromium;

const M = '/realtime-demo/message';
const PASSWORD = 'pw';
const HASH = await hashPassword(PASSWORD);
const AUTH = {
  users: { alice: { password: HASH, roles: ['editor'] } },
  roles: { editor: { tables: { 'realtime-demo/message': ['read', 'insert', 'update', 'publish'] } } },
};
const basic = { authorization: `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}` };
const APP = 'https://app.example';

describe('CORS answers', () => {
  let s: TestServer;
  let schemas: string;
  before(async () => {
    schemas = schemaDir({ 'm.graphql': MESSAGE_SDL });
    s = await startServer({ schemas, auth: AUTH, cors: { origins: [APP, 'http://localhost:3000'], credentials: true } });
  });
  after(async () => {
    await s?.close();
    rmSync(schemas, { recursive: true, force: true });
  });

  const corsHeaders = (headers: Record<string, unknown>) => Object.keys(headers).filter((h) => h.startsWith('access-control-'));
  const vary = (headers: Record<string, unknown>) =>
    String(headers.vary ?? '')
      .split(',')
      .map((v) => v.trim().toLowerCase());

  test('preflight from a listed origin: 204 with methods, the asked headers that are allowed, max-age, Vary', async () => {
    for (const path of [M, `${M}/msg-1`, '/realtime-demo/graphql', '/auth/login']) {
      const res = await s.req('OPTIONS', path, undefined, {
        origin: APP,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'Content-Type, Authorization, Last-Event-ID, X-Not-Allowed',
      });
      assert.equal(res.status, 204, `${path}: no credentials needed for a preflight (${res.text})`);
      assert.equal(res.headers['access-control-allow-origin'], APP, path);
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      assert.deepEqual(String(res.headers['access-control-allow-methods']).split(', ').sort(), ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']);
      assert.equal(res.headers['access-control-allow-headers'], 'content-type, authorization, last-event-id', 'unknown headers are not allowed');
      assert.equal(res.headers['access-control-max-age'], '600');
      assert.ok(vary(res.headers).includes('origin'), `Vary: ${res.headers.vary}`);
      assert.ok(vary(res.headers).includes('access-control-request-headers'));
      assert.equal(res.text, '');
    }
  });

  test('preflight from an origin not listed: no CORS headers at all (the browser refuses), still Vary: Origin', async () => {
    for (const origin of ['https://evil.example', 'https://app.example.evil.example', 'http://app.example', 'null']) {
      const res = await s.req('OPTIONS', M, undefined, { origin, 'access-control-request-method': 'DELETE' });
      assert.deepEqual(corsHeaders(res.headers), [], `${origin}: ${JSON.stringify(res.headers)}`);
      assert.ok(vary(res.headers).includes('origin'));
    }
  });

  test('actual answers: listed origins get allow-origin, credentials and exposed headers on success, errors, streams and GraphQL', async () => {
    const ok = await s.req('GET', M, undefined, { origin: APP, ...basic });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], APP);
    assert.equal(ok.headers['access-control-allow-credentials'], 'true');
    assert.deepEqual(String(ok.headers['access-control-expose-headers']).split(', ').sort(), ['ETag', 'Location', 'Retry-After', 'WWW-Authenticate']);
    assert.ok(vary(ok.headers).includes('origin'));

    // A page must be able to read a 401 (to show a login form): the error carries the headers too.
    const denied = await s.req('GET', M, undefined, { origin: APP });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers['access-control-allow-origin'], APP);

    const stream = await openSse(`${s.url}${M}?stream=sse`, { headers: { origin: APP, ...basic } });
    try {
      assert.equal(stream.status, 200);
      assert.equal(stream.headers['access-control-allow-origin'], APP, 'kept through the hijacked stream response');
      assert.equal(stream.headers['access-control-allow-credentials'], 'true');
      assert.ok(vary(stream.headers).includes('origin'));
    } finally {
      stream.close();
    }

    const gql = await s.req('POST', '/realtime-demo/graphql', { query: '{ message { id } }' }, { origin: APP, ...basic });
    assert.equal(gql.status, 200);
    assert.equal(gql.headers['access-control-allow-origin'], APP);
    assert.ok(vary(gql.headers).includes('origin'), `GraphQL keeps Vary: Origin (${gql.headers.vary})`);

    for (const origin of ['https://evil.example', undefined]) {
      const other = await s.req('GET', M, undefined, { ...(origin ? { origin } : {}), ...basic });
      assert.equal(other.status, 200, 'CORS does not refuse requests; the browser withholds the answer');
      assert.deepEqual(corsHeaders(other.headers), [], String(origin));
      assert.ok(vary(other.headers).includes('origin'), 'Vary: Origin on every answer, so caches keep them apart');
      const gqlOther = await s.req('POST', '/realtime-demo/graphql', { query: '{ message { id } }' }, { ...(origin ? { origin } : {}), ...basic });
      assert.deepEqual(corsHeaders(gqlOther.headers), [], `GraphQL does not add its own CORS (${origin})`);
    }
  });

  test('origins "*": any origin, never with credentials; "*" with credentials is refused at start', async (t) => {
    const schemasAny = schemaDir({ 'm.graphql': MESSAGE_SDL });
    const any = await startServer({ schemas: schemasAny, cors: { origins: '*' } });
    t.after(async () => {
      await any.close();
      rmSync(schemasAny, { recursive: true, force: true });
    });
    const res = await any.req('GET', M, undefined, { origin: 'https://whoever.example' });
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.equal(res.headers['access-control-allow-credentials'], undefined);
    const preflight = await any.req('OPTIONS', M, undefined, { origin: 'https://whoever.example', 'access-control-request-method': 'PUT' });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], '*');

    await assert.rejects(createTablecast({ schemas: schemasAny, tls: false, cors: { origins: '*', credentials: true } }), (err: Error & { code?: string }) => {
      return err.code === 'CONFIG_INVALID' && /credentials/.test(err.message);
    });
    await assert.rejects(createTablecast({ schemas: schemasAny, tls: false, cors: { origins: ['https://app.example/'] } }), /must be an origin/);
  });
});

/** A tiny HTTPS site on its own port: its page logs in to tablecast and opens an EventSource. */
async function pageServer(): Promise<{ server: Server; origin: string; close(): Promise<void> }> {
  const { cert, key } = await generateSelfSigned();
  const html = `<!doctype html><meta charset="utf-8"><title>cors page</title><script>
    const api = new URLSearchParams(location.search).get('api');
    window.log = [];
    window.got = [];
    window.login = undefined;
    window.write = async (body) => {
      try {
        const r = await fetch(api + '${M}', { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        return { status: r.status, body: await r.json() };
      } catch (e) {
        return { error: String(e) };
      }
    };
    (async () => {
      try {
        const r = await fetch(api + '/auth/login', {
          method: 'POST',
          credentials: 'include',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'alice', password: '${PASSWORD}' }),
        });
        window.login = { status: r.status, body: await r.json() };
      } catch (e) {
        window.login = { error: String(e) };
      }
      const source = new EventSource(api + '${M}?stream=sse', { withCredentials: true });
      window.source = source;
      source.addEventListener('open', () => window.log.push('open'));
      source.addEventListener('error', () => window.log.push('error:' + source.readyState));
      for (const type of ['message', 'update', 'delete', 'publish']) {
        source.addEventListener(type, (e) => window.got.push({ type, id: e.lastEventId, data: JSON.parse(e.data) }));
      }
    })();
  </script>`;
  const server = createHttpsServer({ cert, key }, (req, res) => {
    if (req.url?.startsWith('/?') || req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    origin: `https://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

test('Chromium: a listed origin logs in and follows a table with EventSource withCredentials; an unlisted one gets nothing', { skip }, async (t) => {
  const listed = await pageServer();
  const unlisted = await pageServer();
  t.after(() => listed.close());
  t.after(() => unlisted.close());
  const s = await startSseServer(t, { tls: true, auth: AUTH, cors: { origins: [listed.origin], credentials: true } });
  const api = `https://localhost:${new URL(s.url).port}`;
  await s.req('POST', M, { id: 'msg-1', title: 'before', content: 'x' }, basic);

  const browser = await launchChromium();
  s.defer(() => browser.close()); // before the server: the browser's HTTP/2 session would hold its close()
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const state = () => page.evaluate(() => ({ login: (globalThis as any).login, log: (globalThis as any).log, got: (globalThis as any).got }));
  const waitIn = async (p: typeof page, fn: () => unknown, what: string) => {
    try {
      await p.waitForFunction(fn, undefined, { timeout: 5000 });
    } catch (err) {
      const st = await p.evaluate(() => ({ login: (globalThis as any).login, log: (globalThis as any).log, got: (globalThis as any).got }));
      throw new Error(`${what}: ${(err as Error).message}; the page has ${JSON.stringify(st)}`);
    }
  };

  // The listed origin: cross-origin login sets the cookie, the EventSource sends it.
  await page.goto(`${listed.origin}/?api=${encodeURIComponent(api)}`);
  await waitIn(page, () => (globalThis as any).got.some((e: any) => e.data.type === 'connected'), 'the listed page to connect');
  let st = await state();
  assert.deepEqual(st.login, { status: 200, body: { user: 'alice', roles: ['editor'], expires_in: 86400 } });
  assert.deepEqual(st.log, ['open']);
  assert.deepEqual(st.got, [
    { type: 'message', id: '1', data: { type: 'connected', status: 'ok' } },
    { type: 'message', id: '1', data: { id: 'msg-1', title: 'before', content: 'x' } },
  ]);
  assert.equal(await page.evaluate(() => document.cookie), '', 'the session cookie is HttpOnly: no script reads it');
  assert.equal(s.server.streams.size, 1);

  // A write by the test reaches the browser…
  const patched = await s.req('PATCH', `${M}/msg-1`, { title: 'live' }, basic);
  assert.equal(patched.status, 200);
  // …and so does one the page makes itself, cross-origin, on its cookie (a listed origin passes the CSRF check).
  const written = await page.evaluate((body) => (globalThis as any).write(body), { id: 'msg-2', title: 'from the page', content: 'y' });
  assert.equal(written.status, 201, JSON.stringify(written));
  await waitIn(page, () => (globalThis as any).got.some((e: any) => e.type === 'update' && e.data.id === 'msg-2'), 'the updates to arrive');
  st = await state();
  assert.deepEqual(st.got.slice(2), [
    { type: 'update', id: '2', data: { id: 'msg-1', title: 'live', content: 'x' } },
    { type: 'update', id: '3', data: { id: 'msg-2', title: 'from the page', content: 'y' } },
  ]);

  // An origin that is not listed, in the same browser (so the cookie, which is per host and not per
  // port, is even sent): the login preflight gets no CORS headers, the EventSource fails for good.
  const other = await context.newPage();
  await other.goto(`${unlisted.origin}/?api=${encodeURIComponent(api)}`);
  await waitIn(other, () => (globalThis as any).log.includes('error:2'), 'the unlisted EventSource to fail');
  const refused = await other.evaluate(() => ({ login: (globalThis as any).login, log: (globalThis as any).log, got: (globalThis as any).got }));
  assert.match(String(refused.login?.error), /TypeError|Failed to fetch/, JSON.stringify(refused.login));
  assert.deepEqual(refused.log, ['error:2'], 'never opened, closed for good (EventSource.CLOSED), no reconnection');
  assert.deepEqual(refused.got, [], 'no event reached the page');
  const write = await other.evaluate((body) => (globalThis as any).write(body), { id: 'msg-3', title: 'x', content: 'z' });
  assert.match(String(write.error), /TypeError|Failed to fetch/);
  assert.equal(s.server.tables['realtime-demo']!.message!.get('msg-3'), undefined, 'the unlisted page wrote nothing');

  await page.evaluate(() => (globalThis as any).source.close());
  await eventually(() => s.server.streams.size === 0, 'the server freed the browser streams');
  await context.close();
});

/**
 * Issue #5 (1, 2): every way to prove who you are, against a real server. HTTP Basic; bearer tokens
 * from POST /auth/token (expiring, tamper-evident, revocable); the HttpOnly session cookie from
 * POST /auth/login on REST, SSE and GraphQL (and logout); `?access_token=` on stream URLs only,
 * never in a log line; the login rate limit; the anonymous role; the one "no auth configured"
 * warning; `tablecast hash-password` and auth from a real config file and from TABLECAST_AUTH.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { hashPassword } from '../../src/auth/password.ts';
import { createTokenSigner } from '../../src/auth/tokens.ts';
import type { ServerOptions } from '../../src/server.ts';
import { startChild, type Child } from '../helpers/child.ts';
import { assertError, ROOT } from '../helpers/fixtures.ts';
import { gql, openSse as openGqlSse, waitFor } from '../helpers/graphql.ts';
import { httpRequest, schemaDir, startServer, tmpDir, type Res, type TestServer } from '../helpers/server.ts';
import { eventually, json, openSse } from '../helpers/sse.ts';

const SDL = `type Message @table(database: "realtime-demo") @export(name: "message") {
  id: ID! @primaryKey
  title: String!
  content: String!
}
type Notice @table(database: "public") @export(name: "notice") {
  id: ID! @primaryKey
  text: String
}
`;
const M = '/realtime-demo/message';
const GQL = '/realtime-demo/graphql';
const PASSWORD = 'correct horse';
const HASH = await hashPassword(PASSWORD);

/** alice reads messages; ed edits them; anna also holds the anonymous role; anyone reads notices. */
const AUTH = {
  users: {
    alice: { password: HASH, roles: ['reader'] },
    ed: { password: HASH, roles: ['editor'] },
    anna: { password: HASH, roles: ['reader', 'anonymous'] },
  },
  roles: {
    reader: { tables: { 'realtime-demo/message': ['read'] } },
    editor: { tables: { 'realtime-demo/*': ['read', 'insert', 'update', 'delete', 'publish'] } },
    anonymous: { tables: { 'public/notice': ['read'] } },
  },
  // The shared server is not the place to trip the login limit (its own test does that).
  loginRate: 1000,
} as const;

const basic = (user: string, password = PASSWORD) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A writable that keeps everything a server logs. */
function logCapture(): { stream: PassThrough; text(): string; lines(): Array<{ level: number; msg?: string }> } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString('utf8')));
  return {
    stream,
    text: () => text,
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}

/** Starts a server over the test schema; closed after the calling test (or suite). */
async function serve(options: ServerOptions = {}): Promise<TestServer & { cleanup(): Promise<void> }> {
  const schemas = schemaDir({ 'schema.graphql': SDL });
  const s = await startServer({ schemas, auth: AUTH as never, ...options });
  return {
    ...s,
    async cleanup() {
      await s.close();
      rmSync(schemas, { recursive: true, force: true });
    },
  };
}

// One server for most tests. Its clock can be moved forward to expire tokens (no sleeping).
let skew = 0;
let s: TestServer & { cleanup(): Promise<void> };
before(async () => {
  s = await serve({ now: () => Date.now() + skew });
  await s.server.tables['realtime-demo']!.message!.create({ id: 'm1', title: 'Hello', content: 'World' });
  await s.server.tables.public!.notice!.create({ id: 'n1', text: 'open to all' });
});
after(() => s?.cleanup());

const head = () => s.server.app.store.changeLog.head();
/** Waits until the hub has exactly `n` subscribers (streams closed by a test leave asynchronously). */
const hubAt = (n: number) => waitFor(() => s.server.app.hub.count() === n, `${n} hub subscriber(s) (now ${s.server.app.hub.count()})`);

async function token(user = 'alice'): Promise<string> {
  const res = await s.req('POST', '/auth/token', { username: user, password: PASSWORD });
  assert.equal(res.status, 200, res.text);
  return res.body.access_token;
}

async function login(server: TestServer = s, user = 'alice', headers: Record<string, string> = {}): Promise<{ res: Res; cookie: string }> {
  const res = await server.req('POST', '/auth/login', { username: user, password: PASSWORD }, headers);
  assert.equal(res.status, 200, res.text);
  const setCookie = String(res.headers['set-cookie']);
  return { res, cookie: setCookie.split(';')[0]! };
}

describe('HTTP Basic', () => {
  test('right credentials read; wrong ones are a 401 with a Basic challenge in the one error shape', async () => {
    const ok = await s.req('GET', M, undefined, basic('alice'));
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, [{ id: 'm1', title: 'Hello', content: 'World' }]);
    assert.deepEqual((await s.req('GET', '/auth/me', undefined, basic('alice'))).body, { user: 'alice', roles: ['reader'], via: 'basic' });

    for (const [what, headers] of [
      ['wrong password', basic('alice', 'wrong')],
      ['unknown user', basic('mallory')],
      ['no colon', { authorization: `Basic ${Buffer.from('alice').toString('base64')}` }],
    ] as const) {
      const res = await s.req('GET', M, undefined, headers);
      const body = assertError(res, 401, 'UNAUTHORIZED', what);
      assert.match(String(res.headers['www-authenticate']), /^Basic realm="tablecast"/, what);
      assert.ok(!body.message.includes(PASSWORD) && !body.message.includes('wrong:'), 'the message never echoes a password');
    }
    // Wrong credentials are never a silent downgrade to anonymous, even where anonymous may read.
    assertError(await s.req('GET', '/public/notice', undefined, basic('alice', 'wrong')), 401, 'UNAUTHORIZED', 'wrong Basic on an open table');
    const digest = await s.req('GET', M, undefined, { authorization: 'Digest username="alice"' });
    assertError(digest, 401, 'UNAUTHORIZED', 'unsupported scheme');
    assert.match(String(digest.headers['www-authenticate']), /^Bearer realm="tablecast"/);
  });

  test('no credentials on a protected table: 401 with a challenge; a role without the permission: 403', async () => {
    const anon = await s.req('GET', M);
    assertError(anon, 401, 'UNAUTHORIZED', 'anonymous');
    assert.match(String(anon.headers['www-authenticate']), /^Bearer realm="tablecast"/);
    const before = head();
    const forbidden = await s.req('POST', M, { title: 'x', content: 'y' }, basic('alice'));
    assertError(forbidden, 403, 'FORBIDDEN', 'reader inserting');
    assert.equal(forbidden.headers['www-authenticate'], undefined, 'a 403 asks for no other credentials');
    assert.equal(head(), before, 'nothing was written');
  });
});

describe('bearer tokens from POST /auth/token', () => {
  test('JSON or Basic credentials give a token that works as Authorization: Bearer', async () => {
    const res = await s.req('POST', '/auth/token', { username: 'alice', password: PASSWORD });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.token_type, 'Bearer');
    assert.equal(res.body.expires_in, 3600);
    assert.equal(res.body.user, 'alice');
    assert.deepEqual(res.body.roles, ['reader']);
    const viaBasic = await s.req('POST', '/auth/token', undefined, basic('alice'));
    assert.equal(viaBasic.status, 200, viaBasic.text);
    assert.notEqual(viaBasic.body.access_token, res.body.access_token, 'every token is new');

    for (const t of [res.body.access_token, viaBasic.body.access_token]) {
      const read = await s.req('GET', `${M}/m1`, undefined, bearer(t));
      assert.equal(read.status, 200);
      assert.equal(read.body.title, 'Hello');
    }
    const me = await s.req('GET', '/auth/me', undefined, bearer(res.body.access_token));
    assert.equal(me.body.via, 'bearer');
    assert.ok(Date.parse(me.body.expires_at) > Date.now() + 3500_000, me.text);

    assertError(await s.req('POST', '/auth/token', { username: 'alice', password: 'nope' }), 401, 'UNAUTHORIZED', 'wrong password');
    assertError(await s.req('POST', '/auth/token', { username: 'alice', password: 5 }), 400, 'VALIDATION_FAILED', 'password not a string');
    const none = await s.req('POST', '/auth/token');
    assertError(none, 401, 'UNAUTHORIZED', 'no credentials at all');
    assert.ok(none.headers['www-authenticate']);
  });

  test('an expired token is a 401 (the server clock moved past tokenTtl)', async () => {
    const t = await token();
    assert.equal((await s.req('GET', M, undefined, bearer(t))).status, 200);
    skew = 3601 * 1000; // past the default tokenTtl of 3600 s
    try {
      const res = await s.req('GET', M, undefined, bearer(t));
      const body = assertError(res, 401, 'UNAUTHORIZED', 'expired');
      assert.match(body.message, /expired/);
      assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/);
      // A stream cannot be opened with it either: the 401 comes before the stream.
      const stream = await openSse(`${s.url}${M}?stream=sse&access_token=${t}`);
      assert.equal(stream.status, 401);
      assert.equal((await stream.json()).code, 'UNAUTHORIZED');
    } finally {
      skew = 0;
    }
    assert.equal((await s.req('GET', M, undefined, bearer(t))).status, 200, 'the same token within its lifetime');
  });

  test('a tampered, forged, foreign or garbage token is a 401', async () => {
    const t = await token('alice');
    const [payload, mac] = t.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    assert.equal(claims.sub, 'alice');
    const flip = (str: string, i: number) => str.slice(0, i) + (str[i] === 'A' ? 'B' : 'A') + str.slice(i + 1);
    const candidates = {
      'signature changed': `${payload}.${flip(mac, 5)}`,
      'payload changed': `${flip(payload, 10)}.${mac}`,
      'user switched to ed under the same MAC': `${Buffer.from(JSON.stringify({ ...claims, sub: 'ed' })).toString('base64url')}.${mac}`,
      'expiry extended under the same MAC': `${Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 86400 })).toString('base64url')}.${mac}`,
      'signed with another secret': createTokenSigner('z'.repeat(32)).sign('ed', 'bearer', 3600).token,
      'no signature': payload,
      garbage: 'not-a-token',
    };
    const before = head();
    for (const [what, forged] of Object.entries(candidates)) {
      assertError(await s.req('GET', M, undefined, bearer(forged)), 401, 'UNAUTHORIZED', what);
      assertError(await s.req('POST', M, { title: 'x', content: 'y' }, bearer(forged)), 401, 'UNAUTHORIZED', what);
    }
    assert.equal(head(), before, 'nothing was written');
    assert.equal((await s.req('GET', M, undefined, bearer(t))).status, 200, 'the genuine token still works');
  });

  test('logout with a bearer token revokes that token only', async () => {
    const [t1, t2] = [await token(), await token()];
    const out = await s.req('POST', '/auth/logout', undefined, bearer(t1));
    assert.equal(out.status, 204);
    assertError(await s.req('GET', M, undefined, bearer(t1)), 401, 'UNAUTHORIZED', 'revoked token');
    assert.equal((await s.req('GET', M, undefined, bearer(t2))).status, 200, 'another token of the same user');
    assert.equal((await s.req('POST', '/auth/logout', undefined, bearer(t1))).status, 204, 'logging out twice is harmless');
  });
});

describe('session cookie from POST /auth/login', () => {
  test('HttpOnly, SameSite=Lax, Path=/, Max-Age = sessionTtl, not Secure over plain HTTP', async () => {
    const { res, cookie } = await login();
    assert.deepEqual(res.body, { user: 'alice', roles: ['reader'], expires_in: 86400 });
    const attrs = String(res.headers['set-cookie'])
      .split(';')
      .map((a) => a.trim());
    assert.match(attrs[0]!, /^tablecast_session=[\w-]+\.[\w-]+$/);
    assert.ok(attrs.includes('HttpOnly'), 'HttpOnly');
    assert.ok(attrs.includes('SameSite=Lax'), 'SameSite=Lax');
    assert.ok(attrs.includes('Path=/'), 'Path=/');
    assert.ok(attrs.includes('Max-Age=86400'), 'Max-Age');
    assert.ok(!attrs.includes('Secure'), 'no Secure over plain HTTP (the browser would drop it)');
    assert.equal((res.body as { access_token?: string }).access_token, undefined, 'the session is never readable by scripts');
    assert.deepEqual((await s.req('GET', '/auth/me', undefined, { cookie })).body.via, 'cookie');
    // Also by Basic.
    const viaBasic = await s.req('POST', '/auth/login', undefined, basic('alice'));
    assert.equal(viaBasic.status, 200);
    assert.match(String(viaBasic.headers['set-cookie']), /^tablecast_session=/);
  });

  test('Secure over TLS', async () => {
    const tls = await serve({ tls: true });
    try {
      const { res, cookie } = await login(tls);
      assert.match(String(res.headers['set-cookie']), /; Secure(;|$)/);
      assert.equal((await tls.req('GET', M, undefined, { cookie })).status, 200);
      // Over HTTP/2 the host comes from :authority: the server's own origin still passes the cross-site check.
      const own = await login(tls, 'ed');
      assert.equal((await tls.req('POST', `${M}/m1`, { hi: 'h2' }, { cookie: own.cookie, origin: new URL(tls.url).origin })).status, 202);
      assert.equal((await tls.req('POST', `${M}/m1`, { hi: 'h2' }, { cookie: own.cookie, origin: 'https://localhost:1' })).status, 403);
    } finally {
      await tls.cleanup();
    }
  });

  test('the cookie authenticates REST, an SSE stream, a GraphQL query and a GraphQL subscription', async () => {
    const { cookie } = await login(s, 'ed');
    const rest = await s.req('GET', `${M}/m1`, undefined, { cookie });
    assert.equal(rest.status, 200);
    const written = await s.req('POST', M, { id: 'by-cookie', title: 'c', content: 'c' }, { cookie });
    assert.equal(written.status, 201, written.text);

    const stream = await openSse(`${s.url}${M}/by-cookie?stream=sse`, { headers: { cookie } });
    try {
      assert.equal(stream.status, 200);
      const [, hello, retained] = await stream.next(3);
      assert.deepEqual(json(hello!), { type: 'connected', status: 'ok' });
      assert.equal(json(retained!).id, 'by-cookie');
    } finally {
      stream.close();
    }

    const q = await gql(`${s.url}${GQL}`, '{ message(id: "m1") { title } }', undefined, 'application/json');
    assert.equal(q.status, 401, 'the same query without the cookie');
    const withCookie = await httpRequest(`${s.url}${GQL}`, 'POST', { query: '{ message(id: "m1") { title } }' }, { cookie });
    assert.deepEqual(withCookie.body, { data: { message: [{ title: 'Hello' }] } });

    await hubAt(0);
    const sub = await openGqlSse(`${s.url}${GQL}`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'subscription { message(id: "by-cookie") { id content } }' }),
    });
    try {
      await hubAt(1);
      await s.req('PATCH', `${M}/by-cookie`, { content: 'live' }, { cookie });
      const next = await sub.next((f) => f.event === 'next');
      assert.deepEqual(JSON.parse(next.data), { data: { message: { id: 'by-cookie', content: 'live' } } });
    } finally {
      sub.close();
    }
    await s.req('DELETE', `${M}/by-cookie`, undefined, basic('ed'));
  });

  test('logout revokes the session and clears the cookie; the old cookie is a 401 everywhere; logging in again works', async () => {
    const { cookie } = await login();
    const out = await s.req('POST', '/auth/logout', undefined, { cookie });
    assert.equal(out.status, 204);
    const cleared = String(out.headers['set-cookie']);
    assert.match(cleared, /^tablecast_session=;/);
    assert.match(cleared, /Max-Age=0/);
    assert.match(cleared, /HttpOnly/);

    assertError(await s.req('GET', M, undefined, { cookie }), 401, 'UNAUTHORIZED', 'REST with the revoked cookie');
    const streams = s.server.streams.size;
    const stream = await openSse(`${s.url}${M}?stream=sse`, { headers: { cookie } });
    assert.equal(stream.status, 401, 'SSE: refused before the stream opens');
    assert.match(String(stream.headers['content-type']), /^application\/json/);
    assert.equal((await stream.json()).code, 'UNAUTHORIZED');
    assert.equal(s.server.streams.size, streams);
    const q = await httpRequest(`${s.url}${GQL}`, 'POST', { query: '{ message { id } }' }, { cookie });
    assert.equal(q.status, 401);

    // A client still sending the stale cookie can log in (and out) again: it does not get in the way.
    const again = await login(s, 'alice', { cookie });
    assert.notEqual(again.cookie, cookie);
    assert.equal((await s.req('GET', M, undefined, { cookie: again.cookie })).status, 200);
    assert.equal((await s.req('POST', '/auth/logout', undefined, { cookie })).status, 204);
    assert.equal((await s.req('GET', M, undefined, { cookie: again.cookie })).status, 200, 'logging out a revoked cookie leaves the new session alone');
    const token = await s.req('POST', '/auth/token', { username: 'alice', password: PASSWORD }, { cookie });
    assert.equal(token.status, 200, 'POST /auth/token ignores a stale cookie as well');
  });

  test('a malformed cookie value is a 401, not a 500', async () => {
    assertError(await s.req('GET', M, undefined, { cookie: 'tablecast_session=%E0%A4%A' }), 401, 'UNAUTHORIZED', 'bad escape');
    assertError(await s.req('GET', M, undefined, { cookie: 'other=1; tablecast_session=abc' }), 401, 'UNAUTHORIZED', 'not a token');
    assert.equal((await s.req('GET', '/public/notice', undefined, { cookie: 'other=1' })).status, 200, 'other cookies are not credentials');
  });

  test('cookie-authenticated writes from a foreign origin are refused (cross-site request forgery)', async () => {
    const { cookie } = await login(s, 'ed');
    const evil = { cookie, origin: 'http://evil.localhost:1' };
    const before = head();
    assertError(await s.req('POST', M, { id: 'csrf', title: 'x', content: 'y' }, evil), 403, 'FORBIDDEN', 'REST write');
    // An HTML form can post this without any preflight; GraphQL accepts it.
    const form = await s.req('POST', GQL, `query=${encodeURIComponent('mutation { deleteMessage(id: "m1") }')}`, { ...evil, 'content-type': 'application/x-www-form-urlencoded' });
    assertError(form, 403, 'FORBIDDEN', 'GraphQL form post');
    assertError(await s.req('DELETE', `${M}/m1`, undefined, { ...evil, origin: 'null' }), 403, 'FORBIDDEN', 'Origin: null');
    assert.equal(head(), before, 'nothing was written');

    // Reads are not guarded here (CORS decides what a page may read), nor are other credentials,
    // nor the server's own origin, nor clients that send no Origin.
    assert.equal((await s.req('GET', `${M}/m1`, undefined, evil)).status, 200);
    assert.equal((await s.req('POST', `${M}/m1`, { hi: 1 }, { ...basic('ed'), origin: 'http://evil.localhost:1' })).status, 202);
    assert.equal((await s.req('POST', `${M}/m1`, { hi: 2 }, { cookie, origin: new URL(s.url).origin })).status, 202);
    assert.equal((await s.req('POST', `${M}/m1`, { hi: 3 }, { cookie })).status, 202);
  });
});

describe('?access_token= on stream URLs only', () => {
  test('opens a REST event stream (collection and record) and a GraphQL GET subscription', async () => {
    const t = await token();
    const collection = await openSse(`${s.url}${M}?stream=sse&access_token=${t}`);
    const record = await openSse(`${s.url}${M}/m1?access_token=${encodeURIComponent(t)}`, { headers: { accept: 'text/event-stream' } });
    try {
      for (const stream of [collection, record]) {
        assert.equal(stream.status, 200);
        const [, hello, retained] = await stream.next(3);
        assert.deepEqual(json(hello!), { type: 'connected', status: 'ok' });
        assert.deepEqual(json(retained!), { id: 'm1', title: 'Hello', content: 'World' });
      }
    } finally {
      collection.close();
      record.close();
    }

    await hubAt(0);
    const query = encodeURIComponent('subscription { message(id: "m1") { id content } }');
    const sub = await openGqlSse(`${s.url}${GQL}?query=${query}&access_token=${t}`);
    try {
      assert.equal(sub.status, 200);
      await hubAt(1);
      await s.req('PATCH', `${M}/m1`, { content: 'World' }, basic('ed'));
      const next = await sub.next((f) => f.event === 'next');
      assert.deepEqual(JSON.parse(next.data), { data: { message: { id: 'm1', content: 'World' } } });
    } finally {
      sub.close();
    }
    // A GraphQL GET query (not a subscription) answered as an event stream works too.
    const q = await openGqlSse(`${s.url}${GQL}?query=${encodeURIComponent('{ message(id: "m1") { title } }')}&access_token=${t}`);
    try {
      assert.deepEqual(JSON.parse((await q.next((f) => f.event === 'next')).data), { data: { message: [{ title: 'Hello' }] } });
    } finally {
      q.close();
    }
  });

  // Authentication and the REST routes decide "is this a stream request" with the one function of
  // src/http/stream-request.ts: a token is accepted exactly where a stream opens.
  test('authentication reads ?stream= as the REST routes do: percent-encoded it still opens a stream; stream=json does not', async () => {
    const t = await token();
    const encoded = await openSse(`${s.url}${M}?stream=%73se&access_token=${t}`);
    try {
      assert.equal(encoded.status, 200);
      const [, hello] = await encoded.next(2);
      assert.deepEqual(json(hello!), { type: 'connected', status: 'ok' });
    } finally {
      encoded.close();
    }
    const res = await s.req('GET', `${M}?stream=json&access_token=${t}`, undefined, { accept: 'text/event-stream' });
    assertError(res, 400, 'BAD_REQUEST', 'not a stream request, so no access_token');
  });

  // fastify's FST_ERR_BAD_URL message quotes the whole URL, query string and token included;
  // server.ts redacts it before it is logged or answered (test/integration/auth-hygiene.test.ts
  // covers the encoded spellings of the name).
  test('a URL fastify cannot decode does not put its access_token in the logs or the answer', async () => {
    const logs = logCapture();
    const l = await serve({ logStream: logs.stream, logLevel: 'info' });
    const t = (await l.req('POST', '/auth/token', { username: 'alice', password: PASSWORD })).body.access_token as string;
    let res: Res;
    try {
      res = await l.req('GET', `${M}/%E0?stream=sse&access_token=${t}`);
    } finally {
      await l.cleanup();
    }
    assertError(res, 400, 'BAD_REQUEST', 'bad escape in the path');
    assert.ok(!res.text.includes(t), 'the token is echoed in the answer');
    assert.ok(!logs.text().includes(t), 'the token is in the logs');
  });

  test('is a 400 anywhere else, and a wrong one is a 401 before the stream opens', async () => {
    const t = await token('ed');
    const before = head();
    for (const [method, path, headers] of [
      ['GET', `${M}?access_token=${t}`, {}],
      ['GET', `${M}/m1?access_token=${t}`, {}],
      ['POST', `${M}?access_token=${t}`, {}],
      ['DELETE', `${M}/m1?access_token=${t}`, {}],
      ['GET', `${GQL}?query=${encodeURIComponent('{ message { id } }')}&access_token=${t}`, { accept: 'application/json' }],
      ['POST', `${GQL}?access_token=${t}`, { accept: 'text/event-stream' }],
      ['GET', `/auth/me?access_token=${t}`, {}],
      ['POST', `/auth/token?access_token=${t}`, {}],
    ] as const) {
      const body = method === 'POST' ? (path.startsWith(GQL) ? { query: 'mutation { deleteMessage(id: "m1") }' } : { id: 'x', title: 'x', content: 'x' }) : undefined;
      const res = await s.req(method, path, body, headers);
      const err = assertError(res, 400, 'BAD_REQUEST', `${method} ${path}`);
      assert.match(err.message, /access_token/);
      assert.doesNotMatch(err.message, new RegExp(t.slice(0, 20)), 'the message does not echo the token');
    }
    assert.equal(head(), before, 'nothing was written');

    const streams = s.server.streams.size;
    for (const bad of ['nope', `${t.slice(0, -3)}xyz`]) {
      const stream = await openSse(`${s.url}${M}?stream=sse&access_token=${bad}`);
      assert.equal(stream.status, 401);
      assert.equal((await stream.json()).code, 'UNAUTHORIZED');
    }
    assert.equal(s.server.streams.size, streams, 'no stream was opened');
  });

  test('a stream lives no longer than the token that opened it', async () => {
    const short = await serve({ auth: { ...AUTH, tokenTtl: 1 } as never });
    try {
      const res = await short.req('POST', '/auth/token', { username: 'alice', password: PASSWORD });
      assert.equal(res.body.expires_in, 1);
      const stream = await openSse(`${short.url}${M}?stream=sse&access_token=${res.body.access_token}`);
      assert.equal(stream.status, 200);
      await stream.next(2);
      // Ends by itself once the token expires (a bound, not a timing assertion).
      await eventually(() => stream.isEnded, 'the stream to end when its token expires');
      await eventually(() => short.server.streams.size === 0, 'the server forgot the stream');
      const again = await openSse(`${short.url}${M}?stream=sse&access_token=${res.body.access_token}`);
      assert.equal(again.status, 401, 'reconnecting with the expired token');
      await again.json();
    } finally {
      await short.cleanup();
    }
  });

  // TODO until src/http/sse-routes.ts clamps its expiry timer (see the report of issue #5): a
  // credential valid for more than 2^31-1 ms (~24.8 days, e.g. sessionTtl: 2592000) overflows
  // setTimeout, which then fires after 1 ms, so every such stream ended as soon as it opened.
  test('a session longer than setTimeout can count (30 days) keeps its streams open', async () => {
    const long = await serve({ auth: { ...AUTH, sessionTtl: 30 * 86400 } as never });
    try {
      const { cookie } = await login(long);
      const stream = await openSse(`${long.url}${M}?stream=sse&retained=false`, { headers: { cookie } });
      assert.equal(stream.status, 200);
      await stream.next(2);
      await long.server.tables['realtime-demo']!.message!.create({ id: 'late', title: 't', content: 'c' });
      try {
        assert.equal(json((await stream.next(1))[0]!).id, 'late', 'the stream is still open for the next change');
      } finally {
        stream.close();
      }
    } finally {
      await long.cleanup();
    }
  });

  test('the access_token value never reaches the logs (nor passwords, Basic credentials or cookies)', async () => {
    const logs = logCapture();
    const l = await serve({ logStream: logs.stream, logLevel: 'info' });
    let t = '';
    let session = '';
    try {
      t = (await l.req('POST', '/auth/token', { username: 'alice', password: PASSWORD })).body.access_token;
      session = (await login(l)).cookie.split('=')[1]!;
      const stream = await openSse(`${l.url}${M}?stream=sse&access_token=${t}`);
      assert.equal(stream.status, 200);
      await stream.next(2);
      stream.close();
      const sub = await openGqlSse(`${l.url}${GQL}?query=${encodeURIComponent('{ message { id } }')}&access_token=${t}`);
      await sub.next((f) => f.event === 'complete');
      sub.close();
      assert.equal((await l.req('GET', `${M}?access_token=${t}`)).status, 400);
      assert.equal((await l.req('GET', `${M}?stream=sse&access_token=${t}x`)).status, 401);
      assert.equal((await l.req('GET', `${M}?stream=sse&access_token=${t}&[title=a`)).status, 400, 'a bad query after the token');
      assert.equal((await l.req('GET', M, undefined, basic('alice'))).status, 200);
      assert.equal((await l.req('GET', M, undefined, basic('alice', 'hunter2'))).status, 401);
      assert.equal((await l.req('GET', M, undefined, { cookie: `tablecast_session=${session}` })).status, 200);
      await eventually(() => l.server.streams.size === 0, 'streams closed');
    } finally {
      await l.cleanup();
    }
    const text = logs.text();
    assert.match(text, /access_token=\[redacted\]/, 'the URLs were logged, redacted');
    const secrets = { token: t, tokenSignature: t.split('.')[1]!, session, password: PASSWORD, wrongPassword: 'hunter2', basic: basic('alice').authorization.slice(6) };
    for (const [what, secret] of Object.entries(secrets)) assert.ok(!text.includes(secret), `${what} appears in the logs`);
  });
});

test('login rate limit: failed attempts per address and minute, then 429 with Retry-After', async (t) => {
  let offset = 0;
  const r = await serve({ auth: { ...AUTH, loginRate: 3 } as never, now: () => Date.now() + offset });
  t.after(() => r.cleanup());
  for (let i = 0; i < 3; i++) assertError(await r.req('POST', '/auth/login', { username: 'alice', password: `guess ${i}` }), 401, 'UNAUTHORIZED', `attempt ${i + 1}`);
  const limited = [
    await r.req('POST', '/auth/login', { username: 'alice', password: PASSWORD }),
    await r.req('POST', '/auth/token', { username: 'alice', password: PASSWORD }),
    await r.req('POST', '/auth/token', undefined, basic('alice')),
    await r.req('GET', M, undefined, basic('alice', 'guess 4')),
  ];
  for (const res of limited) {
    const body = assertError(res, 429, 'TOO_MANY_REQUESTS', 'over the limit');
    const retry = Number(res.headers['retry-after']);
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${res.headers['retry-after']}`);
    assert.match(body.message, /too many login attempts/);
  }
  // Tokens already issued are not affected, and other addresses are not limited.
  const { createAgent, send } = await import('../helpers/sse.ts');
  const other = createAgent({ h2: false, localAddress: '127.0.0.2' });
  try {
    assert.equal((await send(other, `${r.url}/auth/login`, 'POST', { username: 'alice', password: PASSWORD })).status, 200, 'from 127.0.0.2');
  } finally {
    await other.destroy();
  }
  // A minute later (on the server's clock) the address may try again.
  offset = 61_000;
  assert.equal((await r.req('POST', '/auth/login', { username: 'alice', password: PASSWORD })).status, 200);
});

test('the anonymous role: what anyone may do without credentials, and no more', async () => {
  const notice = await s.req('GET', '/public/notice');
  assert.equal(notice.status, 200);
  assert.deepEqual(notice.body, [{ id: 'n1', text: 'open to all' }]);
  assert.equal((await s.req('GET', '/public/notice/n1')).status, 200);
  const stream = await openSse(`${s.url}/public/notice?stream=sse`);
  try {
    assert.equal(stream.status, 200);
    assert.deepEqual(json((await stream.next(3))[2]!), { id: 'n1', text: 'open to all' });
  } finally {
    stream.close();
  }
  const q = await httpRequest(`${s.url}/public/graphql`, 'POST', { query: '{ notice { id text } }' });
  assert.deepEqual(q.body, { data: { notice: [{ id: 'n1', text: 'open to all' }] } });

  const before = head();
  assertError(await s.req('POST', '/public/notice', { text: 'x' }), 401, 'UNAUTHORIZED', 'anonymous insert');
  assertError(await s.req('DELETE', '/public/notice/n1'), 401, 'UNAUTHORIZED', 'anonymous delete');
  assertError(await s.req('POST', '/public/notice/n1', { hi: 1 }), 401, 'UNAUTHORIZED', 'anonymous publish');
  const m = await httpRequest(`${s.url}/public/graphql`, 'POST', { query: 'mutation { createNotice(data: { text: "x" }) { id } }' });
  assert.equal(m.status, 401);
  assert.equal(m.body.errors[0].extensions.code, 'UNAUTHORIZED');
  assert.ok(m.headers['www-authenticate'], 'GraphQL 401s carry a challenge too');
  assert.equal(head(), before);
  assertError(await s.req('GET', M), 401, 'UNAUTHORIZED', 'anonymous reading another table');

  // A signed-in user has exactly its roles: the anonymous role's grants are not added, unless listed.
  assertError(await s.req('GET', '/public/notice', undefined, basic('alice')), 403, 'FORBIDDEN', 'alice has no anonymous role');
  assert.equal((await s.req('GET', '/public/notice', undefined, basic('anna'))).status, 200, 'anna lists the anonymous role');
  assert.deepEqual((await s.req('GET', '/auth/me')).body, { user: null, roles: ['anonymous'], via: 'anonymous' });
});

describe('start-up warning', () => {
  test('no auth configured: exactly one warning line when listening; with auth: none', async () => {
    const open = logCapture();
    const o = await serve({ auth: undefined, logStream: open.stream, logLevel: 'info' });
    const readable = await o.req('DELETE', `${M}?id=none`);
    await o.cleanup();
    assert.equal(readable.status, 200, 'open: everything is allowed');
    const mentions = open.lines().filter((l) => /no auth configured/.test(l.msg ?? ''));
    assert.equal(mentions.length, 1, open.text());
    assert.equal(mentions[0]!.level, 40, 'a warning');
    assert.equal(
      open
        .text()
        .split('\n')
        .filter((l) => l.includes('no auth configured')).length,
      1,
      'one line',
    );

    const closed = logCapture();
    const c = await serve({ logStream: closed.stream, logLevel: 'info' });
    await c.req('GET', M);
    await c.cleanup();
    assert.ok(closed.lines().length > 0, 'the auth server logged (so silence is meaningful)');
    assert.ok(!closed.text().includes('no auth configured'));
  });
});

describe('configuration: the hash-password command, a config file, TABLECAST_AUTH', () => {
  /** Runs `tablecast hash-password` with `input` on stdin. */
  const hashCli = (input: string) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'hash-password'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (d) => (stdout += d));
      proc.stderr.on('data', (d) => (stderr += d));
      proc.on('close', (code) => resolve({ code, stdout, stderr }));
      proc.stdin.end(input);
    });

  let dir: string;
  let schemas: string;
  before(() => {
    dir = tmpDir();
    schemas = schemaDir({ 'schema.graphql': SDL });
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(schemas, { recursive: true, force: true });
  });

  const children: Child[] = [];
  after(async () => {
    for (const c of children) {
      c.proc.kill('SIGTERM');
      await c.exited;
    }
  });

  const authFor = (hash: string) => ({
    users: { carol: { password: hash, roles: ['reader'] } },
    roles: { reader: { tables: { 'realtime-demo/message': ['read'] } } },
  });

  /** A child serving with this config works with carol's password, and only with it. */
  async function checkChild(child: Child, password: string): Promise<void> {
    const url = `${child.url}${M}`;
    assert.equal((await httpRequest(url, 'GET', undefined, basic('carol', password))).status, 200);
    assert.equal((await httpRequest(url, 'GET', undefined, basic('carol', `${password}!`))).status, 401);
    assert.equal((await httpRequest(url, 'GET')).status, 401);
    assert.equal((await httpRequest(url, 'POST', { title: 'x', content: 'y' }, basic('carol', password))).status, 403);
    assert.doesNotMatch(child.output(), /no auth configured/);
  }

  test('hash-password reads stdin and prints a hash that works in tablecast.config.json (--config)', async () => {
    const password = 'pässword with spaces';
    const out = await hashCli(`${password}\n`);
    assert.equal(out.code, 0, out.stderr);
    const hash = out.stdout.trim();
    assert.match(hash, /^scrypt\$16384\$8\$1\$[\w-]+\$[\w-]+$/);
    assert.equal(out.stdout, `${hash}\n`, 'only the hash, on one line');
    assert.ok(!out.stdout.includes(password) && !out.stderr.includes(password));

    const empty = await hashCli('');
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /standard input/);

    const file = join(dir, 'tablecast.config.json');
    writeFileSync(file, JSON.stringify({ auth: authFor(hash), cors: { origins: ['https://app.example'], credentials: true } }, null, 2));
    const child = await startChild(['--no-tls', '--data', join(dir, 'file-data'), '--schemas', schemas, '--config', file]);
    children.push(child);
    await checkChild(child, password);
    const preflight = await httpRequest(`${child.url}${M}`, 'OPTIONS', undefined, { origin: 'https://app.example', 'access-control-request-method': 'GET' });
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example', 'cors from the file');
  });

  test('TABLECAST_AUTH (JSON) configures a child process; a bad one stops start-up with the problem named', async () => {
    const child = await startChild(['--no-tls', '--data', join(dir, 'env-data'), '--schemas', schemas], { TABLECAST_AUTH: JSON.stringify(authFor(HASH)) });
    children.push(child);
    await checkChild(child, PASSWORD);

    const bad = { users: { carol: { password: 'plain', roles: ['ghost'] } }, roles: {} };
    await assert.rejects(
      startChild(['--no-tls', '--data', join(dir, 'bad-data'), '--schemas', schemas], { TABLECAST_AUTH: JSON.stringify(bad) }),
      // Named by the variable and the JSON path inside it.
      (err: Error) => /TABLECAST_AUTH: users\.carol\.password/.test(err.message) && /hash-password/.test(err.message) && /role "ghost"/.test(err.message),
    );
  });
});

/**
 * Issue #11 (5), credential hygiene, against a real server: (a) `access_token` is recognised by
 * its decoded name, for the rule and for redaction; (b) it is accepted on table and GraphQL stream
 * requests only, once, spelled plainly, and is never a filter; (c) session and bearer tokens are
 * not interchangeable; (d) a create on a key outside the caller's read view answers as a PUT does.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { hashPassword } from '../../src/auth/password.ts';
import { redactUrl } from '../../src/http/access-tokens.ts';
import { assertError } from '../helpers/fixtures.ts';
import { gql, openSse as openGqlSse } from '../helpers/graphql.ts';
import { schemaDir, startServer, type Res, type TestServer } from '../helpers/server.ts';
import { eventually, json, openSse } from '../helpers/sse.ts';

const SDL = `type Message @table(database: "hy") @export(name: "message") {
  id: ID! @primaryKey
  title: String
}
type Doc @table(database: "hy") @export(name: "doc") {
  id: ID! @primaryKey
  owner: String
  text: String
}
`;
const M = '/hy/message';
const D = '/hy/doc';
const GQL = '/hy/graphql';
const PASSWORD = 'correct horse';
const HASH = await hashPassword(PASSWORD);

/**
 * alice reads messages. ann reads and inserts her own docs and may not update any; bob reads,
 * inserts and updates his own.
 */
const AUTH = {
  users: {
    alice: { password: HASH, roles: ['reader'] },
    ann: { password: HASH, roles: ['ann'] },
    bob: { password: HASH, roles: ['bob'] },
  },
  roles: {
    reader: { tables: { 'hy/message': ['read'] } },
    ann: { tables: { 'hy/doc': { read: { filter: 'owner=ann' }, insert: { filter: 'owner=ann' } } } },
    bob: { tables: { 'hy/doc': { read: { filter: 'owner=bob' }, insert: { filter: 'owner=bob' }, update: { filter: 'owner=bob' } } } },
  },
  loginRate: 1000,
};

const basic = (user: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${PASSWORD}`).toString('base64')}` });

let logText = '';
let s: TestServer;
let token = '';
let session = '';
before(async () => {
  const logs = new PassThrough();
  logs.on('data', (d: Buffer) => (logText += d.toString('utf8')));
  s = await startServer({ schemas: schemaDir({ 'hy.graphql': SDL }), auth: AUTH as never, logLevel: 'info', logStream: logs });
  await s.server.tables.hy!.message!.create({ id: 'm1', title: 'Hello' });
  await s.server.tables.hy!.doc!.create({ id: 'ann-1', owner: 'ann', text: 'a' });
  await s.server.tables.hy!.doc!.create({ id: 'bob-1', owner: 'bob', text: 'b' });
  token = (await s.req('POST', '/auth/token', { username: 'alice', password: PASSWORD })).body.access_token;
  const login = await s.req('POST', '/auth/login', { username: 'alice', password: PASSWORD });
  session = decodeURIComponent(String(login.headers['set-cookie']).split(';')[0]!.split('=')[1]!);
});
after(() => s?.close());

const head = () => s.server.app.store.changeLog.head();

/** A request whose answer must be the one 400 naming access_token, changing nothing. */
async function refused(method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<void> {
  const before = head();
  const res = await s.req(method, path, body, headers);
  if (method === 'HEAD') assert.equal(res.status, 400, `${method} ${path}`);
  else assert.match(assertError(res, 400, 'BAD_REQUEST', `${method} ${path}`).message, /access_token/);
  assert.ok(!res.text.includes(token), 'the answer does not echo the token');
  assert.equal(head(), before, 'nothing was written');
}

describe('(a) access_token is recognised by its decoded name', () => {
  test('a percent-encoded name neither authenticates nor becomes a filter: 400 on streams and elsewhere', async () => {
    for (const name of ['access%5Ftoken', 'access%5ftoken', '%61ccess_token', 'access_%74oken']) {
      await refused('GET', `${M}?stream=sse&${name}=${token}`);
      await refused('GET', `${M}?${name}=${token}`);
      await refused('GET', `${GQL}?query=${encodeURIComponent('{ message { id } }')}&${name}=${token}`, { accept: 'text/event-stream' });
    }
  });

  test('redactUrl hides the value of any spelling of the name, after any separator, in URLs and in messages quoting them', () => {
    const cases: Array<[string, string]> = [
      ['/a?stream=sse&access_token=T.S', '/a?stream=sse&access_token=[redacted]'],
      ['/a?access%5Ftoken=T.S&b=1', '/a?access%5Ftoken=[redacted]&b=1'],
      ['/a?%61ccess_token=T', '/a?%61ccess_token=[redacted]'],
      ['/a?access%255Ftoken=T', '/a?access%255Ftoken=[redacted]'],
      ['/a?ACCESS_TOKEN=T', '/a?ACCESS_TOKEN=[redacted]'],
      ['/a?title=x|access_token=T&b=1', '/a?title=x|access_token=[redacted]&b=1'],
      ['/a?[access_token=T]', '/a?[access_token=[redacted]'],
      ['Route GET:/a?%E0&access_token=T not found', 'Route GET:/a?%E0&access_token=[redacted] not found'],
      ["'/a?x=1&access%5Ftoken=T'", "'/a?x=1&access%5Ftoken=[redacted]'"],
      ['/a?title=access_token&b=access_tokens=1', '/a?title=access_token&b=access_tokens=1'],
    ];
    for (const [url, expected] of cases) assert.equal(redactUrl(url), expected, url);
  });

  test('no spelling of the name puts the token in a log line', async () => {
    const t = token;
    const urls = [
      `${M}?stream=sse&access%5Ftoken=${t}`,
      `${M}?%61ccess_token=${t}`,
      `${M}?ACCESS_TOKEN=${t}`,
      `${M}?stream=sse&title=x|access_token=${t}`,
      `${M}/%E0?stream=sse&access%5Ftoken=${t}`,
      `${M}?stream=sse&access%255Ftoken=${t}`,
    ];
    for (const url of urls) {
      const res = await s.req('GET', url);
      assert.ok(res.status >= 400, url);
      assert.ok(!res.text.includes(t.split('.')[1]!), `the answer to ${url} echoes the token`);
    }
    await eventually(() => logText.includes('access%255Ftoken=[redacted]'), 'the last request logged');
    assert.ok(!logText.includes(t.split('.')[1]!), 'a token signature is in the logs');
  });
});

describe('(b) access_token only on table and GraphQL stream requests', () => {
  test('opens a collection stream (?stream=sse), a record stream (Accept) and a GraphQL GET stream, and is no filter', async () => {
    const collection = await openSse(`${s.url}${M}?stream=sse&access_token=${token}`);
    const record = await openSse(`${s.url}${M}/m1?access_token=${token}`, { headers: { accept: 'text/event-stream' } });
    try {
      for (const stream of [collection, record]) {
        assert.equal(stream.status, 200);
        // The retained record arrives: had access_token been read as a filter, nothing would match.
        const [, , retained] = await stream.next(3);
        assert.deepEqual(json(retained!), { id: 'm1', title: 'Hello' });
      }
    } finally {
      collection.close();
      record.close();
    }
    const sub = await openGqlSse(`${s.url}${GQL}?query=${encodeURIComponent('{ message { id } }')}&access_token=${token}`);
    try {
      assert.equal(sub.status, 200);
      assert.deepEqual(JSON.parse((await sub.next((f) => f.event === 'next')).data), { data: { message: [{ id: 'm1' }] } });
    } finally {
      sub.close();
    }
  });

  test('is a 400 everywhere else: JSON reads, HEAD, writes, GraphQL without an event stream, POST streams, other routes; given twice; inside a condition', async () => {
    const q = encodeURIComponent('{ message { id } }');
    await refused('GET', `${M}?access_token=${token}`);
    await refused('GET', `${M}/m1?access_token=${token}`);
    await refused('HEAD', `${M}?stream=sse&access_token=${token}`);
    await refused('POST', `${M}?access_token=${token}`, {}, { id: 'x', title: 'x' });
    await refused('DELETE', `${M}/m1?access_token=${token}`);
    await refused('GET', `${GQL}?query=${q}&access_token=${token}`, { accept: 'application/json' });
    // `stream=sse` makes a table GET a stream, not a GraphQL one.
    await refused('GET', `${GQL}?query=${q}&stream=sse&access_token=${token}`);
    await refused('POST', `${GQL}?access_token=${token}`, { accept: 'text/event-stream' }, { query: '{ message { id } }' });
    await refused('GET', `/auth/me?access_token=${token}`, { accept: 'text/event-stream' });
    await refused('GET', `/nowhere?access_token=${token}`, { accept: 'text/event-stream' });
    await refused('GET', `/?access_token=${token}`, { accept: 'text/event-stream' });
    await refused('GET', `${M}?stream=sse&access_token=${token}&access_token=${token}`);
    await refused('GET', `${M}?stream=sse&title=x|access_token=${token}`);
    await refused('GET', `${M}?stream=sse&[access_token=${token}]`);
  });
});

describe('(c) session and bearer tokens are not interchangeable', () => {
  test('the cookie takes a session token only; Authorization: Bearer and access_token a bearer token only', async () => {
    assert.equal((await s.req('GET', M, undefined, { authorization: `Bearer ${token}` })).status, 200);
    assert.equal((await s.req('GET', M, undefined, { cookie: `tablecast_session=${encodeURIComponent(session)}` })).status, 200);

    assertError(await s.req('GET', M, undefined, { authorization: `Bearer ${session}` }), 401, 'UNAUTHORIZED', 'a session token as a bearer token');
    assertError(await s.req('GET', M, undefined, { cookie: `tablecast_session=${encodeURIComponent(token)}` }), 401, 'UNAUTHORIZED', 'a bearer token as the cookie');
    const stream = await openSse(`${s.url}${M}?stream=sse&access_token=${encodeURIComponent(session)}`);
    assert.equal(stream.status, 401, 'a session token as access_token');
    assert.equal((await stream.json()).code, 'UNAUTHORIZED');
    const res = await gql(`${s.url}${GQL}`, '{ message { id } }', undefined, 'application/json');
    assert.equal(res.status, 401, 'anonymous GraphQL, for reference');
    const viaBearer = await s.req('POST', GQL, { query: '{ message { id } }' }, { authorization: `Bearer ${session}` });
    assert.equal(viaBearer.status, 401, 'a session token as a bearer token on GraphQL');
  });

  test('logout revokes only a token sent where its kind belongs', async () => {
    const login = await s.req('POST', '/auth/login', { username: 'alice', password: PASSWORD });
    const mine = decodeURIComponent(String(login.headers['set-cookie']).split(';')[0]!.split('=')[1]!);
    // Sent as a bearer token, the session token is not one: nothing is revoked.
    assert.equal((await s.req('POST', '/auth/logout', undefined, { authorization: `Bearer ${mine}` })).status, 204);
    assert.equal((await s.req('GET', M, undefined, { cookie: `tablecast_session=${encodeURIComponent(mine)}` })).status, 200);
    assert.equal((await s.req('POST', '/auth/logout', undefined, { cookie: `tablecast_session=${encodeURIComponent(mine)}` })).status, 204);
    assert.equal((await s.req('GET', M, undefined, { cookie: `tablecast_session=${encodeURIComponent(mine)}` })).status, 401);
  });
});

describe('(d) a create on a key outside the read view answers as PUT does', () => {
  /** The parts of an answer a caller can compare. */
  const seen = (res: Res) => ({ status: res.status, code: res.body?.code, message: res.body?.message });

  test("POST and GraphQL create on another owner's key: the answer of a PUT to that key, not 409", async () => {
    for (const [user, body] of [
      ['ann', { id: 'bob-1', owner: 'ann', text: 'mine now' }],
      ['bob', { id: 'ann-1', owner: 'bob', text: 'mine now' }],
    ] as const) {
      const before = head();
      const put = await s.req('PUT', `${D}/${body.id}`, body, basic(user));
      const post = await s.req('POST', D, body, basic(user));
      assert.equal(put.status, 403, `${user}: PUT ${put.text}`);
      assert.deepEqual(seen(post), seen(put), `${user}: POST answers as PUT`);
      const mutation = `mutation { createDoc(data: { id: "${body.id}", owner: "${body.owner}", text: "g" }) { id } }`;
      const viaGql = await s.req('POST', GQL, { query: mutation }, basic(user));
      assert.equal(viaGql.status, 403, viaGql.text);
      assert.equal(viaGql.body.errors[0].extensions.code, put.body.code);
      assert.equal(viaGql.body.errors[0].message, put.body.message);
      assert.equal(head(), before, 'nothing was written');
    }
  });

  test('a key inside the view is still a 409; a new key is created', async () => {
    assertError(await s.req('POST', D, { id: 'ann-1', owner: 'ann' }, basic('ann')), 409, 'CONFLICT');
    assert.equal((await s.req('POST', D, { id: 'ann-2', owner: 'ann' }, basic('ann'))).status, 201);
    // Trusted callers (no principal) see CONFLICT for any key.
    await assert.rejects(s.server.tables.hy!.doc!.create({ id: 'bob-1', owner: 'x' }), { code: 'CONFLICT' });
  });
});

/**
 * Issue #16 (3): `POST /auth/password`. A user with `changePassword: true` changes their own
 * password given the current one: the old one then fails and the new one works (Basic, /auth/token,
 * /auth/login), every token and session issued before ends, the change survives a restart (it is
 * in the store, not the config file), a wrong current password is a 403 that changes nothing and
 * counts against the login rate, bad bodies are 400, and other users are not affected. An operator
 * who writes a new hash into the configuration overrides the changed password.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { hashPassword } from '../../src/auth/password.ts';
import { MESSAGE_SDL, schemaDir, startServer, tmpDir, type TestServer } from '../helpers/server.ts';
import { json, openSse, within } from '../helpers/sse.ts';

const OLD = 'Tr0ub4dor&3';
const NEW = 'correct horse battery';
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const schemas = schemaDir({ 'm.graphql': MESSAGE_SDL });

async function authConfig(overrides: { aliceHash?: string; loginRate?: number } = {}) {
  return {
    users: {
      alice: { password: overrides.aliceHash ?? (await hashPassword(OLD)), roles: ['reader'], changePassword: true },
      bob: { password: await hashPassword(OLD), roles: ['reader'] },
    },
    roles: { reader: { tables: { 'realtime-demo/message': ['read'] } } },
    loginRate: overrides.loginRate ?? 1000,
  };
}

async function serve(t: { after(fn: () => void | Promise<void>): void }, auth: unknown, data?: string, logStream?: PassThrough): Promise<TestServer> {
  const s = await startServer({ schemas, auth: auth as never, ...(data ? { data } : {}), ...(logStream ? { logStream, logLevel: 'debug' } : {}) });
  t.after(() => s.close());
  return s;
}

/** Whether `password` logs `user` in: by Basic on a read, and by /auth/token. */
async function works(s: TestServer, user: string, password: string): Promise<boolean> {
  const read = await s.req('GET', '/realtime-demo/message', undefined, basic(user, password));
  const token = await s.req('POST', '/auth/token', { username: user, password });
  assert.equal(read.status === 200, token.status === 200, `Basic (${read.status}) and /auth/token (${token.status}) agree`);
  return read.status === 200;
}

const change = (s: TestServer, body: unknown, headers: Record<string, string>) => s.req('POST', '/auth/password', body, headers);

test('a changed password replaces the old one, ends earlier tokens and sessions, and survives a restart', async (t) => {
  const data = tmpDir();
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const auth = await authConfig();
  let logged = '';
  const logs = new PassThrough().on('data', (chunk: Buffer) => (logged += chunk.toString()));
  const s = await serve(t, auth, data, logs);
  const bearer = (await s.req('POST', '/auth/token', { username: 'alice', password: OLD })).body.access_token as string;
  const login = await s.req('POST', '/auth/login', { username: 'alice', password: OLD });
  const cookie = String(login.headers['set-cookie']).split(';')[0]!;
  assert.equal((await s.req('GET', '/auth/me', undefined, { cookie })).body.user, 'alice');
  assert.equal(await works(s, 'alice', OLD), true);

  const res = await change(s, { current: OLD, password: NEW }, { authorization: `Bearer ${bearer}` });
  assert.equal(res.status, 204, res.text);
  assert.equal(await works(s, 'alice', OLD), false, 'the old password fails (also where a Basic check was cached)');
  assert.equal(await works(s, 'alice', NEW), true, 'the new one works');
  const loginNew = await s.req('POST', '/auth/login', { username: 'alice', password: NEW });
  assert.equal(loginNew.status, 200);
  for (const [what, headers] of [
    ['the bearer token', { authorization: `Bearer ${bearer}` }],
    ['the session cookie', { cookie }],
  ] as const) {
    const me = await s.req('GET', '/auth/me', undefined, headers);
    assert.equal(me.status, 401, `${what} issued before the change ends: ${me.text}`);
    assert.match(me.body.message, /password was changed/);
  }
  const fresh = (await s.req('POST', '/auth/token', { username: 'alice', password: NEW })).body.access_token as string;
  const me = await s.req('GET', '/auth/me', undefined, { authorization: `Bearer ${fresh}` });
  assert.deepEqual([me.status, me.body.user, me.body.roles], [200, 'alice', ['reader']], 'same user, same roles');
  assert.equal(await works(s, 'bob', OLD), true, 'other users are not affected');
  await s.close();
  assert.match(logged, /auth\/password/, 'the change was logged (so silence about passwords is meaningful)');
  assert.ok(!logged.includes(OLD) && !logged.includes(NEW), 'no password in the logs');

  const again = await serve(t, auth, data);
  assert.equal(await works(again, 'alice', NEW), true, 'kept across a restart');
  assert.equal(await works(again, 'alice', OLD), false);
  const me2 = await again.req('GET', '/auth/me', undefined, { authorization: `Bearer ${fresh}` });
  assert.equal(me2.status, 200, 'a token issued after the change still works after a restart');
  await again.close();

  // The operator resets alice's password in the configuration: the configuration's wins.
  const reset = await serve(t, await authConfig({ aliceHash: await hashPassword('operator set') }), data);
  assert.equal(await works(reset, 'alice', 'operator set'), true);
  assert.equal(await works(reset, 'alice', NEW), false);
  const me3 = await reset.req('GET', '/auth/me', undefined, { authorization: `Bearer ${fresh}` });
  assert.equal(me3.status, 200, 'tokens are not ended by a reset in the configuration (the secret is the tool for that)');
});

test('refused changes: wrong current password, bad bodies, users without changePassword, anonymous; nothing changes', async (t) => {
  const s = await serve(t, await authConfig());
  const alice = basic('alice', OLD);
  const cases: Array<[unknown, Record<string, string>, number, string]> = [
    [{ current: 'wrong', password: NEW }, alice, 403, 'FORBIDDEN'],
    [{ current: OLD, password: 'x'.repeat(257) }, alice, 400, 'VALIDATION_FAILED'],
    [{ current: OLD, password: 'short' }, alice, 400, 'VALIDATION_FAILED'],
    [{ current: OLD, password: OLD }, alice, 400, 'VALIDATION_FAILED'],
    [{ current: 'x'.repeat(5000), password: NEW }, alice, 400, 'VALIDATION_FAILED'],
    [{ password: NEW }, alice, 400, 'VALIDATION_FAILED'],
    [{ current: OLD, password: 12345678 }, alice, 400, 'VALIDATION_FAILED'],
    ['not json', alice, 400, 'VALIDATION_FAILED'],
    [{ current: OLD, password: NEW }, basic('bob', OLD), 403, 'FORBIDDEN'],
    [{ current: OLD, password: NEW }, {}, 401, 'UNAUTHORIZED'],
  ];
  for (const [body, headers, status, code] of cases) {
    const res = await change(s, body, typeof body === 'string' ? { ...headers, 'content-type': 'text/plain' } : headers);
    assert.equal(res.status, status, `${JSON.stringify(body).slice(0, 60)}: ${res.text}`);
    assert.equal(res.body.code, code);
    assert.ok(!res.text.includes(OLD) && !res.text.includes(NEW), `no password is echoed: ${res.text}`);
  }
  assert.equal(await works(s, 'alice', OLD), true, 'nothing changed');
  assert.equal(await works(s, 'bob', OLD), true);
  assert.equal(await works(s, 'alice', NEW), false);
  assert.equal(s.server.app.store.credential('alice'), undefined, 'nothing stored');
});

test('wrong current passwords count against the login rate', async (t) => {
  const s = await serve(t, await authConfig({ loginRate: 3 }));
  const token = (await s.req('POST', '/auth/token', { username: 'alice', password: OLD })).body.access_token as string;
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await change(s, { current: `wrong ${i}`, password: NEW }, { authorization: `Bearer ${token}` })).status);
  assert.deepEqual(statuses, [403, 403, 403, 429]);
  const right = await change(s, { current: OLD, password: NEW }, { authorization: `Bearer ${token}` });
  assert.equal(right.status, 429, 'even the right one waits for the minute to pass');
  assert.equal(s.server.app.store.credential('alice'), undefined);
});

test('logins with the old password racing a change get no token that outlives it; of two changes over one password, one wins', async (t) => {
  const s = await serve(t, await authConfig());
  // Tokens are stamped with the generation of the password that was checked, not the one current
  // when the token is signed: a check that began before the change commits ends with a stale token.
  const got: string[] = [];
  let racing = true;
  const loginLoop = async () => {
    while (racing) {
      const r = await s.req('POST', '/auth/token', { username: 'alice', password: OLD });
      if (r.status === 200) got.push(r.body.access_token);
      else await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const loops = Array.from({ length: 4 }, loginLoop);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal((await change(s, { current: OLD, password: NEW }, basic('alice', OLD))).status, 204);
  await new Promise((resolve) => setTimeout(resolve, 200));
  racing = false;
  await Promise.all(loops);
  assert.ok(got.length > 0, 'the old password gave tokens before the change');
  for (const token of got) assert.equal((await s.req('GET', '/auth/me', undefined, { authorization: `Bearer ${token}` })).status, 401, 'a token checked against the old password');

  // Both checked against NEW before either is stored: one is stored, the other is a 409 (or, had
  // its check begun after the first was stored, a 403): never both.
  const [a, b] = await Promise.all([change(s, { current: NEW, password: 'first new one' }, basic('alice', NEW)), change(s, { current: NEW, password: 'second new one' }, basic('alice', NEW))]);
  assert.deepEqual([a.status, b.status].filter((x) => x === 204).length, 1, `statuses ${a.status}, ${b.status}`);
  const loser = a.status === 204 ? b : a;
  assert.ok(loser.status === 409 || loser.status === 403, `the other: ${loser.status} ${loser.text}`);
  const winner = a.status === 204 ? 'first new one' : 'second new one';
  assert.equal(await works(s, 'alice', winner), true);
  assert.equal(await works(s, 'alice', winner === 'first new one' ? 'second new one' : 'first new one'), false);
});

test('streams end when their credential lapses: a password change ends those opened with the old password or earlier tokens (table, channel, GraphQL), a logout those of its token', async (t) => {
  const auth = { ...(await authConfig()), roles: { reader: { tables: { 'realtime-demo/message': ['read'] }, channels: { 'room:*': ['subscribe'] } } } };
  // Lapsed credentials are found at the heartbeat: a short one.
  const s = await startServer({ schemas, auth: auth as never, pingInterval: 300 });
  t.after(() => s.close());
  const tokenOf = async (user: string) => (await s.req('POST', '/auth/token', { username: user, password: OLD })).body.access_token as string;
  const [aliceToken, loggedOut, bobToken] = [await tokenOf('alice'), await tokenOf('alice'), await tokenOf('bob')];
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const open = async (path: string, headers: Record<string, string>) => {
    const stream = await openSse(`${s.url}${path}`, { headers });
    t.after(() => stream.close());
    assert.equal(stream.status, 200, path);
    return stream;
  };
  const table = await open('/realtime-demo/message?stream=sse', bearer(aliceToken));
  const basicStream = await open('/realtime-demo/message?stream=sse', basic('alice', OLD));
  const channel = await open('/channels/room:1?stream=sse', bearer(aliceToken));
  const graphql = await open(`/realtime-demo/graphql?query=${encodeURIComponent('subscription { messageEvents { type id } }')}`, { ...bearer(aliceToken), accept: 'text/event-stream' });
  const logoutStream = await open('/realtime-demo/message?stream=sse', bearer(loggedOut));
  const bobs = await open('/realtime-demo/message?stream=sse', bearer(bobToken));

  assert.equal((await s.req('POST', '/auth/logout', undefined, bearer(loggedOut))).status, 204);
  await within(logoutStream.ended, 5000, 'the stream of a logged-out token did not end');
  assert.equal(table.isEnded, false, 'other tokens of the same user go on');

  assert.equal((await change(s, { current: OLD, password: NEW }, bearer(aliceToken))).status, 204);
  for (const [name, stream] of [
    ['table stream of an earlier token', table],
    ['stream opened with the old Basic password', basicStream],
    ['channel stream of an earlier token', channel],
    ['GraphQL subscription of an earlier token', graphql],
  ] as const) {
    await within(stream.ended, 5000, `the ${name} did not end`);
  }
  // Another user's stream is untouched: it still gets events.
  await s.server.tables['realtime-demo']!.message!.create({ id: 'after', title: 't', content: 'c' });
  assert.equal(json(await bobs.until((f) => f.event === 'update')).id, 'after');
  assert.equal(bobs.isEnded, false);
});

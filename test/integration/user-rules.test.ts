/**
 * Issue #16 (3): per-user rules. One role for every chat user, `owner=$user` on each action: two
 * users see and change only their own rows on REST and GraphQL, their streams and subscriptions
 * (live and replayed from Last-Event-ID) carry only their own events, an insert or publish on
 * another's row is refused and changes nothing, and an anonymous caller matches nothing. The fixed
 * filters' tests (auth-matrix, sse-filter) run the same paths with constant filters.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword } from '../../src/auth/password.ts';
import { openSse as openGql } from '../helpers/graphql.ts';
import { schemaDir, startServer, type TestServer } from '../helpers/server.ts';
import { json, openSse, type Frame } from '../helpers/sse.ts';

const SDL = `
type Message @table(database: "chat") @export(name: "message") { id: ID! @primaryKey  owner: String @indexed  text: String }
type Room @table(database: "chat") @export(name: "room") { id: ID! @primaryKey  team: String }
`;
const OWN = { filter: 'owner=$user' };
const PASSWORD = 'pw';
const basic = (user: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${PASSWORD}`).toString('base64')}` });
const alice = basic('alice');
const bob = basic('bob');

let s: TestServer;
const messages = () => s.server.tables.chat!.message!;
const head = () => s.server.app.store.changeLog.head();
const ids = (rows: Array<{ id: string }>) => rows.map((r) => r.id).sort();

before(async () => {
  const hash = await hashPassword(PASSWORD);
  const auth = {
    users: {
      alice: { password: hash, roles: ['member'] },
      bob: { password: hash, roles: ['member'] },
      ann: { password: hash, roles: ['member', 'team-red'] },
    },
    roles: {
      member: { tables: { 'chat/message': { read: OWN, insert: OWN, update: OWN, delete: OWN, publish: OWN }, 'chat/room': { read: { filter: 'team=$roles' } } } },
      'team-red': { tables: {} },
      anonymous: { tables: { 'chat/message': { read: OWN } } },
    },
    loginRate: 1000,
  };
  s = await startServer({ schemas: schemaDir({ 'chat.graphql': SDL }), auth: auth as never });
  await messages().create({ id: 'a1', owner: 'alice', text: 'hi from alice' });
  await messages().create({ id: 'b1', owner: 'bob', text: 'hi from bob' });
  await messages().create({ id: 'a2', owner: 'alice', text: 'again' });
});
after(() => s.close());

test('REST and GraphQL reads: each user sees their own rows; another’s row is absent; anonymous sees none', async () => {
  assert.deepEqual(ids((await s.req('GET', '/chat/message', undefined, alice)).body), ['a1', 'a2']);
  assert.deepEqual(ids((await s.req('GET', '/chat/message', undefined, bob)).body), ['b1']);
  assert.deepEqual(ids((await s.req('GET', '/chat/message?owner=bob', undefined, alice)).body), [], 'asking for bob’s rows gives none');
  assert.deepEqual((await s.req('GET', '/chat/message')).body, [], 'anonymous: $user matches nothing');
  assert.equal((await s.req('GET', '/chat/message/a1', undefined, alice)).status, 200);
  for (const [who, key] of [
    [alice, 'b1'],
    [bob, 'a1'],
    [{}, 'a1'],
  ] as const) {
    const res = await s.req('GET', `/chat/message/${key}`, undefined, who);
    assert.equal(res.status, 404, res.text);
    assert.equal(res.body.code, 'NOT_FOUND');
  }
  const query = { query: '{ message { id owner } other: message(id: "b1") { id } }' };
  const gql = await s.req('POST', '/chat/graphql', query, alice);
  assert.deepEqual(ids(gql.body.data.message), ['a1', 'a2']);
  assert.deepEqual(gql.body.data.other, []);
  assert.deepEqual((await s.req('POST', '/chat/graphql', query, bob)).body.data.message, [{ id: 'b1', owner: 'bob' }]);
});

test('$roles: a user sees the rooms of the teams among their roles', async () => {
  const rooms = s.server.tables.chat!.room!;
  await rooms.create({ id: 'red', team: 'team-red' });
  await rooms.create({ id: 'blue', team: 'team-blue' });
  assert.deepEqual(ids((await s.req('GET', '/chat/room', undefined, basic('ann'))).body), ['red']);
  assert.deepEqual((await s.req('GET', '/chat/room', undefined, alice)).body, []);
});

test('writes: inserting, moving, changing or publishing to another’s row is refused and changes nothing', async () => {
  const before = head();
  const b1 = messages().get('b1');
  const refusals: Array<[string, string, unknown, number]> = [
    ['POST', '/chat/message', { id: 'forged', owner: 'bob', text: 'as bob' }, 403],
    ['PUT', '/chat/message/forged', { owner: 'bob', text: 'as bob' }, 403],
    ['PATCH', '/chat/message/a1', { owner: 'bob' }, 403],
    ['PUT', '/chat/message/b1', { owner: 'alice', text: 'mine' }, 403],
    ['PATCH', '/chat/message/b1', { text: 'mine' }, 404],
    ['DELETE', '/chat/message/b1', undefined, 404],
    ['POST', '/chat/message/b1', { typing: true }, 404],
  ];
  for (const [method, path, body, status] of refusals) {
    const res = await s.req(method, path, body, alice);
    assert.equal(res.status, status, `${method} ${path}: ${res.text}`);
  }
  const anonymous = await s.req('POST', '/chat/message', { id: 'anon', owner: 'alice' });
  assert.equal(anonymous.status, 401, 'anonymous may not insert at all');
  for (const [mutation, code] of [
    ['createMessage(data: { id: "g", owner: "bob", text: "x" }) { id }', 'FORBIDDEN'],
    ['publishMessage(id: "b1", message: { x: 1 })', 'NOT_FOUND'],
  ]) {
    const gql = await s.req('POST', '/chat/graphql', { query: `mutation { ${mutation} }` }, alice);
    assert.equal(gql.body.errors?.[0]?.extensions.code, code, gql.text);
  }
  assert.equal(head(), before, 'nothing was written');
  assert.deepEqual(messages().get('b1'), b1);

  const own = await s.req('POST', '/chat/message', { id: 'a3', owner: 'alice', text: 'mine' }, alice);
  assert.equal(own.status, 201, own.text);
  assert.equal((await s.req('POST', '/chat/message/a3', { typing: true }, alice)).status, 202);
  assert.equal((await s.req('DELETE', '/chat/message/a3', undefined, alice)).status, 204);
});

test('streams and subscriptions carry each user’s own events, live and replayed from Last-Event-ID', async () => {
  const from = head();
  const hub = () => s.server.app.hub.count();
  const aliceSse = await openSse(`${s.url}/chat/message?stream=sse`, { headers: alice });
  const bobSse = await openSse(`${s.url}/chat/message?stream=sse`, { headers: bob });
  const aliceGql = await openGql(`${s.url}/chat/graphql`, {
    method: 'POST',
    headers: { ...alice, 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'subscription { messageEvents { type id } }' }),
  });
  try {
    const deadline = Date.now() + 10_000;
    while (hub() < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(hub(), 3, 'three subscribers');
    const events = (frames: Frame[]) => frames.filter((f) => f.event !== 'message' && f.id !== undefined).map((f) => `${f.event} ${json(f).id}`);
    await aliceSse.until((f) => json(f)?.type === 'connected');
    await bobSse.until((f) => json(f)?.type === 'connected');

    const api = messages();
    await api.patch('b1', { text: 'bob edits' }); // bob
    await api.patch('a1', { text: 'alice edits' }); // alice
    await api.publish('b1', { typing: true }); // bob
    await api.publish('a1', { typing: true }); // alice
    await api.patch('a2', { owner: 'bob' }); // leaves alice's view (delete), enters bob's (update)
    await api.create({ id: 'b2', owner: 'bob', text: 'end' }); // bob
    await api.create({ id: 'a9', owner: 'alice', text: 'end' }); // alice

    const aliceExpected = ['update a1', 'publish a1', 'delete a2', 'update a9'];
    const bobExpected = ['update b1', 'publish b1', 'update a2', 'update b2'];
    assert.deepEqual(events(await aliceSse.collectUntil((f) => f.id !== undefined && json(f).id === 'a9')), aliceExpected);
    assert.deepEqual(events(await bobSse.collectUntil((f) => f.id !== undefined && json(f).id === 'b2')), bobExpected);
    const gqlEvents: string[] = [];
    while (gqlEvents.length < 4) {
      const { messageEvents: e } = JSON.parse((await aliceGql.next((f) => f.event === 'next')).data).data;
      gqlEvents.push(`${e.type.toLowerCase()} ${e.id}`);
    }
    assert.deepEqual(gqlEvents, aliceExpected);

    // Replayed from the log after a cursor: the same decisions, per user.
    for (const [who, expected] of [
      [alice, aliceExpected],
      [bob, bobExpected],
    ] as const) {
      const again = await openSse(`${s.url}/chat/message?stream=sse`, { headers: { ...who, 'last-event-id': String(from) } });
      try {
        const last = expected.at(-1)!.split(' ')[1];
        assert.deepEqual(events(await again.collectUntil((f) => f.id !== undefined && f.event !== 'message' && json(f).id === last)), expected);
      } finally {
        again.close();
      }
    }
  } finally {
    aliceSse.close();
    bobSse.close();
    aliceGql.close();
  }
});

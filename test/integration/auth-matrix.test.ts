/**
 * Issue #5 (3): the auth matrix. Every principal × table × operation × transport gets exactly its
 * permission: allowed, 401 (no credentials) or 403 (credentials without the permission), and a
 * refused write changes nothing (the change-log head stays put). The cases are generated from one
 * table of expectations (GRANTS) and one list of operations (OPERATIONS), so both stay readable
 * and the matrix complete. Then the row filters: a role reading `owner=alice` sees alice's
 * records only, on REST, GraphQL and streams, with each event checked again as records enter and
 * leave its view.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { hashPassword } from '../../src/auth/password.ts';
import { createPolicy, type Principal } from '../../src/auth/policy.ts';
import { AuthSchema } from '../../src/config.ts';
import { parseSchema } from '../../src/schema/parse.ts';
import { openSse as openGqlSse, waitFor, type SseStream as GqlStream } from '../helpers/graphql.ts';
import { httpRequest, schemaDir, startServer, type Res, type TestServer } from '../helpers/server.ts';
import { json, openSse, type Frame } from '../helpers/sse.ts';

const SDL = `
type Note @table(database: "alpha") @export(name: "note") { id: ID! @primaryKey  owner: String @indexed  text: String }
type Secret @table(database: "alpha") @export(name: "secret") { id: ID! @primaryKey  owner: String  text: String }
type Post @table(database: "beta") @export(name: "post") { id: ID! @primaryKey  owner: String  text: String }
`;

/** The tables: URL path, GraphQL endpoint and field names. */
const TABLES = {
  note: { path: '/alpha/note', graphql: '/alpha/graphql', type: 'Note' },
  secret: { path: '/alpha/secret', graphql: '/alpha/graphql', type: 'Secret' },
  post: { path: '/beta/post', graphql: '/beta/graphql', type: 'Post' },
} as const;
type Table = keyof typeof TABLES;

const ALL = { read: true, insert: true, update: true, delete: true, publish: true };
const ALICE_ONLY = { filter: 'owner=alice' };
const ROLES = {
  reader: { tables: { '*': ['read'] } },
  writer: { tables: { 'alpha/note': ['insert', 'update'] } },
  publisher: { tables: { '*': ['publish'] } },
  rowRole: { tables: { 'alpha/note': { read: ALICE_ONLY, update: ALICE_ONLY } } },
  admin: { tables: { '*': ALL } },
  anonymous: { tables: { 'beta/post': ['read'] } },
};

/**
 * The expectations: what each principal may do on each table. Letters are the permissions
 * (r)ead (i)nsert (u)pdate (d)elete (p)ublish; `none` sends no credentials (the anonymous role).
 * rowRole's r and u hold for records with owner=alice only; every operation below targets alice's
 * records, so there they are plain grants (the row filters have their own tests further down).
 */
const GRANTS: Record<string, Record<Table, string>> = {
  //          alpha/note   alpha/secret   beta/post
  none: /*   */ { note: '', secret: '', post: 'r' },
  reader: /* */ { note: 'r', secret: 'r', post: 'r' },
  writer: /* */ { note: 'iu', secret: '', post: '' },
  publisher: { note: 'p', secret: 'p', post: 'p' },
  rowRole: /**/ { note: 'ru', secret: '', post: '' },
  admin: /*  */ { note: 'riudp', secret: 'riudp', post: 'riudp' },
};
/** The user holding each role (none: no credentials). */
const USER: Record<string, string | undefined> = { none: undefined, reader: 'reader', writer: 'writer', publisher: 'publisher', rowRole: 'rower', admin: 'admin' };

type Letter = 'r' | 'i' | 'u' | 'd' | 'p';
/** What one operation observed: allowed, or refused with a status and code. */
type Outcome = { allowed: true } | { allowed: false; status: number; code: string };
interface Ctx {
  table: Table;
  headers: Record<string, string>;
  /** A fresh key, for creates. */
  fresh(): string;
  /** A record created for this case (trusted), for deletes. */
  victim(): Promise<string>;
}
interface Operation {
  transport: 'REST' | 'SSE' | 'GraphQL';
  name: string;
  needs: Letter;
  run(ctx: Ctx): Promise<Outcome>;
}

let s: TestServer;
let schemas: string;
const PASSWORD = 'pw';
let counter = 0;

const req = (method: string, path: string, body: unknown, headers: Record<string, string>) => httpRequest(s.url + path, method, body, headers);
const hub = () => s.server.app.hub.count();
const idle = () => waitFor(() => hub() === 0 && s.server.streams.size === 0, `no stream or subscription left (hub ${hub()}, streams ${s.server.streams.size})`);

/** A REST answer: `ok` is the success status; anything else must be the one error shape. */
function rest(res: Res, ok: number, check?: (res: Res) => void): Outcome {
  if (res.status === ok) {
    check?.(res);
    return { allowed: true };
  }
  assert.match(String(res.headers['content-type']), /^application\/json/, res.text);
  assert.equal(res.body.statusCode, res.status, res.text);
  if (res.status === 401) assert.ok(res.headers['www-authenticate'], '401 carries WWW-Authenticate');
  return { allowed: false, status: res.status, code: res.body.code };
}

/** A GraphQL JSON answer to one field: data, or one error with code and status (also the HTTP status). */
async function graphql(ctx: Ctx, query: string, check?: (data: any) => void): Promise<Outcome> {
  const res = await req('POST', TABLES[ctx.table].graphql, { query }, ctx.headers);
  if (!res.body.errors) {
    assert.equal(res.status, 200, res.text);
    check?.(res.body.data);
    return { allowed: true };
  }
  assert.equal(res.body.errors.length, 1, res.text);
  const { code, http } = res.body.errors[0].extensions;
  assert.equal(res.status, http.status, `the HTTP status is the error's: ${res.text}`);
  if (res.status === 401) assert.ok(res.headers['www-authenticate'], 'GraphQL 401 carries WWW-Authenticate');
  return { allowed: false, status: http.status, code };
}

/** An SSE open: a stream that says `connected`, or a JSON error before any stream. */
async function sseOpen(ctx: Ctx, path: string): Promise<Outcome> {
  const streams = s.server.streams.size;
  const stream = await openSse(s.url + path, { headers: ctx.headers });
  try {
    if (stream.status !== 200) {
      assert.match(String(stream.headers['content-type']), /^application\/json/, 'refused before the stream opens');
      const body = await stream.json();
      assert.equal(s.server.streams.size, streams, 'no stream was opened');
      if (stream.status === 401) assert.ok(stream.headers['www-authenticate']);
      return { allowed: false, status: stream.status, code: body.code };
    }
    assert.match(String(stream.headers['content-type']), /^text\/event-stream/);
    const [retry, hello] = await stream.next(2);
    assert.equal(retry!.retry, 3000);
    assert.deepEqual(json(hello!), { type: 'connected', status: 'ok' });
    return { allowed: true };
  } finally {
    stream.close();
    await idle();
  }
}

/**
 * A GraphQL subscription over POST text/event-stream. Allowed: it reaches the hub. Refused: the
 * stream is accepted (graphql-sse needs that to show errors) and carries one `next` with the error
 * (code, http.status), then `complete`, and no subscription is left behind.
 */
async function subscription(ctx: Ctx, query: string): Promise<Outcome> {
  const sub: GqlStream = await openGqlSse(s.url + TABLES[ctx.table].graphql, {
    method: 'POST',
    headers: { ...ctx.headers, 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  try {
    assert.equal(sub.status, 200);
    assert.match(String(sub.headers['content-type']), /^text\/event-stream/);
    // Whichever comes first: the subscription reaching the hub, or a frame (the error).
    let done = false;
    const subscribed = (async () => {
      while (!done && hub() === 0) await new Promise((r) => setTimeout(r, 5));
      return hub() > 0 ? ('subscribed' as const) : undefined;
    })();
    const frame = sub.next((f) => f.event === 'next' || f.event === 'complete').catch((err: Error) => err);
    const first = await Promise.race([frame, subscribed]);
    done = true;
    if (first === 'subscribed') return { allowed: true };
    assert.ok(first && !(first instanceof Error), `neither a subscription nor an error event: ${String(first)}`);
    assert.equal(first.event, 'next', JSON.stringify(sub.seen));
    const result = JSON.parse(first.data);
    assert.equal(result.data ?? null, null);
    assert.equal(result.errors.length, 1);
    const { code, http } = result.errors[0].extensions;
    await sub.next((f) => f.event === 'complete');
    assert.equal(hub(), 0, 'a refused subscription leaves nothing behind');
    return { allowed: false, status: http.status, code };
  } finally {
    sub.close();
    await idle();
  }
}

const q = (value: unknown) => JSON.stringify(value);
const fieldOf = (ctx: Ctx) => ctx.table; // query and subscription fields are the export names
const typeOf = (ctx: Ctx) => TABLES[ctx.table].type;

/** Every operation, per transport, with the permission it needs. Targets are alice's records. */
const OPERATIONS: Operation[] = [
  {
    transport: 'REST',
    name: 'GET collection',
    needs: 'r',
    run: async (c) => rest(await req('GET', TABLES[c.table].path, undefined, c.headers), 200, (r) => assert.ok(r.body.some((x: any) => x.id === 'a'))),
  },
  { transport: 'REST', name: 'GET record', needs: 'r', run: async (c) => rest(await req('GET', `${TABLES[c.table].path}/a`, undefined, c.headers), 200, (r) => assert.equal(r.body.owner, 'alice')) },
  {
    transport: 'REST',
    name: 'POST collection (create)',
    needs: 'i',
    run: async (c) => rest(await req('POST', TABLES[c.table].path, { id: c.fresh(), owner: 'alice', text: 'posted' }, c.headers), 201),
  },
  { transport: 'REST', name: 'PUT new record (create)', needs: 'i', run: async (c) => rest(await req('PUT', `${TABLES[c.table].path}/${c.fresh()}`, { owner: 'alice', text: 'put' }, c.headers), 201) },
  {
    transport: 'REST',
    name: 'PUT existing record (replace)',
    needs: 'u',
    run: async (c) => rest(await req('PUT', `${TABLES[c.table].path}/a`, { owner: 'alice', text: 'replaced' }, c.headers), 200),
  },
  { transport: 'REST', name: 'PATCH record', needs: 'u', run: async (c) => rest(await req('PATCH', `${TABLES[c.table].path}/a`, { text: 'patched' }, c.headers), 200) },
  {
    transport: 'REST',
    name: 'DELETE record',
    needs: 'd',
    run: async (c) => {
      const key = await c.victim();
      return rest(await req('DELETE', `${TABLES[c.table].path}/${key}`, undefined, c.headers), 204);
    },
  },
  {
    transport: 'REST',
    name: 'DELETE collection (with a query)',
    needs: 'd',
    run: async (c) => {
      const key = await c.victim();
      return rest(await req('DELETE', `${TABLES[c.table].path}?id=${key}`, undefined, c.headers), 200, (r) => assert.deepEqual(r.body, { deleted: 1 }));
    },
  },
  { transport: 'REST', name: 'POST record (publish)', needs: 'p', run: async (c) => rest(await req('POST', `${TABLES[c.table].path}/a`, { hello: 'there' }, c.headers), 202) },
  { transport: 'SSE', name: 'open collection stream', needs: 'r', run: (c) => sseOpen(c, `${TABLES[c.table].path}?stream=sse`) },
  { transport: 'SSE', name: 'open record stream', needs: 'r', run: (c) => sseOpen(c, `${TABLES[c.table].path}/a?stream=sse`) },
  { transport: 'GraphQL', name: 'query', needs: 'r', run: (c) => graphql(c, `{ ${fieldOf(c)}(id: "a") { id owner } }`, (d) => assert.deepEqual(d[fieldOf(c)], [{ id: 'a', owner: 'alice' }])) },
  {
    transport: 'GraphQL',
    name: 'mutation create',
    needs: 'i',
    run: (c) => graphql(c, `mutation { create${typeOf(c)}(data: { id: ${q(c.fresh())}, owner: "alice", text: "g" }) { id } }`),
  },
  { transport: 'GraphQL', name: 'mutation replace', needs: 'u', run: (c) => graphql(c, `mutation { replace${typeOf(c)}(id: "a", data: { owner: "alice", text: "gr" }) { id } }`) },
  {
    transport: 'GraphQL',
    name: 'mutation update',
    needs: 'u',
    run: (c) => graphql(c, `mutation { update${typeOf(c)}(id: "a", data: { text: "gu" }) { id text } }`, (d) => assert.equal(d[`update${typeOf(c)}`].text, 'gu')),
  },
  {
    transport: 'GraphQL',
    name: 'mutation delete',
    needs: 'd',
    run: async (c) => graphql(c, `mutation { delete${typeOf(c)}(id: ${q(await c.victim())}) }`, (d) => assert.equal(d[`delete${typeOf(c)}`], true)),
  },
  { transport: 'GraphQL', name: 'mutation publish', needs: 'p', run: (c) => graphql(c, `mutation { publish${typeOf(c)}(id: "a", message: { hi: 1 }) }`) },
  { transport: 'GraphQL', name: 'subscription (record)', needs: 'r', run: (c) => subscription(c, `subscription { ${fieldOf(c)} { id } }`) },
  { transport: 'GraphQL', name: 'subscription (…Events)', needs: 'r', run: (c) => subscription(c, `subscription { ${fieldOf(c)}Events(id: "a") { type id } }`) },
];

before(async () => {
  const password = await hashPassword(PASSWORD);
  schemas = schemaDir({ 'schema.graphql': SDL });
  s = await startServer({
    schemas,
    auth: {
      users: Object.fromEntries(Object.entries(USER).flatMap(([role, user]) => (user ? [[user, { password, roles: [role] }]] : []))),
      roles: ROLES as never,
    },
  });
  for (const t of Object.values(TABLES)) {
    const [db, name] = t.path.slice(1).split('/') as [string, string];
    await s.server.tables[db]![name]!.create({ id: 'a', owner: 'alice', text: 'alice writes' });
    await s.server.tables[db]![name]!.create({ id: 'b', owner: 'bob', text: 'bob writes' });
  }
});
after(async () => {
  await s?.close();
  rmSync(schemas, { recursive: true, force: true });
});

test('the matrix covers every principal, table and operation of every transport', () => {
  assert.deepEqual(Object.keys(GRANTS).sort(), Object.keys(USER).sort());
  for (const row of Object.values(GRANTS)) assert.deepEqual(Object.keys(row).sort(), Object.keys(TABLES).sort());
  const transports = new Set(OPERATIONS.map((o) => o.transport));
  assert.deepEqual([...transports].sort(), ['GraphQL', 'REST', 'SSE']);
  assert.deepEqual([...new Set(OPERATIONS.map((o) => o.needs))].sort(), ['d', 'i', 'p', 'r', 'u'], 'every permission is exercised');
  assert.equal(OPERATIONS.length * Object.keys(GRANTS).length * Object.keys(TABLES).length, 342);
});

for (const [principal, grants] of Object.entries(GRANTS)) {
  describe(`${principal}`, () => {
    const user = USER[principal];
    const headers: Record<string, string> = user ? { authorization: `Basic ${Buffer.from(`${user}:${PASSWORD}`).toString('base64')}` } : {};
    for (const table of Object.keys(TABLES) as Table[]) {
      for (const op of OPERATIONS) {
        const allowed = grants[table].includes(op.needs);
        const expected = allowed ? 'allowed' : user ? '403 FORBIDDEN' : '401 UNAUTHORIZED';
        test(`${table} · ${op.transport} ${op.name} → ${expected}`, async () => {
          const victims: string[] = [];
          const [db, name] = TABLES[table].path.slice(1).split('/') as [string, string];
          const api = s.server.tables[db]![name]!;
          const head = () => s.server.app.store.changeLog.head();
          // Read again after a case's own set-up (the record it deletes), so only the operation counts.
          let before = head();
          const ctx: Ctx = {
            table,
            headers,
            fresh: () => `k${++counter}`,
            victim: async () => {
              const key = `v${++counter}`;
              await api.create({ id: key, owner: 'alice', text: 'to delete' });
              victims.push(key);
              before = head();
              return key;
            },
          };
          const alice = api.get('a');
          const outcome = await op.run(ctx);
          if (allowed) {
            assert.deepEqual(outcome, { allowed: true });
            if (op.needs === 'd') assert.equal(api.get(victims[0]!), undefined, 'the record was deleted');
            return;
          }
          assert.deepEqual(outcome, user ? { allowed: false, status: 403, code: 'FORBIDDEN' } : { allowed: false, status: 401, code: 'UNAUTHORIZED' });
          assert.equal(head(), before, 'a refused operation changes nothing (change-log head unchanged)');
          assert.deepEqual(api.get('a'), alice, "alice's record is untouched");
          for (const key of victims) assert.ok(api.get(key), 'the record to delete is still there');
        });
      }
    }
  });
}

describe('row filters: rowRole reads and updates owner=alice only', () => {
  const rower = { authorization: `Basic ${Buffer.from(`rower:${PASSWORD}`).toString('base64')}` };
  const admin = { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` };
  const notes = () => s.server.tables.alpha!.note!;
  const aliceNotes = async () => ((await notes().search()) as Array<{ id: string; owner: string }>).filter((r) => r.owner === 'alice');

  test('REST and GraphQL reads return only alice records; a record outside the view is absent (404)', async () => {
    const list = await req('GET', '/alpha/note', undefined, rower);
    assert.equal(list.status, 200);
    assert.deepEqual(list.body, await aliceNotes());
    assert.ok(list.body.length > 0 && list.body.every((r: any) => r.owner === 'alice'));
    const filtered = await req('GET', '/alpha/note?owner=bob', undefined, rower);
    assert.deepEqual(filtered.body, [], "asking for bob's records gives none");

    const bobs = await req('GET', '/alpha/note/b', undefined, rower);
    const missing = await req('GET', '/alpha/note/nope', undefined, rower);
    assert.equal(bobs.status, 404);
    assert.equal(bobs.body.code, 'NOT_FOUND');
    assert.deepEqual(Object.keys(bobs.body).sort(), Object.keys(missing.body).sort(), 'indistinguishable from a missing record');

    const gql = await req('POST', '/alpha/graphql', { query: '{ bob: note(id: "b") { id } all: note { id owner } }' }, rower);
    assert.deepEqual(gql.body.data.bob, []);
    assert.deepEqual(
      gql.body.data.all,
      (await aliceNotes()).map((r) => ({ id: r.id, owner: r.owner })),
    );
  });

  test("writes: alice's records only, never moving one out of the view; bob's records look absent", async () => {
    const headBefore = s.server.app.store.changeLog.head();
    const bob = notes().get('b');
    for (const [method, path, body] of [
      ['PATCH', '/alpha/note/b', { text: 'mine now' }],
      ['PATCH', '/alpha/note/nope', { text: 'mine now' }],
    ] as const) {
      const res = await req(method, path, body, rower);
      assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
      assert.equal(res.body.code, 'NOT_FOUND');
    }
    // An invalid patch is answered alike for bob's record and for none (validation does not tell).
    const invalid = await req('PATCH', '/alpha/note/b', { text: 5 }, rower);
    const invalidMissing = await req('PATCH', '/alpha/note/nope', { text: 5 }, rower);
    assert.equal(invalid.status, invalidMissing.status);
    assert.equal(invalid.body.code, invalidMissing.body.code);
    const gql = await req('POST', '/alpha/graphql', { query: 'mutation { updateNote(id: "b", data: { text: "x" }) { id } }' }, rower);
    assert.equal(gql.body.errors[0].extensions.code, 'NOT_FOUND');
    const replace = await req('PUT', '/alpha/note/b', { owner: 'alice', text: 'taken' }, rower);
    assert.equal(replace.status, 403, "replacing bob's record");
    const move = await req('PATCH', '/alpha/note/a', { owner: 'bob' }, rower);
    assert.equal(move.status, 403, 'an update may not take a record out of the role’s view');
    assert.equal(move.body.code, 'FORBIDDEN');
    assert.equal(s.server.app.store.changeLog.head(), headBefore, 'nothing was written');
    assert.deepEqual(notes().get('b'), bob);

    const ok = await req('PATCH', '/alpha/note/a', { text: 'still alice' }, rower);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.owner, 'alice');
  });

  test('streams and subscriptions: events for alice records only, checked again per event (leaving is a delete, entering an update)', async () => {
    await notes().put('row-a', { owner: 'alice', text: 'one' });
    await notes().put('row-b', { owner: 'bob', text: 'two' });
    await idle();
    const collection = await openSse(`${s.url}/alpha/note?stream=sse`, { headers: rower });
    const record = await openSse(`${s.url}/alpha/note/row-a?stream=sse`, { headers: rower });
    const bobRecord = await openSse(`${s.url}/alpha/note/row-b?stream=sse`, { headers: rower });
    const sub = (query: string) => openGqlSse(`${s.url}/alpha/graphql`, { method: 'POST', headers: { ...rower, 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
    const events = await sub('subscription { noteEvents { type id record { owner text } } }');
    const updates = await sub('subscription { note { id owner text } }');
    try {
      for (const st of [collection, record, bobRecord]) assert.equal(st.status, 200);
      await waitFor(() => hub() === 5, `5 subscribers (now ${hub()})`);
      // Retained data (after `retry:` and `connected`): alice's records only; bob's record stream has none.
      const connected = { type: 'connected', status: 'ok' };
      const data = (frames: Frame[]) => frames.slice(1).map((f) => json(f));
      const visible = await aliceNotes();
      assert.deepEqual(data(await collection.next(2 + visible.length)), [connected, ...visible]);
      assert.deepEqual(data(await record.next(3)), [connected, { id: 'row-a', owner: 'alice', text: 'one' }]);
      assert.deepEqual(data(await bobRecord.next(2)), [connected]);

      const write = async (method: string, path: string, body?: unknown) => {
        const res = await req(method, path, body, admin);
        assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${res.text}`);
      };
      await write('PATCH', '/alpha/note/row-b', { text: 'bob again' }); // bob's: nothing
      await write('PATCH', '/alpha/note/row-a', { text: 'alice again' }); // update
      await write('POST', '/alpha/note/row-b', { to: 'bob' }); // publish to bob's: nothing
      await write('POST', '/alpha/note/row-a', { to: 'alice' }); // publish
      await write('POST', '/alpha/note', { id: 'row-c', owner: 'bob', text: 'new bob' }); // nothing
      await write('PATCH', '/alpha/note/row-a', { owner: 'bob' }); // leaves the view: delete
      await write('PATCH', '/alpha/note/row-a', { text: 'now bob' }); // outside: nothing
      await write('DELETE', '/alpha/note/row-b'); // bob's: nothing
      await write('PATCH', '/alpha/note/row-a', { owner: 'alice' }); // enters again: update
      await write('POST', '/alpha/note', { id: 'row-d', owner: 'alice', text: 'sentinel' }); // update (collection only)
      await write('PUT', '/alpha/note/row-b', { owner: 'alice', text: 'given to alice' }); // enters: update

      const liveOf = async (st: Awaited<ReturnType<typeof openSse>>, last: (f: Frame) => boolean) => (await st.collectUntil(last)).map((f) => ({ event: f.event, data: json(f) }));
      const rowB = { id: 'row-b', owner: 'alice', text: 'given to alice' };
      assert.deepEqual(await liveOf(collection, (f) => f.event === 'update' && json(f).id === 'row-b'), [
        { event: 'update', data: { id: 'row-a', owner: 'alice', text: 'alice again' } },
        { event: 'publish', data: { id: 'row-a', message: { to: 'alice' } } },
        { event: 'delete', data: { id: 'row-a' } },
        { event: 'update', data: { id: 'row-a', owner: 'alice', text: 'now bob' } },
        { event: 'update', data: { id: 'row-d', owner: 'alice', text: 'sentinel' } },
        { event: 'update', data: rowB },
      ]);
      assert.deepEqual(await liveOf(record, (f) => f.event === 'update' && json(f).text === 'now bob'), [
        { event: 'update', data: { id: 'row-a', owner: 'alice', text: 'alice again' } },
        { event: 'publish', data: { id: 'row-a', message: { to: 'alice' } } },
        { event: 'delete', data: { id: 'row-a' } },
        { event: 'update', data: { id: 'row-a', owner: 'alice', text: 'now bob' } },
      ]);
      // Nothing of bob's record reached its stream while it was bob's: the first event is its entering.
      assert.deepEqual(await liveOf(bobRecord, (f) => f.event === 'update'), [{ event: 'update', data: rowB }]);

      const nexts = async (st: GqlStream, n: number) => {
        const out: unknown[] = [];
        while (out.length < n) out.push(JSON.parse((await st.next((f) => f.event === 'next')).data).data);
        return out;
      };
      assert.deepEqual(await nexts(events, 6), [
        { noteEvents: { type: 'UPDATE', id: 'row-a', record: { owner: 'alice', text: 'alice again' } } },
        { noteEvents: { type: 'PUBLISH', id: 'row-a', record: null } },
        { noteEvents: { type: 'DELETE', id: 'row-a', record: null } },
        { noteEvents: { type: 'UPDATE', id: 'row-a', record: { owner: 'alice', text: 'now bob' } } },
        { noteEvents: { type: 'UPDATE', id: 'row-d', record: { owner: 'alice', text: 'sentinel' } } },
        { noteEvents: { type: 'UPDATE', id: 'row-b', record: { owner: 'alice', text: 'given to alice' } } },
      ]);
      assert.deepEqual(await nexts(updates, 4), [
        { note: { id: 'row-a', owner: 'alice', text: 'alice again' } },
        { note: { id: 'row-a', owner: 'alice', text: 'now bob' } },
        { note: { id: 'row-d', owner: 'alice', text: 'sentinel' } },
        { note: rowB },
      ]);
    } finally {
      for (const st of [collection, record, bobRecord]) st.close();
      events.close();
      updates.close();
      await idle();
    }
  });
});

describe("how a role's table patterns combine", () => {
  const tables = parseSchema([{ file: 'schema.graphql', sdl: SDL }]).tables;
  const [note, secret, post] = ['Note', 'Secret', 'Post'].map((n) => tables.find((t) => t.typeName === n)!) as [any, any, any];
  const who: Principal = { user: 'u', roles: ['r'], via: 'basic' };
  const policyOf = (tablesSpec: unknown) => createPolicy(AuthSchema.parse({ roles: { r: { tables: tablesSpec } } }), tables);

  test('a more specific pattern overrides a broader one, whatever their order; false takes a grant away', () => {
    for (const spec of [
      { '*': ['read', 'delete'], 'alpha/*': { delete: false }, 'alpha/secret': { read: { filter: 'owner=alice' } } },
      { 'alpha/secret': { read: { filter: 'owner=alice' } }, 'alpha/*': { delete: false }, '*': ['read', 'delete'] },
    ]) {
      const policy = policyOf(spec);
      assert.deepEqual(policy.grant(who, 'read', note), { allowed: true }, JSON.stringify(spec));
      assert.deepEqual(policy.grant(who, 'delete', note), { allowed: false }, 'alpha/* took delete away');
      assert.deepEqual(policy.grant(who, 'delete', secret), { allowed: false });
      assert.deepEqual(policy.grant(who, 'delete', post), { allowed: true }, 'beta keeps the * grant');
      const narrowed = policy.grant(who, 'read', secret);
      assert.ok(narrowed.allowed && narrowed.filter, 'alpha/secret narrowed read to a row filter');
    }
  });

  test('a row filter must be conditions only: limit(), select() or sort() alone would have granted every row', () => {
    for (const filter of ['limit(10)', 'select(id)', 'owner=alice&limit(1)', 'owner=alice&sort(+id)', 'stream=sse']) {
      assert.throws(
        () => policyOf({ 'alpha/note': { read: { filter } } }),
        (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && e.message.includes(filter),
        filter,
      );
    }
    assert.ok(policyOf({ 'alpha/note': { read: { filter: '[owner=alice|owner=bob]&text=ne=x' } } }).grant(who, 'read', note).allowed);
  });
});

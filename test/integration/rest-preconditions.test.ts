/**
 * Optimistic concurrency on REST: `If-Match` with the ETag a client read makes PUT, PATCH and
 * DELETE apply only to that version; `If-None-Match: *` makes PUT create-only. A failed
 * precondition is a 412 that changes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MESSAGE_SDL, schemaDir, startServer } from '../helpers/server.ts';

const M = '/realtime-demo/message';

test('If-Match and If-None-Match guard writes by version', async (t) => {
  const s = await startServer({ schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }) });
  t.after(() => s.close());
  const created = await s.req('POST', M, { id: 'a', title: 'one', content: 'c' });
  const v1 = created.headers.etag as string;
  assert.equal(v1, '"1"');

  // Two clients read v1; the first write wins, the second is refused and changes nothing.
  const first = await s.req('PATCH', `${M}/a`, { title: 'two' }, { 'if-match': v1 });
  assert.equal(first.status, 200);
  const v2 = first.headers.etag as string;
  const second = await s.req('PATCH', `${M}/a`, { title: 'lost update' }, { 'if-match': v1 });
  assert.equal(second.status, 412);
  assert.equal(second.body.code, 'PRECONDITION_FAILED');
  assert.deepEqual(second.body.details, { version: 2 });
  assert.equal((await s.req('GET', `${M}/a`)).body.title, 'two');
  const head = s.server.app.store.changeLog.head();

  assert.equal((await s.req('PUT', `${M}/a`, { title: 'x', content: 'c' }, { 'if-match': v1 })).status, 412);
  assert.equal((await s.req('DELETE', `${M}/a`, undefined, { 'if-match': v1 })).status, 412);
  assert.equal((await s.req('PUT', `${M}/a`, { title: 'x', content: 'c' }, { 'if-match': `W/${v2}` })).status, 412, 'weak tags never match If-Match');
  assert.equal((await s.req('PUT', `${M}/new`, { title: 'x', content: 'c' }, { 'if-match': '*' })).status, 412, 'If-Match: * needs an existing record');
  assert.equal((await s.req('PUT', `${M}/a`, { title: 'x', content: 'c' }, { 'if-none-match': '*' })).status, 412, 'create-only PUT on an existing record');
  assert.equal(s.server.app.store.changeLog.head(), head, 'refused writes logged nothing');
  assert.equal((await s.req('GET', `${M}/new`)).status, 404);

  assert.equal((await s.req('PUT', `${M}/a`, { title: 'three', content: 'c' }, { 'if-match': `"999", ${v2}` })).status, 200, 'any listed version matches');
  assert.equal((await s.req('PUT', `${M}/b`, { title: 'b', content: 'c' }, { 'if-none-match': '*' })).status, 201);
  const v3 = (await s.req('GET', `${M}/a`)).headers.etag as string;
  assert.equal((await s.req('DELETE', `${M}/a`, undefined, { 'if-match': v3 })).status, 204);
});

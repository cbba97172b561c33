/**
 * The chat example (examples/chat, README › Apps): written with tablecast/client and the types
 * `tablecast types` generates, on the example's own schema and configuration. Two users in one
 * room see each other's messages live; the `owner=$user` rules let each change only their own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { joinChat } from '../../examples/chat/chat.ts';
import { ClientError } from '../../src/client/node.ts';
import type { MessageEvent } from '../../examples/chat/chat-types.ts';
import { buildDeclarations } from '../../src/schema/declarations.ts';
import { loadSchemaDir } from '../../src/schema/parse.ts';
import { ROOT } from '../helpers/fixtures.ts';
import { startServer } from '../helpers/server.ts';

const EXAMPLE = join(ROOT, 'examples/chat');

test('the example chat-types.ts is what tablecast types writes for its schema (regenerate it after a schema change)', async () => {
  const model = await loadSchemaDir(join(EXAMPLE, 'schemas'));
  assert.equal(readFileSync(join(EXAMPLE, 'chat-types.ts'), 'utf8'), buildDeclarations(model));
});

test('alice and bob chat in a room live; each edits and deletes only their own messages; a wrong password is refused', async (t) => {
  const { auth } = JSON.parse(readFileSync(join(EXAMPLE, 'tablecast.config.json'), 'utf8'));
  const s = await startServer({ schemas: join(EXAMPLE, 'schemas'), auth });
  t.after(() => s.close());
  const alice = await joinChat({ url: s.url, user: 'alice', password: 'alice-chat', room: 'lobby' });
  const bob = await joinChat({ url: s.url, user: 'bob', password: 'bob-chat', room: 'lobby' });
  const elsewhere = await joinChat({ url: s.url, user: 'bob', password: 'bob-chat', room: 'kitchen' });
  t.after(async () => {
    await Promise.all([alice.close(), bob.close(), elsewhere.close()]);
  });

  const first = await alice.say('hello from alice');
  assert.equal(first.owner, 'alice');
  // Bob follows the room from here on; history has what came before.
  const seen = bob.follow()[Symbol.asyncIterator]();
  assert.deepEqual(
    (await bob.history()).map((m) => m.text),
    ['hello from alice'],
  );
  await elsewhere.say('wrong room');
  const reply = await alice.say('are you there?');
  const next = async (): Promise<MessageEvent> => (await seen.next()).value as MessageEvent;
  const event = await next();
  assert.equal(event.type, 'update');
  assert.deepEqual(event.type === 'update' && [event.record.id, event.record.text, event.record.owner], [reply.id, 'are you there?', 'alice']);

  // Bob may read alice's message but not change it: the role's update and delete say owner=$user.
  await assert.rejects(bob.edit(reply.id, 'bob was here'), (err: unknown) => err instanceof ClientError && err.status === 403 && err.code === 'FORBIDDEN');
  await assert.rejects(bob.remove(reply.id), (err: unknown) => err instanceof ClientError && err.status === 403);
  const edited = await alice.edit(reply.id, 'are you there, bob?');
  assert.equal(edited.text, 'are you there, bob?');
  const change = await next();
  assert.ok(change.type === 'update' && change.record.text === 'are you there, bob?', 'bob sees the edit, and nothing from the other room');
  await alice.remove(first.id);
  const gone = await next();
  assert.equal(gone.type, 'delete');
  assert.deepEqual(gone.type === 'delete' && gone.key, { id: first.id });

  const intruder = await joinChat({ url: s.url, user: 'alice', password: 'not-hers', room: 'lobby' });
  t.after(() => intruder.close());
  await assert.rejects(intruder.say('hi'), (err: unknown) => err instanceof ClientError && err.status === 401);
  assert.deepEqual(
    (await bob.history()).map((m) => m.text),
    ['are you there, bob?'],
  );
});

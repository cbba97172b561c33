/**
 * Channel names and patterns (auth/channel-grants.ts): which names are valid, what `*`, `**` and
 * `$user` match, that roles add up and auth off opens everything, and that refusals say 401 or 403.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { channelGrantProblems, checkChannelName, createChannelGrants } from '../../../src/auth/channel-grants.ts';
import type { Principal } from '../../../src/auth/policy.ts';
import { AuthSchema } from '../../../src/config.ts';

const auth = (roles: Record<string, Record<string, string[]>>) => AuthSchema.parse({ roles: Object.fromEntries(Object.entries(roles).map(([r, channels]) => [r, { channels }])) });
const user = (name: string | null, ...roles: string[]): Principal => ({ user: name, roles: roles.length ? roles : ['anonymous'], via: name ? 'bearer' : 'anonymous' });

test('names: segments of letters, digits, _ . @ - separated by ":", at most 200 characters', () => {
  for (const ok of ['a', 'user:alice', 'item:42:comments', 'user:ann@example.com', 'CommentStream:item:4-2_x', 'x'.repeat(200), '...']) assert.equal(checkChannelName(ok), ok);
  for (const bad of ['', '.', '..', 'a b', 'a::b', ':a', 'a:', 'a/b', '*', 'a:*', '$user', 'é', 'x'.repeat(201), 'a\nb']) {
    assert.throws(() => checkChannelName(bad), { code: 'BAD_REQUEST' }, JSON.stringify(bad));
  }
});

test('patterns: * is one segment, ** the rest (one or more), $user the caller; literals match exactly', () => {
  const grants = createChannelGrants(auth({ r: { 'item:*': ['subscribe'], 'feed:**': ['subscribe'], 'user:$user': ['subscribe', 'publish'], 'room:*:chat': ['publish'] } }), true);
  const alice = user('alice', 'r');
  const allows = (action: 'subscribe' | 'publish', name: string, who = alice) => grants.allows(who, action, name);
  assert.ok(allows('subscribe', 'item:42'));
  assert.ok(!allows('subscribe', 'item'));
  assert.ok(!allows('subscribe', 'item:42:comments'));
  assert.ok(!allows('publish', 'item:42'), 'the action must be granted');
  assert.ok(!allows('subscribe', 'feed'));
  assert.ok(allows('subscribe', 'feed:a'));
  assert.ok(allows('subscribe', 'feed:a:b:c'));
  assert.ok(allows('publish', 'user:alice'));
  assert.ok(!allows('publish', 'user:bob'));
  assert.ok(!allows('subscribe', 'user:alice:inbox'));
  assert.ok(allows('publish', 'room:1:chat'));
  assert.ok(!allows('publish', 'room:1:2:chat'));
  assert.ok(!allows('subscribe', 'user:alice', user('alice', 'other')), 'a role without the pattern');
  assert.ok(!grants.allows(user(null, 'r'), 'subscribe', 'user:null'), '$user never matches an anonymous caller');
  assert.throws(() => grants.require(user(null), 'subscribe', 'item:1'), { code: 'UNAUTHORIZED' });
  assert.throws(() => grants.require(alice, 'publish', 'item:1'), { code: 'FORBIDDEN', message: /user alice may not publish on channel item:1/ });
});

test('roles add up; auth off allows every valid channel', () => {
  const grants = createChannelGrants(auth({ reader: { 'a:*': ['subscribe'] }, writer: { 'a:*': ['publish'] } }), true);
  const both = user('u', 'reader', 'writer');
  assert.ok(grants.allows(both, 'subscribe', 'a:1') && grants.allows(both, 'publish', 'a:1'));
  assert.ok(!grants.allows(user('u', 'reader'), 'publish', 'a:1'));
  const open = createChannelGrants(undefined, false);
  assert.ok(open.allows(user(null), 'publish', 'anything:at:all'));
});

test('bad patterns are problems, each with its path; createChannelGrants refuses them', () => {
  const bad = auth({ r: { 'item-*': ['subscribe'], '**:x': ['subscribe'], 'a:$users': ['subscribe'], 'a b': ['publish'], 'ok:*:$user:**': ['subscribe'] } });
  const problems = channelGrantProblems(bad);
  assert.deepEqual(
    problems.map((p) => p.path.at(-1)),
    ['item-*', '**:x', 'a:$users', 'a b'],
  );
  for (const p of problems) assert.deepEqual(p.path.slice(0, 3), ['roles', 'r', 'channels']);
  assert.throws(() => createChannelGrants(bad, true), { code: 'CONFIG_INVALID', message: /auth\.roles\.r\.channels\["item-\*"\]/ });
  assert.throws(() => AuthSchema.parse({ roles: { r: { channels: { a: ['read'] } } } }));
});

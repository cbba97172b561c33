/**
 * Row filters that name the caller (`owner=$user`, `team=$roles`): compiled once, bound per
 * principal, refused at start-up when misused; a literal `$user` is written `%24user`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ANONYMOUS, createPolicy, type Principal } from '../../../src/auth/policy.ts';
import { AuthSchema } from '../../../src/config.ts';
import type { AppError } from '../../../src/errors.ts';
import { matches } from '../../../src/query/evaluate.ts';
import type { Filter } from '../../../src/query/types.ts';
import { parseSchema } from '../../../src/schema/parse.ts';

const SDL = `
type Message @table(database: "chat") @export(name: "message") { id: ID! @primaryKey  owner: String @indexed  members: [String]  team: String  n: Int  at: Date  extra: Any }
`;
const tables = parseSchema([{ file: 'a.graphql', sdl: SDL }]).tables;
const message = tables[0]!;
const who = (user: string, roles: string[] = ['member']): Principal => ({ user, roles, via: 'bearer' });
const policyOf = (perms: Record<string, unknown>) =>
  createPolicy(AuthSchema.parse({ roles: { member: { tables: { 'chat/message': perms } }, 'team-red': { tables: {} }, anonymous: { tables: { 'chat/message': perms } } } }), tables);
const filterOf = (policy: ReturnType<typeof policyOf>, principal: Principal, action: 'read' | 'insert' = 'read'): Filter => {
  const g = policy.grant(principal, action, message);
  assert.ok(g.allowed && g.filter, 'a filtered grant');
  return g.filter;
};

test('$user binds to the caller: each user matches their own rows, anonymous matches none', () => {
  const policy = policyOf({ read: { filter: 'owner=$user' }, insert: { filter: 'owner=$user' } });
  const alice = filterOf(policy, who('alice'));
  assert.equal(matches(alice, { id: '1', owner: 'alice' }), true);
  assert.equal(matches(alice, { id: '1', owner: 'bob' }), false);
  assert.equal(matches(filterOf(policy, who('bob')), { id: '1', owner: 'bob' }), true);
  assert.equal(matches(filterOf(policy, who('bob'), 'insert'), { id: '1', owner: 'alice' }), false);
  const nobody = filterOf(policy, ANONYMOUS);
  assert.equal(matches(nobody, { id: '1', owner: 'alice' }), false);
  assert.equal(matches(nobody, { id: '1' }), false, 'not even a record without an owner');
  assert.equal(matches(nobody, { id: '1', owner: '$user' }), false);
  // Bound once per user: the same object for the next request or event.
  assert.equal(filterOf(policy, who('alice')), alice);
});

test('a user name is compared as text, also on untyped attributes and in lists', () => {
  const policy = policyOf({ read: { filter: '[members=$user|extra=$user]' } });
  const five = filterOf(policy, who('5'));
  assert.equal(matches(five, { id: '1', members: ['x', '5'] }), true);
  assert.equal(matches(five, { id: '1', extra: '5' }), true);
  assert.equal(matches(five, { id: '1', extra: 5 }), false, 'the number 5 is not the user "5"');
  assert.equal(matches(five, { id: '1', members: ['x'] }), false);
});

test("$user as an item of a list (=in=, Harper's form): bound like any other value, never the text $user", () => {
  const policy = policyOf({ read: { filter: 'owner=in=(moderator,$user)' } });
  const alice = filterOf(policy, who('alice'));
  assert.equal(matches(alice, { id: '1', owner: 'alice' }), true);
  assert.equal(matches(alice, { id: '1', owner: 'moderator' }), true);
  assert.equal(matches(alice, { id: '1', owner: 'bob' }), false);
  assert.equal(matches(alice, { id: '1', owner: '$user' }), false);
  assert.equal(matches(filterOf(policy, ANONYMOUS), { id: '1', owner: 'moderator' }), false, 'a rule naming $user matches nothing for anonymous');
});

test('$roles is a membership test: = any of the caller’s roles, != none of them', () => {
  const any = policyOf({ read: { filter: 'team=$roles' } });
  const red = filterOf(any, who('ann', ['member', 'team-red']));
  assert.equal(matches(red, { id: '1', team: 'team-red' }), true);
  assert.equal(matches(red, { id: '1', team: 'member' }), true);
  assert.equal(matches(red, { id: '1', team: 'team-blue' }), false);
  const none = filterOf(policyOf({ read: { filter: 'team!=$roles' } }), who('ann', ['member', 'team-red']));
  assert.equal(matches(none, { id: '1', team: 'team-red' }), false);
  assert.equal(matches(none, { id: '1', team: 'team-blue' }), true);
});

test('a literal $user is written %24user; a $ inside a value is text', () => {
  const policy = policyOf({ read: { filter: '[owner=%24user|team=a$user]' } });
  const f = filterOf(policy, who('alice'));
  assert.equal(matches(f, { id: '1', owner: '$user' }), true);
  assert.equal(matches(f, { id: '1', team: 'a$user' }), true);
  assert.equal(matches(f, { id: '1', owner: 'alice' }), false);
  assert.equal(filterOf(policy, who('carol')), filterOf(policy, who('bob')), 'no placeholder: one fixed filter for everyone');
});

test('misused placeholders stop start-up with a message naming them', () => {
  for (const [filter, expected] of [
    ['owner=$usr', /unknown placeholder \$usr .*%24/],
    ['owner=$', /unknown placeholder \$ /],
    ['owner=$user2&n=1', /unknown placeholder \$user2/],
    ['n=$user', /invalid value '\$user' for n \(Int\)/],
    ['owner=$user&n=gt=$user', /invalid value '\$user' for n/],
    ['at=sw=$user', /\$user is text and cannot be compared with at/],
    ['team=sw=$roles', /\$roles is a list: compare it with =/],
    ['owner=gt=$user&n=x', /invalid value 'x' for n/],
  ] as const) {
    assert.throws(
      () => policyOf({ read: { filter } }),
      (e: AppError) => e.code === 'CONFIG_INVALID' && expected.test(e.message) && !/tcph/.test(e.message),
      filter,
    );
  }
});

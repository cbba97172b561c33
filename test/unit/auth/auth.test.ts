/**
 * Passwords, tokens and the permission policy, on their own (no server): the pieces every
 * transport's check is built from.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthenticator, readCookie } from '../../../src/auth/authenticate.ts';
import { hashPassword, isPasswordHash, verifyPassword } from '../../../src/auth/password.ts';
import { ANONYMOUS, createPolicy, type Principal } from '../../../src/auth/policy.ts';
import { createTokenSigner } from '../../../src/auth/tokens.ts';
import { AuthSchema } from '../../../src/config.ts';
import type { AppError } from '../../../src/errors.ts';
import { matches } from '../../../src/query/evaluate.ts';
import { parseSchema } from '../../../src/schema/parse.ts';

const SDL = `
type Message @table(database: "chat") @export(name: "message") { id: ID! @primaryKey  room: String @indexed  text: String }
type Secret @table(database: "chat") @export(name: "secret") { id: ID! @primaryKey  value: String }
type Note @table(database: "notes") @export(name: "note") { id: ID! @primaryKey  owner: String }
`;
const tables = parseSchema([{ file: 'a.graphql', sdl: SDL }]).tables;
const [message, secret, note] = ['Message', 'Secret', 'Note'].map((n) => tables.find((t) => t.typeName === n)!) as [any, any, any];

test('password hashes verify the right password only and describe their parameters', async () => {
  const hash = await hashPassword('correct horse');
  assert.ok(isPasswordHash(hash));
  assert.match(hash, /^scrypt\$16384\$8\$1\$/);
  assert.equal(await verifyPassword('correct horse', hash), true);
  assert.equal(await verifyPassword('correct horsE', hash), false);
  assert.equal(await verifyPassword('correct horse', 'plain-text'), false);
  assert.notEqual(await hashPassword('correct horse'), hash, 'salted: two hashes of one password differ');
});

test('tokens: signed, expiring, tamper-evident, revocable', () => {
  const signer = createTokenSigner('x'.repeat(32));
  const t0 = Date.UTC(2026, 0, 1);
  const { token, claims } = signer.sign('alice', 'bearer', 60, t0);
  assert.equal(signer.verify(token, t0 + 1000)?.sub, 'alice');
  assert.equal(signer.verify(token, t0 + 61_000), undefined, 'expired');
  const [payload, mac] = token.split('.') as [string, string];
  const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'root' })).toString('base64url');
  assert.equal(signer.verify(`${forged}.${mac}`, t0), undefined, 'payload changed under the same MAC');
  assert.equal(createTokenSigner('y'.repeat(32)).verify(token, t0), undefined, 'other secret');
  assert.equal(signer.verify(`${payload}`, t0), undefined);
  signer.revoke(claims, t0);
  assert.equal(signer.verify(token, t0 + 1000), undefined, 'revoked');
});

const principal = (user: string, roles: string[]): Principal => ({ user, roles, via: 'bearer' });

test('policy: roles add up, patterns match export and table names, filters restrict rows', () => {
  const auth = AuthSchema.parse({
    roles: {
      reader: { tables: { 'chat/*': ['read'] } },
      writer: { tables: { 'chat/message': ['insert', 'update'] } },
      roomA: { tables: { 'chat/message': { read: { filter: 'room=a' }, publish: true, delete: false } } },
      anonymous: { tables: { 'notes/note': ['read'] } },
      everything: { tables: { '*': ['read', 'insert', 'update', 'delete', 'publish'] } },
    },
  });
  const policy = createPolicy(auth, tables);
  assert.equal(policy.enabled, true);
  assert.deepEqual(policy.grant(principal('r', ['reader']), 'read', secret), { allowed: true });
  assert.deepEqual(policy.grant(principal('r', ['reader']), 'insert', message), { allowed: false });
  assert.deepEqual(policy.grant(principal('r', ['reader']), 'read', note), { allowed: false });
  assert.deepEqual(policy.grant(principal('rw', ['reader', 'writer']), 'insert', message), { allowed: true });
  const filtered = policy.grant(principal('a', ['roomA']), 'read', message);
  assert.ok(filtered.allowed && filtered.filter);
  assert.equal(matches(filtered.filter, { id: '1', room: 'a' }), true);
  assert.equal(matches(filtered.filter, { id: '1', room: 'b' }), false);
  assert.deepEqual(policy.grant(principal('a', ['roomA']), 'delete', message), { allowed: false }, 'false grants nothing');
  assert.deepEqual(policy.grant(principal('a', ['roomA', 'reader']), 'read', message), { allowed: true }, 'an unrestricted role wins');
  assert.deepEqual(policy.grant(ANONYMOUS, 'read', note), { allowed: true });
  assert.deepEqual(policy.grant(principal('e', ['everything']), 'publish', note), { allowed: true });

  assert.throws(
    () => policy.require(ANONYMOUS, 'read', message),
    (e: AppError) => e.code === 'UNAUTHORIZED' && e.statusCode === 401,
  );
  assert.throws(
    () => policy.require(principal('r', ['reader']), 'delete', message),
    (e: AppError) => e.code === 'FORBIDDEN' && e.statusCode === 403,
  );
});

test('policy: no auth configured means open; bad role filters and patterns stop start-up', () => {
  assert.equal(createPolicy(undefined, tables).enabled, false);
  assert.deepEqual(createPolicy(undefined, tables).grant(ANONYMOUS, 'delete', secret), { allowed: true });
  assert.throws(
    () => createPolicy(AuthSchema.parse({ roles: { r: { tables: { 'chat/message': { read: { filter: 'room=[' } }, 'nope/x': ['read'] } } } }), tables),
    (e: AppError) => e.code === 'CONFIG_INVALID' && /room=\[|filter/.test(e.message) && /nope\/x/.test(e.message),
  );
});

test('auth config: users must name defined roles and hold a hash', () => {
  const r = AuthSchema.safeParse({ users: { bob: { password: 'hunter2', roles: ['ghost'] } }, roles: {} });
  assert.equal(r.success, false);
  const messages = r.error!.issues.map((i) => i.message).join('\n');
  assert.match(messages, /hash-password/);
  assert.match(messages, /role "ghost" is not defined/);
});

test('authenticator: Basic, bearer, cookie, access_token, anonymous and wrong credentials', async () => {
  const auth = AuthSchema.parse({
    users: { alice: { password: await hashPassword('pw'), roles: ['reader'] } },
    roles: { reader: { tables: { '*': ['read'] } } },
    loginRate: 3,
  });
  const a = createAuthenticator(auth, 'k'.repeat(32));
  const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
  assert.deepEqual(await a.authenticate({ address: '1.1.1.1' }), ANONYMOUS);
  const alice = await a.authenticate({ authorization: basic('alice', 'pw'), address: '1.1.1.1' });
  assert.equal(alice.user, 'alice');
  const { token } = a.issue(alice, 'bearer');
  assert.equal((await a.authenticate({ authorization: `Bearer ${token}`, address: 'x' })).via, 'bearer');
  assert.equal((await a.authenticate({ accessToken: token, address: 'x' })).via, 'access_token');
  const session = a.issue(alice, 'session').token;
  const viaCookie = await a.authenticate({ cookie: `a=1; tablecast_session=${encodeURIComponent(session)}`, address: 'x' });
  assert.equal(viaCookie.via, 'cookie');
  assert.ok(viaCookie.expiresAt! > Date.now());
  await assert.rejects(a.authenticate({ authorization: 'Bearer nope.nope', address: 'x' }), (e: AppError) => e.code === 'UNAUTHORIZED');
  await assert.rejects(a.authenticate({ authorization: 'Digest abc', address: 'x' }), (e: AppError) => e.code === 'UNAUTHORIZED');
  a.logout({ cookie: `tablecast_session=${encodeURIComponent(session)}`, address: 'x' });
  await assert.rejects(a.authenticate({ cookie: `tablecast_session=${encodeURIComponent(session)}`, address: 'x' }), (e: AppError) => e.code === 'UNAUTHORIZED');
  assert.equal(readCookie('x=1; y=2', 'y'), '2');
});

test('authenticator: wrong passwords are rate-limited per address', async () => {
  const auth = AuthSchema.parse({ users: { bob: { password: await hashPassword('pw'), roles: ['r'] } }, roles: { r: { tables: {} } }, loginRate: 2 });
  const a = createAuthenticator(auth, 'k'.repeat(32));
  for (let i = 0; i < 2; i++) await assert.rejects(a.login('bob', 'bad', '9.9.9.9'), (e: AppError) => e.code === 'UNAUTHORIZED');
  await assert.rejects(a.login('bob', 'pw', '9.9.9.9'), (e: AppError) => e.code === 'TOO_MANY_REQUESTS' && Number(e.headers?.['retry-after']) > 0);
  assert.equal((await a.login('bob', 'pw', '8.8.8.8')).user, 'bob', 'other addresses are not affected');
});

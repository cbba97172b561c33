/**
 * The bounds on password checks, on their own (no server, real scrypt): how many hash at once,
 * how many wait, what is refused before hashing, and which reservations are given back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthenticator } from '../../../src/auth/authenticate.ts';
import { createLoginGuard } from '../../../src/auth/login-guard.ts';
import { hashPassword, verifyPassword } from '../../../src/auth/password.ts';
import { AuthSchema } from '../../../src/config.ts';
import type { AppError } from '../../../src/errors.ts';

const HASH = await hashPassword('right');

/** Settles every promise, naming each outcome: `true`/`false`, or the error code. */
const outcomes = (ps: Array<Promise<unknown>>) =>
  Promise.all(
    ps.map((p) =>
      p.then(
        (v) => String(v),
        (e: AppError) => e.code,
      ),
    ),
  );
const count = (xs: string[]) => {
  const counts: Record<string, number> = {};
  for (const x of xs) counts[x] = (counts[x] ?? 0) + 1;
  return counts;
};

test('at most maxConcurrent checks hash at once and maxQueued wait; the rest are refused with 503 before hashing', async () => {
  const guard = createLoginGuard({ loginRate: 100, maxConcurrent: 2, maxQueued: 3 });
  let running = 0;
  let peak = 0;
  let hashed = 0;
  const verify = async () => {
    running++;
    hashed++;
    peak = Math.max(peak, running);
    try {
      return await verifyPassword('wrong', HASH);
    } finally {
      running--;
    }
  };
  // Twenty addresses at once, one check each.
  const results = await outcomes(Array.from({ length: 20 }, (_, i) => guard.check(`10.0.0.${i}`, verify)));
  assert.deepEqual(count(results), { false: 5, SERVICE_UNAVAILABLE: 15 });
  assert.equal(peak, 2, 'never more than maxConcurrent hashing');
  assert.equal(hashed, 5, 'refused checks never hashed');
  // The queue drained: the next check runs.
  assert.equal(await guard.check('10.0.0.99', verify), false);
});

test('a 503 takes no reservation, a failure keeps it, a success gives it back', async () => {
  let t = 0;
  const guard = createLoginGuard({ loginRate: 2, maxConcurrent: 1, maxQueued: 0, now: () => t });
  const slow = () => verifyPassword('wrong', HASH);
  const [first, refused] = await outcomes([guard.check('a', slow), guard.check('a', slow)]);
  assert.deepEqual([first, refused], ['false', 'SERVICE_UNAVAILABLE']);
  // One failure counted: successes do not use up the second check.
  for (let i = 0; i < 5; i++) assert.equal(await guard.check('a', () => verifyPassword('right', HASH)), true);
  assert.equal(await guard.check('a', slow), false);
  assert.throws(
    () => guard.assertAllowed('a'),
    (e: AppError) => e.code === 'TOO_MANY_REQUESTS' && e.headers?.['retry-after'] === '60',
  );
  await assert.rejects(
    guard.check('a', () => verifyPassword('right', HASH)),
    { code: 'TOO_MANY_REQUESTS' },
  );
  t += 60_000;
  assert.equal(await guard.check('a', () => verifyPassword('right', HASH)), true, 'a new minute');
});

test('the authenticator: concurrent wrong passwords from one address use exactly loginRate checks; identical credentials share one', async () => {
  const auth = AuthSchema.parse({ users: { alice: { password: HASH, roles: ['r'] } }, roles: { r: {} }, loginRate: 3 });
  const authenticator = createAuthenticator(auth, 'x'.repeat(32));
  const wrong = await outcomes(Array.from({ length: 50 }, (_, i) => authenticator.login('alice', `guess ${i}`, '10.1.1.1')));
  assert.deepEqual(count(wrong), { UNAUTHORIZED: 3, TOO_MANY_REQUESTS: 47 });
  // Fifty identical right logins at once from a fresh address: one check, one reservation, all pass.
  const right = await outcomes(Array.from({ length: 50 }, () => authenticator.login('alice', 'right', '10.1.1.2')));
  assert.deepEqual(count(right), { '[object Object]': 50 });
});

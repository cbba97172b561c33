/**
 * `POST /auth/password` with `--workers 2` (the real CLI): the change is in the store the workers
 * share, so whichever worker takes the next connection checks against it, tokens issued before
 * end on both, and a Basic check one worker had cached for the old password is not reused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { hashPassword } from '../../src/auth/password.ts';
import { tmpDir } from '../helpers/server.ts';
import { startWorkers } from '../helpers/workers.ts';

const OLD = 'Tr0ub4dor&3';
const NEW = 'correct horse battery';
const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`ann:${password}`).toString('base64')}` });

test('--workers 2: a changed password holds on every worker', { timeout: 120_000 }, async (t) => {
  const dir = tmpDir();
  const config = join(dir, 'tablecast.config.json');
  const auth = {
    loginRate: 1000,
    roles: { reader: { tables: { '*': ['read'] } } },
    users: { ann: { password: await hashPassword(OLD), roles: ['reader'], changePassword: true } },
  };
  writeFileSync(config, JSON.stringify({ auth }));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const c = await startWorkers(t, ['--config', config]);
  /** The status of one request on a new connection: the supervisor hands connections to the workers in turn. */
  const fresh = async (path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) => (await c.fresh(path, init)).status;
  const token = await (await request(`${c.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'ann', password: OLD }) })).body.json();
  const bearer = { authorization: `Bearer ${(token as { access_token: string }).access_token}` };
  // Both workers check (and cache) the old Basic credentials, and accept the token.
  for (let i = 0; i < 4; i++) assert.equal(await fresh('/realtime-demo/message', { headers: i % 2 ? bearer : basic(OLD) }), 200);

  assert.equal(await fresh('/auth/password', { method: 'POST', body: { current: OLD, password: NEW }, headers: bearer }), 204);
  for (let i = 0; i < 4; i++) {
    assert.equal(await fresh('/realtime-demo/message', { headers: basic(OLD) }), 401, `old password, connection ${i}`);
    assert.equal(await fresh('/realtime-demo/message', { headers: basic(NEW) }), 200, `new password, connection ${i}`);
    assert.equal(await fresh('/realtime-demo/message', { headers: bearer }), 401, `the earlier token, connection ${i}`);
  }
});

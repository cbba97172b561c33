/**
 * A password change on a cluster (SPEC §10) travels through the cluster's log like a write: changed
 * on one node, the new password works and the old one fails on every node, and tokens issued
 * before the change end everywhere, including on a node that answered them from its Basic cache.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { hashPassword } from '../../src/auth/password.ts';
import { startNats } from '../helpers/nats.ts';
import { MESSAGE_SDL, schemaDir, startServer, type TestServer } from '../helpers/server.ts';

const OLD = 'Tr0ub4dor&3';
const NEW = 'correct horse battery';
const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`ann:${password}`).toString('base64')}` });

/** Polls a request until `ok` holds (the other node applies the entry within the apply lag). */
async function eventually(read: () => Promise<number>, ok: (status: number) => boolean, ms = 10_000): Promise<number> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a password changed on one node is the password on every node', { timeout: 120_000 }, async (t) => {
  const nats = await startNats(1);
  const schemas = schemaDir({ 'm.graphql': MESSAGE_SDL });
  const nodes: TestServer[] = [];
  t.after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await nats.close();
    rmSync(schemas, { recursive: true, force: true });
  });
  const auth = {
    secret: 'a-secret-every-node-of-this-cluster-shares',
    loginRate: 1000,
    roles: { reader: { tables: { '*': ['read'] } } },
    users: { ann: { password: await hashPassword(OLD), roles: ['reader'], changePassword: true } },
  };
  for (let i = 0; i < 2; i++) nodes.push(await startServer({ schemas, auth: auth as never, cluster: { servers: nats.servers, stream: 'pw', replicas: 1 } }));
  const [a, b] = nodes as [TestServer, TestServer];
  const read = (n: TestServer, headers: Record<string, string>) => async () => (await n.req('GET', '/realtime-demo/message/', undefined, headers)).status;

  const token = (await b.req('POST', '/auth/token', { username: 'ann', password: OLD })).body.access_token as string;
  const bearer = { authorization: `Bearer ${token}` };
  assert.equal(await read(b, basic(OLD))(), 200, 'the old password, now in b’s Basic cache');
  assert.equal(await read(a, bearer)(), 200);

  const changed = await a.req('POST', '/auth/password', { current: OLD, password: NEW }, basic(OLD));
  assert.equal(changed.status, 204, changed.text);
  assert.equal(await read(a, basic(NEW))(), 200, 'at once on the node that answered');
  assert.equal(await eventually(read(b, basic(NEW)), (s) => s === 200), 200, 'the new password works on the other node');
  assert.equal(await read(b, basic(OLD))(), 401, 'the old one fails there, cached or not');
  for (const n of nodes) assert.equal(await read(n, bearer)(), 401, 'the token issued before ends on every node');
  assert.equal(b.server.app.store.credential('ann')?.generation, 1);
  assert.equal(a.server.app.store.credential('ann')?.hash, b.server.app.store.credential('ann')?.hash, 'one hash, stored by both');
});

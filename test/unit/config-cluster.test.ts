/**
 * The `cluster` setting (README › Cluster): a URL list from the flag or environment, JSON or an
 * object from the environment or config file, defaults, and clear problems for what is wrong.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword } from '../../src/auth/password.ts';
import { inspectConfig, loadConfig } from '../../src/config.ts';

test('--cluster and TABLECAST_CLUSTER take a comma-separated list of NATS URLs', () => {
  const flag = loadConfig({ flags: { cluster: 'nats://10.0.0.1:4222, nats://10.0.0.2:4222' as never }, env: {} });
  assert.deepEqual(flag.cluster, { servers: ['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222'], stream: 'tablecast', timeout: 10_000 });
  const env = loadConfig({ env: { TABLECAST_CLUSTER: 'nats://a:4222' } });
  assert.deepEqual(env.cluster?.servers, ['nats://a:4222']);
  assert.equal(loadConfig({ env: {} }).cluster, undefined, 'no cluster unless asked for');
});

test('TABLECAST_CLUSTER also takes JSON with the other settings', () => {
  const c = loadConfig({ env: { TABLECAST_CLUSTER: JSON.stringify({ servers: ['tls://n1:4222'], stream: 'shop', replicas: 3, timeout: 2000, user: 'u', pass: 'p' }) } });
  assert.deepEqual(c.cluster, { servers: ['tls://n1:4222'], stream: 'shop', replicas: 3, timeout: 2000, user: 'u', pass: 'p' });
});

test('a wrong cluster setting is a problem that says where and what', () => {
  const bad = (cluster: unknown) => inspectConfig({ cluster }).problems.map((p) => `${p.path}: ${p.message}`);
  assert.match(bad('http://n1:4222').join('\n'), /cluster\.servers\[0\]: must be a NATS URL like nats:\/\/127\.0\.0\.1:4222/);
  assert.match(bad({ servers: ['nats://a:1'], replicas: 2 }).join('\n'), /cluster\.replicas/);
  assert.match(bad({ servers: ['nats://a:1'], stream: 'no spaces' }).join('\n'), /cluster\.stream: letters, digits, _ and - only/);
  assert.match(bad({ servers: [] }).join('\n'), /cluster\.servers/);
  assert.match(bad({ servers: ['nats://a:1'], extra: 1 }).join('\n'), /cluster/);
});

test('a cluster node with auth needs auth.secret: tokens must verify on every node', async () => {
  const auth = { users: { ann: { password: await hashPassword('correct horse'), roles: ['r'] } }, roles: { r: { tables: { '*': ['read'] } } } };
  const problems = inspectConfig({ cluster: 'nats://a:4222', auth }).problems;
  assert.deepEqual(
    problems.map((p) => p.path),
    ['auth.secret'],
  );
  assert.match(problems[0]!.message, /the same on every node/);
  assert.deepEqual(inspectConfig({ cluster: 'nats://a:4222', auth: { ...auth, secret: 's'.repeat(32) } }).problems, []);
  assert.deepEqual(inspectConfig({ auth }).problems, [], 'one server keeps making its own');
});

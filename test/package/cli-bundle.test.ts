/**
 * The command line runs from its one-file build with V8's code cache (src/cli.ts,
 * scripts/bundle-cli.ts): the cache the build wrote is one V8 accepts, and the parts of the bundle
 * that load on demand (certificate generator, GraphQL Yoga, GraphiQL's assets, prom-client) work
 * from it, since a bundle can break each of them in its own way (paths, `import()`, CommonJS).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { compileBundle } from '../../src/cli/bundle-loader.ts';
import { spawnServer } from '../helpers/child.ts';
import { ROOT } from '../helpers/fixtures.ts';
import { agent, tmpDir } from '../helpers/server.ts';

const BUNDLE = join(ROOT, 'dist/cli.bundle.cjs');
const CACHE = join(ROOT, 'dist/cli.bundle.cache');

test('the build wrote the bundle and a code cache that V8 accepts', () => {
  assert.ok(existsSync(BUNDLE) && existsSync(CACHE), 'npm run build writes dist/cli.bundle.cjs and dist/cli.bundle.cache');
  assert.equal(compileBundle(BUNDLE, CACHE).cached, true, 'V8 refused the cache: the build made it with another Node or other flags');
  // Made by a start that served a request: far more than the top level of the file.
  assert.ok(readFileSync(CACHE).length > 500_000, `cache of ${readFileSync(CACHE).length} bytes`);
  assert.equal(compileBundle(BUNDLE, join(ROOT, 'dist/no-such.cache')).cached, false);
});

test('node dist/cli.js runs the bundle: a first start makes a certificate, and GraphQL, GraphiQL and /metrics answer', async (t) => {
  const data = tmpDir();
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const s = await spawnServer(process.execPath, [join(ROOT, 'dist/cli.js'), 'start', '--port', '0', '--host', '127.0.0.1', '--data', data, '--schemas', join(ROOT, 'schemas')]);
  t.after(async () => {
    s.proc.kill('SIGTERM');
    await s.exited;
  });
  assert.match(s.url, /^https:/);
  assert.ok(existsSync(join(data, 'tls/cert.pem')), 'the self-signed certificate was generated');
  const get = async (path: string, headers: Record<string, string> = {}, body?: string) => {
    const res = await request(s.url + path, { dispatcher: agent, headers, ...(body ? { method: 'POST' as const, body } : {}) });
    return { status: res.statusCode, text: await res.body.text() };
  };
  const query = await get('/realtime-demo/graphql', { 'content-type': 'application/json' }, JSON.stringify({ query: '{ __typename }' }));
  assert.deepEqual([query.status, JSON.parse(query.text)], [200, { data: { __typename: 'Query' } }]);
  const page = await get('/realtime-demo/graphql', { accept: 'text/html' });
  const script = /src="(\/realtime-demo\/graphql\?graphiql=graphiql\.js[^"]*)"/.exec(page.text)?.[1]?.replaceAll('&amp;', '&');
  assert.ok(script, 'GraphiQL page links its script');
  const asset = await get(script);
  assert.equal(asset.status, 200);
  assert.ok(asset.text.length > 1_000_000, 'GraphiQL script served from the package');
  const metrics = await get('/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.text, /tablecast_http_requests_total/);
  assert.doesNotMatch(s.output(), /"level":50/, 'no error logged');
});

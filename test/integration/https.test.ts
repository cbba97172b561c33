/**
 * HTTPS with HTTP/2 and the HTTP/1.1 fallback, with real clients: the README's `curl -sk` commands
 * (Try it, Query grammar) run verbatim except for the port, by the real curl, and again forced to
 * `--http2` and `--http1.1`; undici negotiates HTTP/2 over ALPN.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { request } from 'undici';
import { createServer } from '../../src/server.ts';
import { ROOT, SHOP_SDL } from '../helpers/fixtures.ts';
import { MESSAGE_SDL, agent, schemaDir, tmpDir } from '../helpers/server.ts';

const run = promisify(execFile);
const README = readFileSync(`${ROOT}/README.md`, 'utf8');

/** The `curl` commands of the first ```sh block with any, under a README heading, continuation lines joined. */
function readmeCurls(heading: string): string[] {
  const start = README.indexOf(`\n## ${heading}\n`);
  const section = README.slice(start, README.indexOf('\n## ', start + 1));
  for (const [, block] of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const curls = block!
      .replace(/\\\n\s*/g, '')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('curl '));
    if (curls.length > 0) return curls;
  }
  return [];
}

interface TlsServer {
  port: number;
  /** HTTP versions of the requests the server received, in order. */
  versions: string[];
}

/** A server over HTTPS (generated certificate) that records each request's HTTP version. */
async function httpsServer(t: TestContext): Promise<TlsServer> {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL, 'shop.graphql': SHOP_SDL });
  const data = tmpDir();
  const server = await createServer({ port: 0, host: '127.0.0.1', tls: true, logLevel: 'silent', schemas, data });
  const versions: string[] = [];
  server.fastify.addHook('onRequest', async (req) => {
    versions.push(req.raw.httpVersion);
  });
  await server.listen();
  t.after(async () => {
    await server.close();
    rmSync(schemas, { recursive: true, force: true });
    rmSync(data, { recursive: true, force: true });
  });
  const address = server.fastify.server.address();
  assert.ok(address && typeof address === 'object');
  return { port: address.port, versions };
}

/** Runs a README command through bash with the port replaced, plus extra curl options. */
async function sh(command: string, port: number, extra = ''): Promise<string> {
  const line = command.replaceAll('localhost:9996', `localhost:${port}`).replace(/^curl /, `curl ${extra} `);
  const { stdout } = await run('bash', ['-c', line], { timeout: 20_000 });
  return stdout;
}

const TRY_IT = readmeCurls('Try it');

test("the README's Try it commands work verbatim (port aside) with curl -sk over HTTPS", async (t) => {
  // Create, read, query, then the same create again (its 409 is checked below with the others).
  assert.equal(TRY_IT.length, 4, 'four curl commands under Try it');
  const s = await httpsServer(t);
  const [post, get, query] = TRY_IT as [string, string, string];
  assert.deepEqual(JSON.parse(await sh(post, s.port)), { id: 'hello-1', title: 'Hello', content: 'my first record' });
  assert.deepEqual(JSON.parse(await sh(get, s.port)), { id: 'hello-1', title: 'Hello', content: 'my first record' });
  assert.deepEqual(JSON.parse(await sh(query, s.port)), [{ id: 'hello-1', content: 'my first record' }]);
  // curl negotiates HTTP/2 by ALPN on its own.
  assert.deepEqual(s.versions, ['2.0', '2.0', '2.0']);
});

for (const [flag, version, written] of [
  ['--http2', '2.0', '2'],
  ['--http1.1', '1.1', '1.1'],
] as const) {
  test(`the same commands with curl ${flag}`, async (t) => {
    const s = await httpsServer(t);
    const [post, get, query] = TRY_IT as [string, string, string];
    const w = `${flag} -w '\\n%{http_version} %{http_code}'`;
    const split = (out: string) => {
      const i = out.lastIndexOf('\n');
      return { body: JSON.parse(out.slice(0, i)), meta: out.slice(i + 1) };
    };
    const created = split(await sh(post, s.port, w));
    assert.equal(created.meta, `${written} 201`);
    assert.deepEqual(created.body, { id: 'hello-1', title: 'Hello', content: 'my first record' });
    const got = split(await sh(get, s.port, w));
    assert.equal(got.meta, `${written} 200`);
    assert.equal(got.body.content, 'my first record');
    const selected = split(await sh(query, s.port, w));
    assert.equal(selected.meta, `${written} 200`);
    assert.deepEqual(selected.body, [{ id: 'hello-1', content: 'my first record' }]);
    // Errors keep their JSON shape on both protocols (and no HTTP/1.1-only header breaks HTTP/2).
    const again = split(await sh(post, s.port, w));
    assert.equal(again.meta, `${written} 409`);
    assert.equal(again.body.code, 'CONFLICT');
    const bad = split(await sh(`curl -gsk "https://localhost:9996/realtime-demo/message?[title=x"`, s.port, w));
    assert.equal(bad.meta, `${written} 400`);
    assert.equal(bad.body.code, 'QUERY_INVALID');
    assert.ok(s.versions.length >= 5 && s.versions.every((v) => v === version), s.versions.join());
  });
}

test("the README's query-grammar curl commands run as written", async (t) => {
  const s = await httpsServer(t);
  const commands = readmeCurls('Query grammar');
  assert.ok(commands.length >= 2);
  const products = [
    { id: 'a', name: 'Hammer', category: 'tools', price: 15, status: 'ACTIVE' },
    { id: 'b', name: 'Saw', category: 'tools', price: 25, status: 'ACTIVE' },
    { id: 'c', name: 'Rake', category: 'garden', price: 12, status: 'ACTIVE' },
    { id: 'd', name: 'Pliers', category: 'tools', price: 8, status: 'DRAFT' },
    { id: 'e', name: 'Pan', category: 'kitchen', price: 30, status: 'ACTIVE' },
  ];
  for (const p of products) {
    const res = await request(`https://127.0.0.1:${s.port}/shop/product`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify(p) });
    assert.equal(res.statusCode, 201, await res.body.text());
    await res.body.dump();
  }
  const out = await Promise.all(commands.map((c) => sh(c, s.port, "-w '\\n%{http_code}'")));
  for (const [i, o] of out.entries()) assert.match(o, /\n200$/, `${commands[i]} → ${o}`);
  const body = (o: string) => JSON.parse(o.slice(0, o.lastIndexOf('\n')));
  assert.deepEqual(
    body(out[0]!).map((p: { id: string }) => p.id),
    ['a', 'd'],
    'tools under 20, most expensive first',
  );
  assert.deepEqual(body(out[1]!), [
    { name: 'Hammer', price: 15 },
    { name: 'Saw', price: 25 },
    { name: 'Rake', price: 12 },
    { name: 'Pliers', price: 8 },
  ]);
});

test('undici negotiates HTTP/2 and gets the same answers', async (t) => {
  const s = await httpsServer(t);
  const base = `https://localhost:${s.port}/realtime-demo/message`;
  const post = await request(base, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'h2', title: 'Live', content: 'over h2' }) });
  assert.equal(post.statusCode, 201);
  assert.equal(post.headers.location, '/realtime-demo/message/h2');
  assert.deepEqual(await post.body.json(), { id: 'h2', title: 'Live', content: 'over h2' });
  const [one, list, missing] = await Promise.all([request(`${base}/h2`, { dispatcher: agent }), request(`${base}?select(id)`, { dispatcher: agent }), request(`${base}/nope`, { dispatcher: agent })]);
  assert.equal(one.statusCode, 200);
  assert.equal(((await one.body.json()) as { content: string }).content, 'over h2');
  assert.deepEqual(await list.body.json(), ['h2']);
  assert.equal(missing.statusCode, 404);
  assert.equal(((await missing.body.json()) as { code: string }).code, 'NOT_FOUND');
  assert.equal(missing.headers.connection, undefined, 'no Connection header on HTTP/2');
  // Errors fastify raises while reading the body (it marks some `Connection: close`) work over HTTP/2 too.
  for (const [body, type, status, code] of [
    [JSON.stringify({ title: 't', content: 'x'.repeat(2 * 1024 * 1024) }), 'application/json', 413, 'PAYLOAD_TOO_LARGE'],
    ['{bad', 'application/json', 400, 'INVALID_JSON'],
    ['hello', 'text/plain', 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ] as const) {
    const res = await request(base, { method: 'POST', dispatcher: agent, headers: { 'content-type': type }, body });
    assert.equal(res.statusCode, status);
    assert.equal(((await res.body.json()) as { code: string }).code, code);
    assert.equal(res.headers.connection, undefined);
  }
  assert.equal(s.versions.length, 7);
  assert.ok(
    s.versions.every((v) => v === '2.0'),
    s.versions.join(),
  );
});

/**
 * Bad input never yields a 5xx and never writes anything: every case below answers a 4xx in the one
 * JSON error shape, and the stored records and the change-log head are exactly as before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { Readable, Writable } from 'node:stream';
import tls from 'node:tls';
import { request } from 'undici';
import { ERROR_STATUS } from '../../src/errors.ts';
import { assertError, serve, snapshot } from '../helpers/fixtures.ts';
import { MESSAGE_SDL, agent, type Res, type TestServer } from '../helpers/server.ts';

const M = '/realtime-demo/message';
const JSON_TYPE = { 'content-type': 'application/json' };

/** A server with one message, one product and one order to be damaged. */
async function seeded(t: Parameters<typeof serve>[0]): Promise<TestServer> {
  const s = await serve(t);
  assert.equal((await s.req('POST', M, { id: 'm1', title: 'Hello', content: 'World' })).status, 201);
  assert.equal((await s.req('POST', '/shop/product', { id: 'p1', name: 'Saw', price: 10, status: 'ACTIVE', tags: ['a'] })).status, 201);
  assert.equal((await s.req('POST', '/shop/order', { customerEmail: 'ann@example.com', lines: [{ productId: 'p1', quantity: 1, unitPrice: 10 }], total: 10 })).status, 201);
  return s;
}

interface Case {
  what: string;
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  code: string;
  /** A part of the message that names the problem. */
  names?: RegExp;
}

/** Sends each case and checks status, shape, code, message, and that nothing changed. */
async function expectRefused(s: TestServer, cases: Case[]): Promise<void> {
  for (const c of cases) {
    const before = snapshot(s);
    const res = await s.req(c.method, c.path, c.body, c.headers);
    const body = assertError(res, c.status, c.code, `${c.what} (${c.method} ${c.path.slice(0, 60)})`);
    if (c.names) assert.match(body.message, c.names, c.what);
    assert.deepEqual(snapshot(s), before, `${c.what}: nothing may change`);
  }
}

test('malformed, empty and non-object JSON bodies are 400s', async (t) => {
  const s = await seeded(t);
  const cases: Case[] = [];
  for (const [method, path] of [
    ['POST', M],
    ['PUT', `${M}/m1`],
    ['PATCH', `${M}/m1`],
    ['POST', `${M}/m1`],
  ] as const) {
    cases.push(
      { what: 'malformed JSON', method, path, body: '{"title": "x",', headers: JSON_TYPE, status: 400, code: 'INVALID_JSON', names: /JSON/ },
      { what: 'trailing garbage', method, path, body: '{"title":"x"} x', headers: JSON_TYPE, status: 400, code: 'INVALID_JSON' },
      { what: 'empty JSON body', method, path, body: '', headers: JSON_TYPE, status: 400, code: 'INVALID_JSON' },
    );
    if (path === `${M}/m1` && method === 'POST') continue; // a publish may carry any JSON value
    // A POST of an array to the collection is a bulk create (test/integration/bulk-create.test.ts).
    if (!(path === M && method === 'POST')) cases.push({ what: 'array body', method, path, body: [{ title: 'x', content: 'y' }], status: 400, code: 'VALIDATION_FAILED', names: /object/ });
    cases.push(
      { what: 'null body', method, path, body: 'null', headers: JSON_TYPE, status: 400, code: 'VALIDATION_FAILED', names: /object/ },
      { what: 'string body', method, path, body: '"title"', headers: JSON_TYPE, status: 400, code: 'VALIDATION_FAILED' },
      { what: 'number body', method, path, body: '42', headers: JSON_TYPE, status: 400, code: 'VALIDATION_FAILED' },
      { what: 'no body', method, path, status: 400, code: 'VALIDATION_FAILED' },
    );
  }
  cases.push({ what: 'publish without a body', method: 'POST', path: `${M}/m1`, status: 400, code: 'VALIDATION_FAILED' });
  await expectRefused(s, cases);
});

test('bodies that are not JSON are 415', async (t) => {
  const s = await seeded(t);
  const text = '{"title":"a","content":"b"}';
  const cases: Case[] = [];
  for (const [method, path] of [
    ['POST', M],
    ['PUT', `${M}/m2`],
    ['PATCH', `${M}/m1`],
    ['POST', `${M}/m1`],
  ] as const) {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x', 'application/jsonx']) {
      cases.push({ what: `Content-Type ${type}`, method, path, body: text, headers: { 'content-type': type }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', names: /JSON/ });
    }
  }
  await expectRefused(s, cases);
  // JSON with parameters and +json types are welcome.
  assert.equal((await s.req('POST', M, text, { 'content-type': 'application/json; charset=utf-8' })).status, 201);
  assert.equal((await s.req('PATCH', `${M}/m1`, '{"title":"merged"}', { 'content-type': 'application/merge-patch+json' })).status, 200);
});

test('bodies over bodyLimit are 413, with or without Content-Length', async (t) => {
  const s = await serve(t, undefined, { bodyLimit: 4096 });
  await s.req('POST', M, { id: 'm1', title: 'Hello', content: 'World' });
  const big = { id: 'big', title: 't', content: 'x'.repeat(5000) };
  await expectRefused(s, [
    { what: 'huge POST', method: 'POST', path: M, body: big, status: 413, code: 'PAYLOAD_TOO_LARGE' },
    { what: 'huge PUT', method: 'PUT', path: `${M}/big`, body: big, status: 413, code: 'PAYLOAD_TOO_LARGE' },
    { what: 'huge PATCH', method: 'PATCH', path: `${M}/m1`, body: { content: 'x'.repeat(5000) }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
    { what: 'huge publish', method: 'POST', path: `${M}/m1`, body: { text: 'x'.repeat(5000) }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
  ]);
  // Chunked: no Content-Length, the limit is enforced while reading.
  const before = snapshot(s);
  async function* chunks() {
    yield '{"id":"chunked","title":"t","content":"';
    for (let i = 0; i < 10; i++) yield 'y'.repeat(1000);
    yield '"}';
  }
  const res = await request(`${s.url}${M}`, { method: 'POST', dispatcher: agent, headers: JSON_TYPE, body: Readable.from(chunks()) });
  const text = await res.body.text();
  assert.equal(res.statusCode, 413, text);
  assert.equal(JSON.parse(text).code, 'PAYLOAD_TOO_LARGE');
  assert.deepEqual(snapshot(s), before);
  // Just under the limit is fine.
  assert.equal((await s.req('POST', M, { id: 'fits', title: 't', content: 'x'.repeat(3000) })).status, 201);
});

test('__proto__, constructor and prototype keys are refused anywhere in a body', async (t) => {
  const s = await seeded(t);
  const raw = (json: string) => ({ body: json, headers: JSON_TYPE });
  await expectRefused(s, [
    { what: 'top-level __proto__', method: 'POST', path: M, ...raw('{"title":"a","content":"b","__proto__":{"admin":true}}'), status: 400, code: 'INVALID_JSON' },
    { what: 'nested __proto__', method: 'POST', path: M, ...raw('{"title":"a","content":"b","x":{"y":[{"__proto__":{"admin":true}}]}}'), status: 400, code: 'INVALID_JSON' },
    { what: '__proto__ in a patch', method: 'PATCH', path: `${M}/m1`, ...raw('{"__proto__":{"title":"owned"}}'), status: 400, code: 'INVALID_JSON' },
    { what: '__proto__ in a publish', method: 'POST', path: `${M}/m1`, ...raw('{"__proto__":{"x":1}}'), status: 400, code: 'INVALID_JSON' },
    { what: 'constructor', method: 'POST', path: M, body: { title: 'a', content: 'b', constructor: { name: 'x' } }, status: 400, code: 'VALIDATION_FAILED', names: /constructor/ },
    { what: 'prototype', method: 'PUT', path: `${M}/m1`, body: { title: 'a', content: 'b', prototype: 1 }, status: 400, code: 'VALIDATION_FAILED', names: /prototype/ },
    { what: 'nested constructor', method: 'PATCH', path: `${M}/m1`, body: { extra: { constructor: 1 } }, status: 400, code: 'VALIDATION_FAILED', names: /constructor/ },
  ]);
  assert.equal(({} as { admin?: boolean }).admin, undefined, 'Object.prototype untouched');
});

test('wrong types, missing required attributes and bad keys are 400 VALIDATION_FAILED naming the attribute', async (t) => {
  const s = await seeded(t);
  const product = { name: 'Saw', price: 10, status: 'ACTIVE' };
  const order = { customerEmail: 'a@b.c', lines: [], total: 1 };
  await expectRefused(s, [
    { what: 'number for String', method: 'POST', path: M, body: { title: 1, content: 'b' }, status: 400, code: 'VALIDATION_FAILED', names: /title/ },
    { what: 'missing required', method: 'POST', path: M, body: { title: 'a' }, status: 400, code: 'VALIDATION_FAILED', names: /content/ },
    { what: 'null required', method: 'POST', path: M, body: { title: null, content: 'b' }, status: 400, code: 'VALIDATION_FAILED', names: /title/ },
    { what: 'missing required on PUT', method: 'PUT', path: `${M}/m1`, body: { title: 'only' }, status: 400, code: 'VALIDATION_FAILED', names: /content/ },
    { what: 'string for Float', method: 'POST', path: '/shop/product', body: { ...product, price: '10' }, status: 400, code: 'VALIDATION_FAILED', names: /price/ },
    { what: 'unknown enum value', method: 'POST', path: '/shop/product', body: { ...product, status: 'SOLD' }, status: 400, code: 'VALIDATION_FAILED', names: /status/ },
    { what: 'Int out of 32 bits', method: 'POST', path: '/shop/product', body: { ...product, stock: 2 ** 31 }, status: 400, code: 'VALIDATION_FAILED', names: /stock/ },
    { what: 'fraction for Int', method: 'POST', path: '/shop/product', body: { ...product, stock: 1.5 }, status: 400, code: 'VALIDATION_FAILED', names: /stock/ },
    { what: 'null in a [String!] list', method: 'POST', path: '/shop/product', body: { ...product, tags: ['a', null] }, status: 400, code: 'VALIDATION_FAILED', names: /tags/ },
    { what: 'string for a list', method: 'POST', path: '/shop/product', body: { ...product, tags: 'a' }, status: 400, code: 'VALIDATION_FAILED', names: /tags/ },
    {
      what: 'undeclared attribute of a sealed nested type',
      method: 'POST',
      path: '/shop/product',
      body: { ...product, dimensions: { width: 1, height: 2, colour: 'red' } },
      status: 400,
      code: 'VALIDATION_FAILED',
      names: /dimensions\.colour/,
    },
    {
      what: 'missing required nested attribute',
      method: 'POST',
      path: '/shop/product',
      body: { ...product, dimensions: { width: 1 } },
      status: 400,
      code: 'VALIDATION_FAILED',
      names: /dimensions\.height/,
    },
    { what: 'undeclared attribute on a sealed table', method: 'POST', path: '/shop/order', body: { ...order, coupon: 'X' }, status: 400, code: 'VALIDATION_FAILED', names: /coupon/ },
    { what: 'deep nesting', method: 'POST', path: M, body: { title: 'a', content: 'b', deep: JSON.parse(`${'{"a":'.repeat(200)}1${'}'.repeat(200)}`) }, status: 400, code: 'VALIDATION_FAILED' },
    { what: 'lone surrogate in a value', method: 'POST', path: M, body: '{"title":"\\ud800","content":"b"}', headers: JSON_TYPE, status: 400, code: 'VALIDATION_FAILED', names: /Unicode/ },
    { what: 'lone surrogate in a key', method: 'POST', path: M, body: '{"id":"a\\udc00","title":"a","content":"b"}', headers: JSON_TYPE, status: 400, code: 'VALIDATION_FAILED', names: /Unicode/ },
    { what: 'id too long in the body', method: 'POST', path: M, body: { id: 'x'.repeat(256), title: 'a', content: 'b' }, status: 400, code: 'VALIDATION_FAILED', names: /id/ },
    { what: 'id too long in the URL', method: 'PUT', path: `${M}/${'x'.repeat(256)}`, body: { title: 'a', content: 'b' }, status: 400, code: 'VALIDATION_FAILED', names: /id/ },
    { what: 'null key', method: 'POST', path: M, body: { id: null, title: 'a', content: 'b' }, status: 400, code: 'VALIDATION_FAILED', names: /id/ },
    { what: 'boolean key', method: 'POST', path: M, body: { id: true, title: 'a', content: 'b' }, status: 400, code: 'VALIDATION_FAILED', names: /id/ },
    { what: 'text for an Int key in the URL', method: 'PUT', path: '/shop/order/abc', body: order, status: 400, code: 'VALIDATION_FAILED', names: /integer/ },
    { what: 'unsafe integer key in the URL', method: 'GET', path: '/shop/order/99999999999999999', status: 400, code: 'VALIDATION_FAILED', names: /integer/ },
    { what: 'fraction key in the URL', method: 'DELETE', path: '/shop/order/1.5', status: 400, code: 'VALIDATION_FAILED', names: /integer/ },
    { what: 'Int key beyond 32 bits in the URL', method: 'PUT', path: '/shop/order/3000000000', body: order, status: 400, code: 'VALIDATION_FAILED', names: /32-bit/ },
    { what: 'Int key beyond 32 bits in the body', method: 'POST', path: '/shop/order', body: { ...order, id: 2 ** 31 }, status: 400, code: 'VALIDATION_FAILED', names: /32-bit/ },
    { what: 'string key for an Int table', method: 'POST', path: '/shop/order', body: { ...order, id: '5' }, status: 400, code: 'VALIDATION_FAILED', names: /id/ },
  ]);
  // The same id at exactly 255 characters is fine.
  assert.equal((await s.req('POST', M, { id: 'x'.repeat(255), title: 'a', content: 'b' })).status, 201);
});

test('PUT and PATCH with a body key other than the URL key are 400 KEY_MISMATCH', async (t) => {
  const s = await seeded(t);
  await expectRefused(s, [
    { what: 'PUT other key', method: 'PUT', path: `${M}/m1`, body: { id: 'm2', title: 'a', content: 'b' }, status: 400, code: 'KEY_MISMATCH', names: /m2/ },
    { what: 'PUT other key, new record', method: 'PUT', path: `${M}/new`, body: { id: 'other', title: 'a', content: 'b' }, status: 400, code: 'KEY_MISMATCH' },
    { what: 'PATCH other key', method: 'PATCH', path: `${M}/m1`, body: { id: 'm2' }, status: 400, code: 'KEY_MISMATCH' },
    { what: 'PUT other Int key', method: 'PUT', path: '/shop/order/1', body: { id: 2, customerEmail: 'a@b.c', lines: [], total: 1 }, status: 400, code: 'KEY_MISMATCH' },
  ]);
  // The same key, in either spelling, is fine.
  assert.equal((await s.req('PUT', '/shop/order/1', { id: 1, customerEmail: 'a@b.c', lines: [], total: 1 })).status, 200);
});

test('a PATCH that would leave an invalid record is 400 and the record is unchanged', async (t) => {
  const s = await seeded(t);
  const before = (await s.req('GET', '/shop/product/p1')).body;
  await expectRefused(s, [
    { what: 'null for a required attribute', method: 'PATCH', path: '/shop/product/p1', body: { name: null }, status: 400, code: 'VALIDATION_FAILED', names: /name/ },
    { what: 'wrong type', method: 'PATCH', path: '/shop/product/p1', body: { price: 'cheap' }, status: 400, code: 'VALIDATION_FAILED', names: /price/ },
    { what: 'unknown enum', method: 'PATCH', path: '/shop/product/p1', body: { status: 'GONE' }, status: 400, code: 'VALIDATION_FAILED', names: /status/ },
    { what: 'undeclared on sealed', method: 'PATCH', path: '/shop/order/1', body: { coupon: 'X' }, status: 400, code: 'VALIDATION_FAILED', names: /coupon/ },
    { what: 'half-valid patch', method: 'PATCH', path: '/shop/product/p1', body: { category: 'ok', stock: 'many' }, status: 400, code: 'VALIDATION_FAILED', names: /stock/ },
  ]);
  assert.deepEqual((await s.req('GET', '/shop/product/p1')).body, before);
});

test('a PATCH is validated as a whole: a record stored under an older schema must become valid', async (t) => {
  const first = await serve(t, { 'm.graphql': MESSAGE_SDL });
  await first.req('POST', M, { id: 'old', title: 'Hello', content: 'World' });
  await first.server.close();
  // The schema now requires `author`, which the stored record lacks.
  const s = await serve(t, { 'm.graphql': MESSAGE_SDL.replace('content: String!', 'content: String!\n  author: String!') }, { data: first.dataDir });
  await expectRefused(s, [{ what: 'patch leaving a required attribute missing', method: 'PATCH', path: `${M}/old`, body: { title: 'Hi' }, status: 400, code: 'VALIDATION_FAILED', names: /author/ }]);
  const fixed = await s.req('PATCH', `${M}/old`, { author: 'ann' });
  assert.equal(fixed.status, 200);
  assert.deepEqual(fixed.body, { id: 'old', title: 'Hello', content: 'World', author: 'ann' });
});

test('bad query strings are 400 QUERY_INVALID, on GET and DELETE, and never 404 or 500', async (t) => {
  const s = await seeded(t);
  const queries: Array<[string, RegExp]> = [
    ['[title=Hello', /unclosed/],
    ['title=Hello]', /\]/],
    ['title=Hello&', /dangling/],
    ['&title=Hello', /condition/],
    ['title=a|title=b&content=c', /mix/],
    ['title=%ZZ', /percent/],
    ['title=ab=c', /operator|=/],
    ['title=xx=a', /operator/],
    ['limit(a)', /limit/],
    ['limit(5,2)', /limit/],
    ['limit(1)&limit(2)', /twice/],
    ['sort()', /sort/],
    ['select()', /select/],
    ['frobnicate(a)', /unknown function/],
    ['[title=a&limit(1)]', /top level/],
    ['stream=sse2', /stream/],
    ['title', /operator/],
    ['=x', /attribute name/],
    ['[]', /empty group/],
    [`${'['.repeat(40)}title=a${']'.repeat(40)}`, /deeper/],
  ];
  const cases: Case[] = [];
  for (const [q, names] of queries) {
    cases.push({ what: `GET ?${q}`, method: 'GET', path: `${M}?${q}`, status: 400, code: 'QUERY_INVALID', names });
    if (!q.startsWith('stream')) cases.push({ what: `DELETE ?${q}`, method: 'DELETE', path: `${M}?${q}`, status: 400, code: 'QUERY_INVALID', names });
  }
  // Typed attributes: values that cannot be coerced, operators that do not apply.
  for (const [q, names] of [
    ['price=abc', /price/],
    ['price=gt=abc', /price/],
    ['stock=1.5.2', /stock/],
    ['status=SOLD', /status/],
    ['price=ct=1', /ct/],
    ['dimensions=1', /dimensions/],
    ['sort(dimensions)', /dimensions/],
    ['price=gt=null', /null/],
    ['updatedAt=yesterday', /updatedAt/],
    ['select(dimensions.width)', /path/],
  ] as Array<[string, RegExp]>) {
    cases.push({ what: `typed ?${q}`, method: 'GET', path: `/shop/product?${q}`, status: 400, code: 'QUERY_INVALID', names });
  }
  // A sealed table: unknown attributes are 400 (Harper answers 404), also in select and sort.
  for (const q of ['coupon=X', 'select(coupon)', 'sort(coupon)', 'total=gt=1&coupon=X', '[coupon=X|total=1]']) {
    cases.push({ what: `sealed ?${q}`, method: 'GET', path: `/shop/order?${q}`, status: 400, code: 'QUERY_INVALID', names: /coupon/ });
    cases.push({ what: `sealed DELETE ?${q}`, method: 'DELETE', path: `/shop/order?${q}`, status: 400, code: 'QUERY_INVALID', names: /coupon/ });
  }
  // The query string of a record URL is parsed too.
  cases.push({ what: 'record query', method: 'GET', path: '/shop/order/1?coupon=X', status: 400, code: 'QUERY_INVALID', names: /coupon/ });
  await expectRefused(s, cases);
  // Unknown attributes of tables that are not sealed are simply absent: 200 and no match, not 404.
  const loose = await s.req('GET', `${M}?nothing=1`);
  assert.equal(loose.status, 200);
  assert.deepEqual(loose.body, []);
});

test('a stream of mixed bad requests leaves the server healthy and unchanged', async (t) => {
  const s = await seeded(t);
  const before = snapshot(s);
  const bad = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      i % 4 === 0
        ? s.req('POST', M, '{bad', JSON_TYPE)
        : i % 4 === 1
          ? s.req('PATCH', `${M}/m1`, { title: null })
          : i % 4 === 2
            ? s.req('GET', `${M}?[title=`)
            : s.req('PUT', '/shop/order/1', { id: 1, customerEmail: 'x', lines: 'no', total: 1 }),
    ),
  );
  for (const res of bad) assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${res.text}`);
  assert.deepEqual(snapshot(s), before);
  assert.equal((await s.req('GET', '/health')).status, 200);
});

// fastify raises these before routing; `frameworkErrors` (src/server.ts) renders them in our shape.
test('a malformed percent-encoding in the path is a 400 in the one error shape', async (t) => {
  const s = await seeded(t);
  await expectRefused(s, [{ what: 'bad %-escape in the id', method: 'GET', path: `${M}/%E0%A4%A`, status: 400, code: 'BAD_REQUEST' }]);
});

test('an id longer than the router allows is a 4xx in the one error shape', async (t) => {
  const s = await seeded(t);
  const res = await s.req('GET', `${M}/${'x'.repeat(1200)}`);
  assert.ok(res.status >= 400 && res.status < 500);
  assert.ok(Object.hasOwn(ERROR_STATUS, String(res.body.code)), `our code, not fastify's: ${res.text.slice(0, 120)}`);
  assert.equal(res.body.statusCode, res.status);
});

/** One raw HTTP/1.1 exchange (bytes undici refuses to send); the first response, parsed, once the server closes. */
function rawExchange(url: string, bytes: Buffer | string): Promise<Res> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket: net.Socket =
      u.protocol === 'https:' ? tls.connect({ port: Number(u.port), host: u.hostname, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }) : net.connect(Number(u.port), u.hostname);
    let text = '';
    socket.on(u.protocol === 'https:' ? 'secureConnect' : 'connect', () => socket.write(bytes));
    socket.on('data', (d) => (text += d));
    socket.on('error', () => {});
    socket.on('close', () => {
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
      const bodyText = rest.join('\r\n\r\n');
      let body: unknown = bodyText;
      try {
        body = JSON.parse(bodyText);
      } catch {}
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body, text: text || '(closed without an answer)' });
    });
  });
}

/** One HTTP/2 request on its own session: the answer, or status 0 and the reset code. */
function h2Exchange(url: string, headers: http2.OutgoingHttpHeaders, body?: string): Promise<Res & { rst: number }> {
  return new Promise((resolve) => {
    const session = http2.connect(url, { rejectUnauthorized: false });
    session.on('error', () => {});
    const req = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let contentType = '';
    let text = '';
    req.on('response', (h) => {
      status = Number(h[':status']);
      contentType = String(h['content-type'] ?? '');
    });
    req.on('data', (d) => (text += d));
    req.on('error', () => {});
    req.on('close', () => {
      session.close();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {}
      resolve({ status, headers: { 'content-type': contentType }, body: parsed, text, rst: req.rstCode ?? 0 });
    });
    if (body !== undefined) req.end(body);
  });
}

for (const secure of [false, true]) {
  test(`bad bytes on the wire are 4xx in the one shape and change nothing, over HTTP/1.1${secure ? ' (TLS) and HTTP/2' : ''}`, async (t) => {
    const lines: string[] = [];
    const logStream = new Writable({
      write: (chunk, _e, cb) => {
        lines.push(String(chunk));
        cb();
      },
    });
    const s = await serve(t, undefined, { tls: secure, logLevel: 'info', logStream, headersTimeout: 1000, requestTimeout: 1500, maxHeaderSize: 4096 });
    assert.equal((await s.req('POST', M, { id: 'm1', title: 'Hello', content: 'World' })).status, 201);
    const body = '{"id":"m2","title":"t","content":"c"}';
    const post = (headers: string, payload = body) => `POST ${M} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n${payload}`;
    const cases: Array<{ what: string; bytes: Buffer | string; status: number; code: string }> = [
      {
        what: 'raw non-ASCII bytes in the query',
        bytes: Buffer.concat([Buffer.from(`GET ${M}?title=`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]),
        status: 400,
        code: 'BAD_REQUEST',
      },
      { what: 'Content-Length shorter than the body', bytes: post('Content-Length: 5\r\n'), status: 400, code: 'BAD_REQUEST' },
      { what: 'Content-Length longer than the body', bytes: post('Content-Length: 500\r\n'), status: 408, code: 'REQUEST_TIMEOUT' },
      { what: 'Content-Encoding: gzip on a plain body', bytes: post(`Content-Encoding: gzip\r\nContent-Length: ${body.length}\r\nConnection: close\r\n`), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
      { what: 'a malformed %-escape in the path', bytes: `GET ${M}/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, status: 400, code: 'BAD_REQUEST' },
      { what: 'a head over maxHeaderSize', bytes: `GET ${M} HTTP/1.1\r\nHost: x\r\nX-Big: ${'x'.repeat(5000)}\r\n\r\n`, status: 431, code: 'HEADERS_TOO_LARGE' },
      { what: 'an unknown method', bytes: `BREW ${M} HTTP/1.1\r\nHost: x\r\n\r\n`, status: 400, code: 'BAD_REQUEST' },
    ];
    for (const c of cases) {
      const before = snapshot(s);
      assertError(await rawExchange(s.url, c.bytes), c.status, c.code, `HTTP/1.1: ${c.what}`);
      assert.deepEqual(snapshot(s), before, `${c.what}: nothing may change`);
    }
    if (secure) {
      const h2Cases: Array<{ what: string; headers: http2.OutgoingHttpHeaders; body?: string; status: number; code: string }> = [
        { what: 'raw non-ASCII in the query', headers: { ':path': `${M}?title=\u00ff\u00fe` }, status: 400, code: 'BAD_REQUEST' },
        {
          what: 'Content-Encoding: gzip on a plain body',
          headers: { ':path': M, ':method': 'POST', 'content-type': 'application/json', 'content-encoding': 'gzip' },
          body,
          status: 415,
          code: 'UNSUPPORTED_MEDIA_TYPE',
        },
        { what: 'a malformed %-escape in the path', headers: { ':path': `${M}/%E0%A4%A` }, status: 400, code: 'BAD_REQUEST' },
      ];
      for (const c of h2Cases) {
        const before = snapshot(s);
        assertError(await h2Exchange(s.url, c.headers, c.body), c.status, c.code, `HTTP/2: ${c.what}`);
        assert.deepEqual(snapshot(s), before, `${c.what}: nothing may change`);
      }
      // HTTP/2 frames its body, so a wrong Content-Length is caught by the protocol layer: the
      // stream is reset before any route sees it.
      const before = snapshot(s);
      const short = await h2Exchange(s.url, { ':path': M, ':method': 'POST', 'content-type': 'application/json', 'content-length': '5' }, body);
      assert.equal(short.status, 0);
      assert.equal(short.rst, http2.constants.NGHTTP2_PROTOCOL_ERROR);
      assert.deepEqual(snapshot(s), before);
    }
    assert.equal((await s.req('GET', '/health')).status, 200);
    const errors = lines.filter((l) => JSON.parse(l).level >= 50);
    assert.deepEqual(errors, [], 'nothing logged at error level');
  });
}

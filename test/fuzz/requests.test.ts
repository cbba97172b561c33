/**
 * Issue #5, point 4: a property-based bad-input suite of more than 10,000 requests against one real
 * server over plain HTTP (a keep-alive undici agent, 16 connections, batches sent in parallel).
 *
 * Families (each a fast-check arbitrary of whole requests): JSON bodies (valid records of a schema
 * with every scalar type, then wrong types, missing and extra attributes, `__proto__`/`constructor`/
 * `prototype` keys at any depth, nesting up to 200 deep, lone surrogates, strings around the body
 * limit), raw bodies (truncated and malformed JSON, random bytes, wrong content types), record ids
 * (odd Unicode, malformed %-escapes, empty, long, `..`, slashes), query strings (from the grammar's
 * alphabet and tokens), `Last-Event-ID` / `?lastEventId=` on streams, and GraphQL documents
 * (mutated valid operations, random variables).
 *
 * Every answer: status < 500, a 4xx in the one error shape (GraphQL: known codes, never a masked
 * internal error), and the server still answers /health after every batch. After the run, the store
 * is checked as a whole through LMDB (helpers/fuzz.ts checkStore): records valid and in stored form,
 * indexes exact both ways, change log gap-free and replaying to exactly the stored tables.
 *
 * Reproducing a failure: the seed is printed (FUZZ_SEED=<n> to choose another); the failing request
 * is named in the error; fast-check's report gives the seed and path of the failing batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import fc from 'fast-check';
import { Agent } from 'undici';
import { FUZZ_SDL, checkResponse, checkStore, printable, sendRaw, type FuzzRequest, type FuzzResponse } from '../helpers/fuzz.ts';
import { schemaDir, startServer } from '../helpers/server.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_251_128);
/** Requests sent in parallel per property run (the agent holds 16 connections). */
const BATCH = 32;
/** Small, so bodies around and over it are cheap to send. */
const BODY_LIMIT = 64 * 1024;

const E = '/fuzz/everything';
const S = '/fuzz/sealed';
const G = '/fuzz/graphql';

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const text = fc.oneof(fc.string({ maxLength: 24 }), fc.string({ unit: 'grapheme', maxLength: 16 }), fc.string({ unit: 'binary', maxLength: 8 }));
const isoDate = fc.oneof(
  fc.date({ min: new Date('1800-01-01T00:00:00Z'), max: new Date('2300-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.integer({ min: -62_167_219_200_000, max: 253_402_300_799_999 }),
  // Valid, and around the edges of what a Date can hold (years 0000–9999; JavaScript's ±8.64e15 ms).
  fc.constantFrom('2024-02-29', '2024-01-01T10:00:00+02:00', '2024-01-01 10:00', '1970-01-01T00:00:00.123456789Z', '0000-01-01', '9999-12-31T23:59:59.999Z', 8.4e15, -8.64e15, 253_402_300_800_000),
);
const color = fc.constantFrom('RED', 'GREEN', 'BLUE');
const inner = fc.record({ label: text, n: fc.option(int32, { nil: null }), when: fc.option(isoDate, { nil: null }) }, { requiredKeys: ['label'] });

/** Ids of the string-keyed table, shared by the families so that writes meet existing records. */
const STRING_IDS = ['a', 'b', 'c', 'rec-1', 'rec-2', 'ünï', '😀', 'x y', '..', 'a/b', '%', '-0', '0', '42', 'null', '__proto__', 'l'.repeat(255)];
const stringId = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...STRING_IDS) }, { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }) });
const intId = fc.oneof(fc.integer({ min: -3, max: 12 }), fc.constantFrom(2 ** 31 - 1, -(2 ** 31)));

const everything = fc.record(
  {
    id: stringId,
    s: text,
    i: fc.option(int32, { nil: null }),
    f: fc.double({ noNaN: true, noDefaultInfinity: true }),
    l: fc.maxSafeInteger(),
    big: fc.oneof(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String), fc.maxSafeInteger()),
    flag: fc.boolean(),
    day: isoDate,
    any: fc.jsonValue({ maxDepth: 3 }),
    bytes: fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b).toString('base64')),
    color: fc.option(color, { nil: null }),
    tags: fc.array(text, { maxLength: 4 }),
    nums: fc.array(fc.option(int32, { nil: null }), { maxLength: 4 }),
    inner,
    inners: fc.array(inner, { maxLength: 3 }),
  },
  { requiredKeys: ['s'] },
);
const sealed = fc.record({ id: intId, name: text, color, inner, score: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { nil: null }) }, { requiredKeys: ['name', 'color', 'inner'] });

/** Values of every JSON kind, and numbers at the edges of each numeric type. */
const wrongValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 2 ** 53, -(2 ** 53), 1e308, -1e-308, 0.5, -0, '', ' ', '1', 'true', 'null', 'RED ', 'red', '2024-13-01', '==', 'AAA', 'not base64!', [], {}, [null], {
    label: 1,
  }),
  fc.double(),
);

/** Attribute paths of both tables, nested ones included. */
const E_PATHS = [
  'id',
  's',
  'i',
  'f',
  'l',
  'big',
  'flag',
  'day',
  'any',
  'bytes',
  'color',
  'tags',
  'nums',
  'inner',
  'inners',
  'inner.label',
  'inner.n',
  'inner.when',
  'inners.0',
  'inners.0.label',
  'tags.0',
  'nums.0',
  'createdAt',
  'updatedAt',
];
const S_PATHS = ['id', 'name', 'color', 'inner', 'score', 'inner.label', 'inner.n', 'inner.when'];
const FORBIDDEN = ['__proto__', 'constructor', 'prototype'];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Mutation =
  | { kind: 'wrongType'; path: string; value: unknown }
  | { kind: 'drop'; path: string }
  | { kind: 'extra'; at: string; name: string; value: unknown }
  | { kind: 'forbidden'; at: string; name: string; depth: number }
  | { kind: 'deep'; at: string; depth: number; array: boolean }
  | { kind: 'surrogate'; at: string; inKey: boolean; unit: number }
  | { kind: 'huge'; at: string; length: number; char: string };

function mutation(paths: readonly string[]): fc.Arbitrary<Mutation> {
  const path = fc.constantFrom(...paths);
  const at = fc.constantFrom('', ...paths);
  return fc.oneof(
    fc.record({ kind: fc.constant('wrongType' as const), path, value: wrongValue }),
    fc.record({ kind: fc.constant('drop' as const), path }),
    fc.record({ kind: fc.constant('extra' as const), at, name: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('extra', 'ID', 'S', ' s', 's ', '')), value: fc.jsonValue({ maxDepth: 2 }) }),
    fc.record({ kind: fc.constant('forbidden' as const), at, name: fc.constantFrom(...FORBIDDEN), depth: fc.nat({ max: 5 }) }),
    fc.record({ kind: fc.constant('deep' as const), at, depth: fc.integer({ min: 1, max: 200 }), array: fc.boolean() }),
    fc.record({ kind: fc.constant('surrogate' as const), at, inKey: fc.boolean(), unit: fc.integer({ min: 0xd800, max: 0xdfff }) }),
    fc.record({
      kind: fc.constant('huge' as const),
      at: fc.constantFrom('', 's', 'name', 'any', 'tags', 'inner.label'),
      length: fc.oneof(fc.integer({ min: BODY_LIMIT - 400, max: BODY_LIMIT + 200 }), fc.integer({ min: BODY_LIMIT / 2 - 100, max: BODY_LIMIT / 2 + 100 }), fc.constant(3 * BODY_LIMIT)),
      char: fc.constantFrom('x', 'é', '😀'),
    }),
  );
}

/** Sets a property so that JSON.stringify emits it, `__proto__` included (a plain assignment would set the prototype). */
function define(target: object, name: string, value: unknown): void {
  Object.defineProperty(target, name, { value, enumerable: true, configurable: true, writable: true });
}

/** The container at a dotted path (creating objects on the way), or undefined when a leaf is in the way. */
function containerAt(root: { [k: string]: Json }, at: string): { [k: string]: Json } | Json[] | undefined {
  let node: Json = root;
  for (const seg of at ? at.split('.') : []) {
    if (node === null || typeof node !== 'object') return undefined;
    const next: Json | undefined = Array.isArray(node) ? node[Number(seg)] : node[seg];
    if (next === undefined || next === null || typeof next !== 'object') {
      const created: { [k: string]: Json } = {};
      if (Array.isArray(node)) node[Number(seg) || 0] = created;
      else define(node, seg, created);
      node = created;
    } else node = next;
  }
  return node !== null && typeof node === 'object' ? node : undefined;
}

function setAt(root: { [k: string]: Json }, path: string, value: unknown): void {
  const segs = path.split('.');
  const leaf = segs.pop()!;
  const parent = containerAt(root, segs.join('.'));
  if (!parent) return;
  if (Array.isArray(parent)) parent[Number(leaf) || 0] = value as Json;
  else define(parent, leaf, value);
}

function nest(depth: number, array: boolean, leaf: Json): Json {
  let v: Json = leaf;
  for (let i = 0; i < depth; i++) v = array ? [v] : i % 2 ? [v] : { d: v };
  return v;
}

/** Applies mutations to a copy of a valid record and serialises it. */
function mutate(record: object, mutations: readonly Mutation[]): string {
  const body = JSON.parse(JSON.stringify(record)) as { [k: string]: Json };
  for (const m of mutations) {
    switch (m.kind) {
      case 'wrongType':
        setAt(body, m.path, m.value);
        break;
      case 'drop': {
        const segs = m.path.split('.');
        const leaf = segs.pop()!;
        const parent = containerAt(body, segs.join('.'));
        if (parent && !Array.isArray(parent)) delete parent[leaf];
        break;
      }
      case 'extra': {
        const parent = containerAt(body, m.at);
        if (parent && !Array.isArray(parent)) define(parent, m.name, m.value);
        break;
      }
      case 'forbidden': {
        const parent = containerAt(body, m.at);
        if (!parent) break;
        const value = nest(m.depth, false, { polluted: true });
        if (Array.isArray(parent)) {
          const holder = {};
          define(holder, m.name, value);
          parent.push(holder as Json);
        } else define(parent, m.name, value);
        break;
      }
      case 'deep':
        if (m.at === '') define(body, 'deep', nest(m.depth, m.array, 1));
        else setAt(body, m.at, nest(m.depth, m.array, 'leaf'));
        break;
      case 'surrogate': {
        const lone = `a${String.fromCharCode(m.unit)}b`;
        const parent = containerAt(body, m.at);
        if (!parent) break;
        if (Array.isArray(parent)) parent.push(lone);
        else if (m.inKey) define(parent, lone, 1);
        else setAt(body, m.at || 's', lone);
        break;
      }
      case 'huge': {
        const value = m.char.repeat(Math.ceil(m.length / m.char.length));
        if (m.at === 'tags') setAt(body, 'tags', [value]);
        else setAt(body, m.at || 'huge', value);
        break;
      }
    }
  }
  return JSON.stringify(body);
}

/** Percent-encodes any string, lone surrogates included (as the UTF-8 bytes of the code unit, which no decoder accepts). */
function percentEncode(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) out += `%${(0xe0 | (cp >> 12)).toString(16)}%${(0x80 | ((cp >> 6) & 0x3f)).toString(16)}%${(0x80 | (cp & 0x3f)).toString(16)}`.toUpperCase();
    else out += encodeURIComponent(ch);
  }
  return out;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

function req(family: string, method: string, path: string, extra: Partial<FuzzRequest> = {}): FuzzRequest {
  return printable({ family, method, path, ...extra });
}

// ---------------------------------------------------------------------------------------------
// Families
// ---------------------------------------------------------------------------------------------

/** Records (valid, or broken by 1–3 mutations) written by POST, PUT, PATCH and publish. */
const jsonBodies: fc.Arbitrary<FuzzRequest> = fc.oneof(
  fc.tuple(everything, fc.array(mutation(E_PATHS), { maxLength: 3 }), fc.constantFrom('POST', 'PUT', 'PATCH', 'PUBLISH'), stringId).map(([record, ms, verb, id]) => {
    const body = mutate(record, ms);
    const path = verb === 'POST' ? E : `${E}/${percentEncode(id)}`;
    return req('json', verb === 'PUBLISH' ? 'POST' : verb, path, { body, headers: JSON_HEADERS });
  }),
  fc.tuple(sealed, fc.array(mutation(S_PATHS), { maxLength: 3 }), fc.constantFrom('POST', 'PUT', 'PATCH', 'PUBLISH'), intId).map(([record, ms, verb, id]) => {
    const body = mutate(verb === 'POST' && id < 0 ? { ...record, id: undefined } : record, ms);
    const path = verb === 'POST' ? S : `${S}/${id}`;
    return req('json', verb === 'PUBLISH' ? 'POST' : verb, path, { body, headers: JSON_HEADERS });
  }),
  // Arbitrary JSON values as whole bodies (arrays, strings, numbers, null, odd objects).
  fc.tuple(fc.jsonValue({ maxDepth: 4 }), fc.constantFrom(`POST ${E}`, `PUT ${E}/a`, `PATCH ${E}/b`, `POST ${E}/c`, `POST ${S}`, `PUT ${S}/1`, `PATCH ${S}/2`)).map(([value, target]) => {
    const [method, path] = target.split(' ') as [string, string];
    return req('json', method, path, { body: JSON.stringify(value), headers: JSON_HEADERS });
  }),
);

const MALFORMED_TOKENS = [
  '{',
  '}',
  '[',
  ']',
  ':',
  ',',
  '"s"',
  '"a"',
  '1',
  '-',
  '1e999',
  '-0',
  'NaN',
  'Infinity',
  'true',
  'null',
  '"\\ud800"',
  '"\\u00"',
  '"\\x41"',
  '\\',
  '\u0000',
  '"',
  "'x'",
  ' ',
  '\n',
  '\uFEFF',
  '{"__proto__":{"x":1}}',
  '{"constructor":{"prototype":{"x":1}}}',
  '/*c*/',
  '0x10',
];
const rawBody: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  everything.map((r) => JSON.stringify(r)).chain((s) => fc.nat({ max: s.length }).map((n) => s.slice(0, n))),
  fc.uint8Array({ maxLength: 300 }),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.array(fc.constantFrom(...MALFORMED_TOKENS), { maxLength: 30 }).map((t) => t.join('')),
  fc.integer({ min: 1, max: 40_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
  fc.integer({ min: 1, max: 12_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`),
  fc.constantFrom('', ' ', 'null', '"s"', '{"s":"a"}{"s":"b"}', '{"s":"a"} x', '\uFEFF{"s":"bom"}', '{"s":"a","s":"b"}', '{"s":"\\u0000"}'),
);
const contentType = fc.option(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=latin1',
    'application/json;charset=utf-16',
    'APPLICATION/JSON',
    'application/jsonx',
    'application/merge-patch+json',
    'application/vnd.fuzz+json; v=1',
    'text/plain',
    'text/json',
    'application/xml',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/cbor',
    'application/x-msgpack',
    'application/octet-stream',
    '*/*',
    '',
    'json',
    ';',
  ),
  { nil: undefined },
);
/** Bodies that are not (valid) JSON, or not declared as JSON. */
const rawBodies: fc.Arbitrary<FuzzRequest> = fc
  .tuple(rawBody, contentType, fc.constantFrom(`POST ${E}`, `PUT ${E}/a`, `PATCH ${E}/a`, `POST ${E}/a`, `DELETE ${E}/zz`, `POST ${S}`, `PUT ${S}/1`, `PATCH ${S}/1`, `POST ${G}`))
  .map(([body, type, target]) => {
    const [method, path] = target.split(' ') as [string, string];
    return req('raw', method, path, { body, headers: type === undefined ? {} : { 'content-type': type } });
  });

/** Record ids as URL path segments, encoded or raw, valid or not. */
const idSegment: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(percentEncode),
  fc.string({ unit: 'binary', maxLength: 10 }).map(percentEncode),
  fc.tuple(fc.string({ maxLength: 4 }), fc.integer({ min: 0xd800, max: 0xdfff })).map(([s, u]) => percentEncode(s + String.fromCharCode(u))),
  fc.constantFrom('%', '%%', '%Z1', '%E0%A4%A', '%C0%AF', '%FF', '%ED%A0%80', 'a%', '%2', '%u00e9', '%00', '%0A', '%20', '%2F', 'a%2Fb', '%2E', '%2E%2E', '%3F', '%23', '%5F%5Fproto%5F%5F'),
  fc.constantFrom('', '.', '..', '...', 'a/b', '/', '//', '../..', './a', 'a/..', '+', '~', "'", '(', ')', '*', '!', '$', '&', ';', '=', ':', '@', ','),
  fc.constantFrom(
    '-0',
    '0',
    '00',
    '007',
    '1e3',
    '1.5',
    '-1',
    '9007199254740993',
    '2147483648',
    '-2147483649',
    '0x10',
    'NaN',
    'Infinity',
    'null',
    'undefined',
    'true',
    '__proto__',
    'constructor',
    'prototype',
  ),
  fc.integer({ min: 240, max: 1100 }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: 40, max: 200 }).map((n) => percentEncode('é'.repeat(n))),
  fc.string({ unit: fc.constantFrom(..."abc-._~!$&'()*+,;=:@%".split('')), maxLength: 12 }),
);
const ids: fc.Arbitrary<FuzzRequest> = fc
  .tuple(idSegment, fc.constantFrom(E, S), fc.constantFrom('GET', 'HEAD', 'PUT', 'PATCH', 'DELETE', 'POST', 'OPTIONS'), everything, sealed)
  .map(([id, base, method, e, s]) => {
    const path = `${base}/${id}`;
    const record = base === E ? { ...e, id: undefined } : { ...s, id: undefined };
    const body = method === 'PUT' ? JSON.stringify(record) : method === 'PATCH' ? JSON.stringify(base === E ? { s: 'patched' } : { name: 'patched' }) : method === 'POST' ? '{"ping":1}' : undefined;
    return req('ids', method, path, body === undefined ? {} : { body, headers: JSON_HEADERS });
  });

/** Query strings: well-formed pieces of the grammar in random arrangements, and random strings of its alphabet. */
const NAMES = [
  's',
  'i',
  'f',
  'l',
  'big',
  'flag',
  'day',
  'any',
  'bytes',
  'color',
  'tags',
  'nums',
  'inner',
  'inner.label',
  'inner.n',
  'inners.label',
  'createdAt',
  'updatedAt',
  'id',
  'name',
  'score',
  'nope',
  'a.b.c',
  '__proto__',
  'constructor',
  'in%6Eer.label',
  '%ZZ',
  'i.',
  '.i',
];
const OPS = [
  '=',
  '==',
  '===',
  '!=',
  '!==',
  '=gt=',
  '=ge=',
  '=lt=',
  '=le=',
  '=ne=',
  '=ct=',
  '=sw=',
  '=ew=',
  '=eq=',
  '=in=',
  '=foo=',
  '=greater_than=',
  '>',
  '<',
  '>=',
  '<=',
  '%3E',
  '%3C',
  '%3E=',
  '%3c=',
];
const VALUES = [
  '1',
  '-1',
  '0',
  '-0',
  '1.5',
  '1e3',
  'null',
  'true',
  'false',
  'RED',
  'red',
  '2024-01-01',
  '2024-13-45',
  'number:5',
  'date:2024-01-01',
  'string:x',
  'boolean:true',
  'number:x',
  '*',
  'a*',
  '*a',
  '%2A',
  '%ZZ',
  '%',
  '',
  'abc',
  'x'.repeat(400),
  '%F0%9F%98%80',
  '%ED%A0%80',
  '9007199254740993',
  'NaN',
  'Infinity',
  '%00',
  '+1',
  'a+b',
  'AAAA',
  '1,2',
];
const condition = fc.tuple(fc.constantFrom(...NAMES), fc.constantFrom(...OPS), fc.oneof(fc.constantFrom(...VALUES), fc.string({ maxLength: 8 }).map(encodeURIComponent))).map((p) => p.join(''));
const call = fc.oneof(
  fc.array(fc.constantFrom(...NAMES), { maxLength: 3 }).map((a) => `select(${a.join(',')})`),
  fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 2 }).map((a) => `select([${a.join(',')}])`),
  fc.tuple(fc.integer({ min: -2, max: 20 }), fc.option(fc.integer({ min: -2, max: 30 }), { nil: undefined })).map(([a, b]) => `limit(${a}${b === undefined ? '' : `,${b}`})`),
  fc
    .array(
      fc.tuple(fc.constantFrom('', '+', '-', '%2B'), fc.constantFrom(...NAMES)).map((p) => p.join('')),
      { maxLength: 3 },
    )
    .map((a) => `sort(${a.join(',')})`),
  fc.constantFrom('limit(a)', 'limit(5,2)', 'limit(1e3)', 'frob(1)', 'select()', 'sort()', 'select(a{b})', 'limit(', 'select(s', 'sort(,)', 'limit(99999999999999999999)'),
);
const reserved = fc.oneof(
  fc.constantFrom('stream=sse', 'stream=', 'stream=SSE', 'stream=ws', 'retained=false', 'retained=true', 'retained=', 'access_token=x', 'lastEventId=', 'lastEventId=abc', 'stream=sse&stream=sse'),
  fc.nat({ max: 50_000 }).map((n) => `lastEventId=${n}`),
);
const queryItem: fc.Arbitrary<string> = fc.letrec<{ item: string; group: string }>((tie) => ({
  item: fc.oneof({ depthSize: 'small', withCrossShrink: true }, condition, condition, call, reserved, tie('group')),
  group: fc
    .tuple(fc.constantFrom('[', '('), fc.array(tie('item'), { minLength: 0, maxLength: 3 }), fc.constantFrom('&', '|'), fc.constantFrom(']', ')', ''))
    .map(([open, items, conn, close]) => `${open}${items.join(conn)}${close}`),
})).item;
const ALPHABET = '=&|[]()!*,+-._~%'.split('').concat(['s', 'i', 'a', '1', '0', 'x', 'eq', 'gt', 'sse', 'stream', 'limit', 'select', 'sort', '2F', 'ZZ']);
const queryString = fc.oneof(
  fc
    .tuple(fc.array(queryItem, { minLength: 1, maxLength: 5 }), fc.array(fc.constantFrom('&', '|', '&&', '||', '&|', ''), { minLength: 5, maxLength: 5 }))
    .map(([items, conns]) => items.map((item, i) => (i === 0 ? item : conns[i]! + item)).join('')),
  fc.array(fc.constantFrom(...ALPHABET), { maxLength: 40 }).map((a) => a.join('')),
  fc.integer({ min: 30, max: 40 }).map((n) => `${'['.repeat(n)}s=a${']'.repeat(n)}`),
);
const queries: fc.Arbitrary<FuzzRequest> = fc
  .tuple(queryString, fc.constantFrom(`GET ${E}`, `GET ${E}`, `GET ${S}`, `GET ${E}/`, `GET ${E}/a`, `GET ${S}/1`, `HEAD ${E}`, `DELETE ${E}`, `DELETE ${S}`), fc.boolean())
  .map(([q, target, accept]) => {
    const [method, path] = target.split(' ') as [string, string];
    return req('query', method, `${path}?${q}`, accept && method === 'GET' ? { headers: { accept: 'text/event-stream' } } : {});
  });

/**
 * Cursors: numbers (known, future, huge), odd numerals, and random text, as a header and as a
 * parameter. `{head-k}` is replaced by the change-log head minus k when the request is sent
 * ({@link resolveHead}): a cursor the log holds replays from there, and near the head such replays
 * stay short. (A replay of the whole log, with records up to the body limit, is megabytes per
 * stream; `0` still asks for one now and then.)
 */
const cursorText = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(fc.constantFrom('', ' ', '\t', '000', '+', '-'), fc.nat({ max: 40 }), fc.constantFrom('', ' ', '.0', 'x', ',1')).map(([pre, k, post]) => `${pre}{head-${k}}${post}`),
  },
  { weight: 1, arbitrary: fc.nat({ max: 30_000 }).map((n) => String(n + 5_000)) },
  { weight: 1, arbitrary: fc.integer({ max: -1 }).map(String) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      '0',
      '-0',
      '-1',
      '+1',
      '1.0',
      '1e3',
      '0x10',
      '99999999999999999999',
      '9007199254740993',
      '999999999999999',
      '1000000000000000',
      'NaN',
      'null',
      'abc',
      '1,2',
      '1;2',
      '१२',
      '１２',
    ),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 10 }) },
);

/** Replaces `{head-k}` (also percent-encoded) in a request's path, headers and body with head − k (at least 0). */
function resolveHead(r: FuzzRequest, head: number): FuzzRequest {
  const sub = (s: string) => s.replace(/(?:\{|%7B)head-(\d+)(?:\}|%7D)/gi, (_m, k: string) => String(Math.max(0, head - Number(k))));
  if (!/head-\d/.test(`${r.path}${JSON.stringify(r.headers ?? {})}${typeof r.body === 'string' ? r.body : ''}`)) return r;
  return printable({
    ...r,
    path: sub(r.path),
    ...(r.headers ? { headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, sub(v)])) } : {}),
    ...(typeof r.body === 'string' ? { body: sub(r.body) } : {}),
  });
}
/** A header value undici will send: no control characters, nothing past Latin-1. */
const headerSafe = (s: string) => [...s].filter((c) => c === '\t' || (c >= ' ' && c !== '\x7f' && c <= '\xff')).join('');
/**
 * Stream requests. A cursor the log does not know (or none) starts with the retained data, whole
 * collections of records up to the body limit in size: the collection streams here skip it or
 * limit it, so 800 streams stay cheap; the record streams carry one record at most.
 */
const lastEventIds: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    cursorText,
    cursorText,
    fc.constantFrom('header', 'query', 'both'),
    fc.constantFrom(
      `${E}?stream=sse&retained=false`,
      `${E}?limit(3)&stream=sse`,
      `${E}/a?stream=sse`,
      `${S}?stream=sse&color=RED&limit(2)`,
      `${E}?i=gt=0&limit(4)&stream=sse`,
      `${E}?retained=false`,
      `${E}/b`,
    ),
    fc.boolean(),
  )
  .map(([h, q, where, base, accept]) => {
    const headers: { [k: string]: string } = {};
    if (where !== 'query') headers['last-event-id'] = headerSafe(h);
    if (accept || !base.includes('stream=sse')) headers.accept = 'text/event-stream';
    const path = where === 'header' ? base : `${base}${base.includes('?') ? '&' : '?'}lastEventId=${percentEncode(q)}`;
    return req('lastEventId', 'GET', path, { headers });
  });

/** Valid GraphQL operations of the fuzz schema, the seeds of the mutated documents. */
const DOCUMENTS = [
  '{ everything(limit: 3) { id s i tags inner { label } } }',
  '{ everything(id: "a") { id s day big bytes any } }',
  '{ sealed(limit: 2, offset: 1, sort: ["-score"]) { id name color inner { label n } } }',
  'query Q($id: ID) { everything(id: $id) { id } }',
  'query Q($s: String, $l: Int) { everything(s: $s, limit: $l) { id s } }',
  'mutation { createEverything(data: { s: "g", i: 1, color: RED, inner: { label: "x" }, tags: ["t"] }) { id s } }',
  'mutation M($d: EverythingInput!) { createEverything(data: $d) { id s } }',
  'mutation M($id: ID!, $d: EverythingPatch!) { updateEverything(id: $id, data: $d) { id } }',
  'mutation M($id: ID!, $d: SealedInput!) { replaceSealed(id: $id, data: $d) { id name } }',
  'mutation { replaceSealed(id: "1", data: { name: "n", color: BLUE, inner: { label: "l" } }) { id } }',
  'mutation { deleteEverything(id: "b") }',
  'mutation { publishEverything(id: "a", message: { x: 1 }) }',
  'mutation M($m: JSON!) { publishSealed(id: "1", message: $m) }',
  '{ __schema { types { name } } }',
  '{ __typename }',
  'subscription { everything { id } }',
  'subscription S($c: String) { everythingEvents(lastEventId: $c) { type id cursor } }',
];
const GQL_TOKENS = [
  '{',
  '}',
  '(',
  ')',
  '[',
  ']',
  ':',
  '$',
  '!',
  '@',
  '"',
  '...',
  '#',
  ',',
  '|',
  '=',
  'query',
  'mutation',
  'subscription',
  'fragment',
  'on',
  '__proto__',
  'constructor',
  'null',
  '1e999',
  '"\\ud800"',
  '-',
  '0x1',
  'limit: -1',
  'limit: 99999999999',
  'offset: -5',
  'sort: ["nope"]',
  'sort: ["+s", "-i"]',
  'id: null',
  'id: 1.5',
  '@skip(if: true)',
  '@include(if: $x)',
  '$x',
  'data: {}',
  'data: null',
  'everything',
  'sealed',
  'id',
  's',
  '"""',
  '\\u0000',
];
type Edit = { kind: 'delete' | 'insert' | 'duplicate'; at: number; length: number; token: string };
const edit: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constantFrom('delete', 'insert', 'insert', 'duplicate'),
  at: fc.nat(),
  length: fc.integer({ min: 1, max: 12 }),
  token: fc.constantFrom(...GQL_TOKENS),
});
function applyEdits(doc: string, edits: readonly Edit[]): string {
  let out = doc;
  for (const e of edits) {
    const at = out.length === 0 ? 0 : e.at % (out.length + 1);
    if (e.kind === 'delete') out = out.slice(0, at) + out.slice(at + e.length);
    else if (e.kind === 'insert') out = `${out.slice(0, at)} ${e.token} ${out.slice(at)}`;
    else out = out.slice(0, at) + out.slice(at, at + e.length) + out.slice(at);
  }
  return out;
}
const variables = fc.oneof(
  fc.constant(undefined),
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(fc.constantFrom('id', 'd', 'm', 's', 'l', 'c', 'x', '__proto__'), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
  fc.record({ id: stringId, d: fc.oneof(everything, sealed, wrongValue), m: fc.jsonValue({ maxDepth: 2 }), c: cursorText }),
);
const graphql: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.constantFrom(...DOCUMENTS),
    fc.array(edit, { maxLength: 4 }),
    variables,
    fc.option(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('Q', 'M', 'S'), fc.integer()), { nil: undefined }),
    fc.constantFrom('post', 'post', 'post', 'get', 'post-text'),
    fc.constantFrom('application/json', 'application/graphql-response+json', 'application/json, text/event-stream', 'text/event-stream', '*/*'),
  )
  .map(([doc, edits, vars, operationName, transport, accept]) => {
    const query = applyEdits(doc, edits);
    const headers: { [k: string]: string } = { accept };
    if (transport === 'get') {
      const params = [`query=${percentEncode(query)}`];
      if (vars !== undefined) params.push(`variables=${percentEncode(JSON.stringify(vars))}`);
      if (operationName !== undefined) params.push(`operationName=${percentEncode(String(operationName))}`);
      return req('graphql', 'GET', `${G}?${params.join('&')}`, { headers });
    }
    const body = JSON.stringify({ query, ...(vars !== undefined ? { variables: vars } : {}), ...(operationName !== undefined ? { operationName } : {}) });
    headers['content-type'] = transport === 'post-text' ? 'text/plain' : 'application/json';
    return req('graphql', 'POST', G, { headers, body });
  });

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

/** Runs per family; × BATCH requests each. */
const FAMILIES: Array<[name: string, arbitrary: fc.Arbitrary<FuzzRequest>, runs: number]> = [
  ['json bodies', jsonBodies, 110],
  ['raw bodies', rawBodies, 45],
  ['ids', ids, 45],
  ['query strings', queries, 60],
  ['Last-Event-ID', lastEventIds, 25],
  ['GraphQL', graphql, 36],
];
const PLANNED = FAMILIES.reduce((n, [, , runs]) => n + runs * BATCH, 0);

test(`fuzz: ${PLANNED} bad and odd requests never get a 5xx, never crash the server, never store a bad record`, { timeout: 300_000 }, async (t) => {
  const schemas = schemaDir({ 'fuzz.graphql': FUZZ_SDL });
  const s = await startServer({ schemas, bodyLimit: BODY_LIMIT });
  // A request the server never answers fails its batch (as "the request failed") instead of hanging the run.
  const agent = new Agent({ connections: 16, pipelining: 1, keepAliveTimeout: 10_000, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
  t.after(async () => {
    await agent.close();
    await s.close();
    rmSync(schemas, { recursive: true, force: true });
  });
  t.diagnostic(`seed ${SEED} (FUZZ_SEED=${SEED} reproduces this run)`);
  const origin = s.url;
  const started = Date.now();
  let sent = 0;
  const statuses = new Map<number, number>();

  for (const [index, [name, arbitrary, runs]] of FAMILIES.entries()) {
    const familyStart = Date.now();
    const before = sent;
    await fc.assert(
      fc.asyncProperty(fc.array(arbitrary, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        const answers = await Promise.all(
          batch.map(async (generated): Promise<[FuzzRequest, FuzzResponse | Error]> => {
            const r = resolveHead(generated, s.server.app.store.changeLog.head());
            try {
              return [r, await sendRaw(agent, origin, r)];
            } catch (err) {
              return [r, err as Error];
            } finally {
              sent++;
            }
          }),
        );
        const failures: string[] = [];
        for (const [r, answer] of answers) {
          if (answer instanceof Error) {
            failures.push(`${fc.stringify(r)}\n  → the request failed: ${answer.message}`);
            continue;
          }
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          try {
            checkResponse(r, answer);
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
        const health = await sendRaw(agent, origin, req('health', 'GET', '/health'));
        if (health.status !== 200 || JSON.parse(health.text).status !== 'ok') failures.push(`GET /health → ${health.status} ${health.text}`);
        if (failures.length > 0) throw new Error(`${failures.length} of ${batch.length} answers broke the contract:\n${failures.slice(0, 5).join('\n')}`);
      }),
      // No shrinking: a batch of 32 shrinks slowly and the error already names the failing request;
      // the seed and path in fast-check's report replay the batch.
      { seed: SEED + index, numRuns: runs, endOnFailure: true, includeErrorInReport: true },
    );
    t.diagnostic(`${name}: ${sent - before} requests in ${Date.now() - familyStart} ms`);
  }
  const elapsed = Date.now() - started;
  t.diagnostic(`${sent} requests in ${elapsed} ms; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
  assert.ok(sent >= 10_000, `at least 10,000 requests were sent (${sent})`);

  // Nothing reached Object.prototype, and the store is whole.
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeBefore, 'Object.prototype gained properties');
  assert.equal(({} as { polluted?: unknown }).polluted, undefined, 'Object.prototype polluted');
  const summary = checkStore(s.server.app.store);
  t.diagnostic(`store after the run: ${summary.records} records, ${summary.indexEntries} index entries, ${summary.changes} changes (${summary.updates} record writes)`);
  // The run must have written records for the store check to mean anything (what remains depends
  // on the fuzzed collection DELETEs; every write is in the log, checked above).
  assert.ok(summary.updates >= 100, `valid requests wrote records (${summary.updates} record writes)`);
  const final = await sendRaw(agent, origin, req('health', 'GET', '/health'));
  assert.equal(final.status, 200);
});

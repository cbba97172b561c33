/**
 * The error catalogue: `toAppError` maps anything thrown to one code and status, and the README's
 * error table lists exactly the codes of ERROR_STATUS with the same statuses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { AppError, ERROR_STATUS, toAppError, type ErrorCode } from '../../src/errors.ts';

const README = resolve(import.meta.dirname, '../../README.md');

/** Codes that only stop start-up (or a command) and never reach a client; the README shows their status as `—`. */
const START_UP_ONLY = ['SCHEMA_INVALID', 'CONFIG_INVALID', 'TYPES_INVALID'];

/** The rows of the README's error table: code → status text. */
function readmeErrorTable(): Map<string, string> {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('<!-- error-codes:start -->');
  const end = text.indexOf('<!-- error-codes:end -->');
  assert.ok(start >= 0 && end > start, 'README has the error-codes markers');
  const rows = new Map<string, string>();
  for (const line of text.slice(start, end).split('\n')) {
    const m = /^\|\s*`([A-Z_]+)`\s*\|\s*([^|]+?)\s*\|\s*(.+?)\s*\|\s*$/.exec(line);
    if (!m) continue;
    assert.ok(!rows.has(m[1]!), `${m[1]} is listed twice`);
    assert.ok(m[3]!.length > 3, `${m[1]} has an explanation`);
    rows.set(m[1]!, m[2]!);
  }
  return rows;
}

test('the README lists exactly the error codes, with their statuses', () => {
  const rows = readmeErrorTable();
  assert.deepEqual([...rows.keys()].sort(), Object.keys(ERROR_STATUS).sort());
  for (const [code, status] of rows) {
    if (START_UP_ONLY.includes(code)) assert.equal(status, '—', `${code} is start-up only`);
    else assert.equal(status, String(ERROR_STATUS[code as ErrorCode]), `${code} status`);
  }
  const dashed = [...rows].filter(([, s]) => s === '—').map(([c]) => c);
  assert.deepEqual(dashed.sort(), [...START_UP_ONLY].sort());
});

test('AppError takes its status from the code and renders the one JSON shape', () => {
  const plain = new AppError('NOT_FOUND', 'message msg-9 not found');
  assert.equal(plain.statusCode, 404);
  assert.deepEqual(plain.toJSON(), { statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: 'message msg-9 not found' });
  assert.equal('details' in plain.toJSON(), false);

  const detailed = new AppError('VALIDATION_FAILED', 'title: is required', { details: [{ path: 'title', message: 'is required' }], headers: { x: '1' } });
  assert.deepEqual(detailed.toJSON(), {
    statusCode: 400,
    code: 'VALIDATION_FAILED',
    error: 'Bad Request',
    message: 'title: is required',
    details: [{ path: 'title', message: 'is required' }],
  });
  assert.deepEqual(detailed.headers, { x: '1' });
  // Every status has a reason phrase.
  for (const code of Object.keys(ERROR_STATUS) as ErrorCode[]) {
    assert.notEqual(new AppError(code, 'x').toJSON().error, 'Error', code);
  }
});

test('toAppError passes AppErrors through unchanged', () => {
  const err = new AppError('CONFLICT', 'exists');
  assert.equal(toAppError(err), err);
});

test('toAppError maps fastify client errors by status, JSON parse errors to INVALID_JSON', () => {
  const fst = (statusCode: number, code: string, message: string) => Object.assign(new Error(message), { statusCode, code });
  const cases: Array<[Error, ErrorCode, number]> = [
    [fst(400, 'FST_ERR_CTP_INVALID_JSON_BODY', "Body is not valid JSON but content-type is set to 'application/json'"), 'INVALID_JSON', 400],
    [fst(400, 'FST_ERR_CTP_EMPTY_JSON_BODY', "Body cannot be empty when content-type is set to 'application/json'"), 'INVALID_JSON', 400],
    [fst(413, 'FST_ERR_CTP_BODY_TOO_LARGE', 'Request body is too large'), 'PAYLOAD_TOO_LARGE', 413],
    [fst(415, 'FST_ERR_CTP_INVALID_MEDIA_TYPE', 'Unsupported Media Type'), 'UNSUPPORTED_MEDIA_TYPE', 415],
    [fst(404, 'FST_ERR_NOT_FOUND', 'Not Found'), 'ROUTE_NOT_FOUND', 404],
    [fst(405, 'X', 'no'), 'METHOD_NOT_ALLOWED', 405],
    [fst(400, 'FST_ERR_BAD_URL', "'/%E0' is not a valid url component"), 'BAD_REQUEST', 400],
    // A client status without a code of its own is a plain BAD_REQUEST, never a 5xx.
    [fst(418, 'X', "I'm a teapot"), 'BAD_REQUEST', 400],
  ];
  for (const [input, code, status] of cases) {
    const out = toAppError(input);
    assert.equal(out.code, code, input.message);
    assert.equal(out.statusCode, status, input.message);
    assert.equal(out.cause, input);
  }
  assert.match(toAppError(cases[0]![0]).message, /not valid JSON/);
});

test('toAppError maps a full disk or LMDB map to STORAGE_FULL', () => {
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });
  assert.equal(toAppError(enospc).code, 'STORAGE_FULL');
  assert.equal(toAppError(enospc).statusCode, 507);
  // lmdb-js sets the numeric LMDB/errno code and mdb_strerror's message.
  const mapFull = Object.assign(new Error('MDB_MAP_FULL: Environment mapsize limit reached'), { code: -30792 });
  assert.equal(toAppError(mapFull).code, 'STORAGE_FULL');
  const lmdbNoSpace = Object.assign(new Error('No space left on device'), { code: 28 });
  assert.equal(toAppError(lmdbNoSpace).code, 'STORAGE_FULL');
  assert.equal(toAppError(Object.assign(new Error('Disk quota exceeded'), { code: 'EDQUOT' })).code, 'STORAGE_FULL');
});

test('anything else is INTERNAL with a masked message and the original as cause', () => {
  for (const thrown of [new Error('secret path /etc/x'), new TypeError('x is undefined'), 'a string', 42, null, undefined, { statusCode: 503 }, { statusCode: 500, message: 'db' }]) {
    const out = toAppError(thrown);
    assert.equal(out.code, 'INTERNAL');
    assert.equal(out.statusCode, 500);
    assert.equal(out.message, 'internal server error');
    assert.equal(out.cause, thrown);
    assert.deepEqual(Object.keys(out.toJSON()).sort(), ['code', 'error', 'message', 'statusCode']);
  }
});

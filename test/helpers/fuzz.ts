/**
 * Shared pieces of the fuzz and fault suites (issue #5, points 4 and 5): raw HTTP requests over a
 * keep-alive undici agent (the path is sent byte for byte, not normalised by `new URL`), the checks
 * every answer must pass, the store invariants checked after a run, a child's resident memory, and
 * running the CLI as an unprivileged user.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import type { Agent } from 'undici';
import { ERROR_STATUS } from '../../src/errors.ts';
import { buildValidators } from '../../src/schema/validators.ts';
import type { Key, Record as StoredRecord } from '../../src/schema/model.ts';
import { indexKeysOf, type IndexKey } from '../../src/store/indexes.ts';
import type { Store } from '../../src/store/store.ts';
import { cliEnv } from './cli-env.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * The fuzzed schema: every scalar type, an enum, a sealed nested type (alone and in a list),
 * lists, server-set times, indexes of each kind, and a sealed table with an Int key.
 */
export const FUZZ_SDL = `
enum Color {
  RED
  GREEN
  BLUE
}

type Inner @sealed {
  label: String!
  n: Int
  when: Date
}

type Everything @table(database: "fuzz") @export(name: "everything") {
  id: ID! @primaryKey
  s: String! @indexed
  i: Int @indexed
  f: Float
  l: Long @indexed
  big: BigInt @indexed
  flag: Boolean @indexed
  day: Date @indexed
  any: Any
  bytes: Bytes
  color: Color @indexed
  tags: [String!] @indexed
  nums: [Int]
  inner: Inner
  inners: [Inner!]
  createdAt: Long @createdTime
  updatedAt: Date @updatedTime
}

type Sealed @table(database: "fuzz") @export(name: "sealed") @sealed {
  id: Int @primaryKey
  name: String! @indexed
  color: Color!
  inner: Inner!
  score: Float @indexed
}
`;

/** One request as the fuzzer sends it: the path goes out exactly as written. */
export interface FuzzRequest {
  family: string;
  method: string;
  path: string;
  headers?: { [name: string]: string };
  body?: string | Uint8Array;
}

export interface FuzzResponse {
  status: number;
  contentType: string;
  text: string;
  /** The answer was an event stream (aborted after its first bytes). */
  eventStream: boolean;
}

/** Shortens long bodies in fast-check's counterexample reports. */
export function printable(req: FuzzRequest): FuzzRequest {
  const show = () => {
    const body = req.body === undefined ? '' : typeof req.body === 'string' ? req.body : `<${req.body.length} bytes>`;
    const shown = body.length > 400 ? `${body.slice(0, 200)}…<${body.length} chars>…${body.slice(-100)}` : body;
    const path = req.path.length > 400 ? `${req.path.slice(0, 300)}…<${req.path.length} chars>` : req.path;
    return `${req.method} ${JSON.stringify(path)} ${JSON.stringify(req.headers ?? {})} ${JSON.stringify(shown)}`;
  };
  return Object.assign(req, { [fc.toStringMethod]: show });
}

/** How long a stream answer is read before the client aborts it. */
const STREAM_READ_MS = 40;

/**
 * Sends one request through `agent` to `origin` with the raw path. Event-stream answers are read
 * for a moment and then aborted (the server must take a client that leaves at once).
 */
export async function sendRaw(agent: Agent, origin: string, req: FuzzRequest): Promise<FuzzResponse> {
  const controller = new AbortController();
  const res = await agent.request({
    origin,
    path: req.path,
    method: req.method as 'GET',
    headers: req.headers ?? {},
    ...(req.body !== undefined ? { body: req.body } : {}),
    signal: controller.signal,
  });
  const contentType = String(res.headers['content-type'] ?? '');
  if (contentType.startsWith('text/event-stream')) {
    let text = '';
    await new Promise<void>((done) => {
      const timer = setTimeout(done, STREAM_READ_MS);
      res.body.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
      });
      res.body.on('error', () => {
        clearTimeout(timer);
        done();
      });
      res.body.on('end', () => {
        clearTimeout(timer);
        done();
      });
    });
    controller.abort();
    res.body.destroy();
    return { status: res.statusCode, contentType, text, eventStream: true };
  }
  const text = await res.body.text();
  return { status: res.statusCode, contentType, text, eventStream: false };
}

/** Codes graphql-yoga and graphql-js themselves put in `extensions.code` for request errors. */
const GRAPHQL_CODES = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_REQUEST', 'BAD_USER_INPUT', 'OPERATION_RESOLUTION_FAILURE']);

function describe(req: FuzzRequest, res: FuzzResponse): string {
  const shown = (req as unknown as { [fc.toStringMethod]?: () => string })[fc.toStringMethod]?.() ?? `${req.method} ${req.path}`;
  return `[${req.family}] ${shown}\n  → ${res.status} ${res.contentType} ${res.text.slice(0, 500)}`;
}

/** The one REST error shape (SPEC §3) for a 4xx, with a code from ERROR_STATUS and its status. */
export function assertErrorShape(body: unknown, status: number, label: string): void {
  assert.ok(body !== null && typeof body === 'object' && !Array.isArray(body), `error body is not an object: ${label}`);
  const b = body as { statusCode?: unknown; code?: unknown; error?: unknown; message?: unknown };
  assert.equal(b.statusCode, status, `statusCode must equal the HTTP status: ${label}`);
  assert.ok(typeof b.code === 'string' && Object.hasOwn(ERROR_STATUS, b.code), `code must be one of ERROR_STATUS: ${label}`);
  assert.equal(ERROR_STATUS[b.code as keyof typeof ERROR_STATUS], status, `the code's status must be the HTTP status: ${label}`);
  assert.ok(typeof b.error === 'string' && b.error.length > 0, `error must be a reason phrase: ${label}`);
  assert.ok(typeof b.message === 'string' && b.message.length > 0, `message must name the problem: ${label}`);
}

/**
 * What every answer must satisfy: no 5xx; a 4xx in the one JSON error shape (REST), or GraphQL's
 * `errors` with known codes and never a masked internal error (GraphQL endpoints); JSON bodies
 * that are JSON.
 */
export function checkResponse(req: FuzzRequest, res: FuzzResponse): void {
  const label = describe(req, res);
  assert.ok(res.status < 500, `5xx: ${label}`);
  assert.ok(res.status >= 200, `unexpected status: ${label}`);
  if (req.method === 'HEAD' || res.eventStream || res.status === 204 || res.status === 304) return;
  const isJson = /^application\/(?:[\w.+-]+\+)?json/.test(res.contentType);
  if (res.status >= 400) assert.ok(isJson, `a 4xx must be JSON: ${label}`);
  if (!isJson) return;
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    assert.fail(`a JSON content type with a body that is not JSON: ${label}`);
  }
  const graphql = /^\/[^/?]+\/graphql(?:[/?]|$)/.test(req.path);
  if (graphql && body && typeof body === 'object' && 'errors' in body) {
    const errors = (body as { errors: unknown }).errors;
    assert.ok(Array.isArray(errors) && errors.length > 0, `GraphQL errors must be a non-empty list: ${label}`);
    for (const e of errors as Array<{ message?: unknown; extensions?: { code?: unknown } }>) {
      assert.ok(typeof e.message === 'string' && e.message.length > 0, `GraphQL error without a message: ${label}`);
      assert.notEqual(e.message, 'Unexpected error.', `a masked internal GraphQL error: ${label}`);
      const code = e.extensions?.code;
      if (code !== undefined) {
        assert.ok(typeof code === 'string' && (GRAPHQL_CODES.has(code) || Object.hasOwn(ERROR_STATUS, code)), `unknown GraphQL error code ${String(code)}: ${label}`);
        assert.notEqual(code, 'INTERNAL', `an internal error behind a GraphQL answer: ${label}`);
      }
    }
    return;
  }
  if (res.status >= 400) assertErrorShape(body, res.status, label);
}

/** Normalises what LMDB cannot keep (a lone surrogate, cut off by index-key truncation) as it stores it. */
function storedForm(k: IndexKey): IndexKey {
  return typeof k === 'string' ? k.replace(/\p{Cs}/gu, '\uFFFD') : k;
}

export interface StoreSummary {
  records: number;
  indexEntries: number;
  changes: number;
  /** Change-log entries that wrote a record (create, replace, patch). */
  updates: number;
}

/**
 * Checks the store as a whole, reading LMDB directly: every record validates with its table's
 * validators and is already in its stored form, sits under its own key, and carries the version of
 * the last change that wrote it; every index entry points at a record that has that value and every
 * indexed value of every record is in its index; the change log is gap-free from 1 to the head, its
 * update entries validate, and replaying it gives exactly the stored tables.
 */
export function checkStore(store: Store): StoreSummary {
  const summary: StoreSummary = { records: 0, indexEntries: 0, changes: 0, updates: 0 };
  const replayed = new Map<string, Map<Key, { value: StoredRecord; seq: number }>>();
  const validators = new Map([...store.tables.values()].map((h) => [h.id, buildValidators(h.def)]));

  const head = store.changeLog.head();
  assert.equal(store.changeLog.prunedThrough(), 0, 'nothing was pruned in this run');
  let expected = 1;
  for (const entry of store.changeLog.iterateAfter(0)) {
    assert.equal(entry.seq, expected, `change log gap: expected seq ${expected}, found ${entry.seq}`);
    expected++;
    summary.changes++;
    const table = replayed.get(entry.table) ?? new Map<Key, { value: StoredRecord; seq: number }>();
    replayed.set(entry.table, table);
    const v = validators.get(entry.table);
    assert.ok(v, `change ${entry.seq} names an unknown table ${entry.table}`);
    if (entry.op === 'update') {
      summary.updates++;
      assert.ok(entry.value, `update ${entry.seq} without a value`);
      assert.doesNotThrow(() => v.validateRecord(entry.value), `update ${entry.seq} (${entry.table} ${String(entry.key)}) holds an invalid record: ${JSON.stringify(entry.value).slice(0, 300)}`);
      table.set(entry.key, { value: entry.value, seq: entry.seq });
    } else if (entry.op === 'delete') {
      assert.ok(table.has(entry.key), `delete ${entry.seq} of ${entry.table} ${String(entry.key)}, which the log never created`);
      table.delete(entry.key);
    } else {
      assert.equal(entry.op, 'publish', `change ${entry.seq} has an unknown op`);
    }
  }
  assert.equal(expected - 1, head, 'the change log ends at its head');

  for (const handle of store.tables.values()) {
    const v = validators.get(handle.id)!;
    const pk = handle.def.primaryKey;
    const fromLog = replayed.get(handle.id) ?? new Map();
    let count = 0;
    for (const { key, value, version } of handle.records.getRange({ versions: true })) {
      count++;
      summary.records++;
      const where = `${handle.id} ${JSON.stringify(key)}`;
      let normalised: StoredRecord | undefined;
      assert.doesNotThrow(() => (normalised = v.validateRecord(value)), `stored record ${where} is invalid: ${JSON.stringify(value).slice(0, 300)}`);
      assert.deepEqual(normalised, value, `stored record ${where} is not in its stored form`);
      assert.equal(value[pk], key, `stored record ${where} holds another key`);
      const logged = fromLog.get(key);
      assert.ok(logged, `stored record ${where} has no update in the change log (or was deleted there)`);
      assert.deepEqual(value, logged.value, `stored record ${where} differs from its last update in the change log`);
      assert.equal(version, logged.seq, `stored record ${where} carries another version than its last change`);
      for (const index of handle.indexes) {
        for (const k of indexKeysOf(index.field, value)) {
          assert.ok(index.db.doesExist(k as Key, key), `record ${where}: ${index.field.name}=${JSON.stringify(k)} is missing from its index`);
        }
      }
    }
    assert.equal(count, fromLog.size, `${handle.id}: the change log replays to ${fromLog.size} records, the table holds ${count}`);
    for (const index of handle.indexes) {
      for (const { key: k, value: key } of index.db.getRange({})) {
        summary.indexEntries++;
        const record = handle.records.get(key as Key);
        const where = `${handle.id} index ${index.field.name} ${JSON.stringify(k)} → ${JSON.stringify(key)}`;
        assert.ok(record, `${where}: points at no record`);
        const has = indexKeysOf(index.field, record).some((own) => Object.is(storedForm(own), k) || storedForm(own) === k);
        assert.ok(has, `${where}: the record does not hold that value (${JSON.stringify(record[index.field.name])?.slice(0, 200)})`);
      }
    }
  }
  return summary;
}

/** Resident memory of a process from /proc (kB): all of it, and the anonymous part (heap, buffers; not mapped files). */
export function memoryOf(pid: number): { rssKb: number; anonKb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: field('VmRSS'), anonKb: field('RssAnon') };
}

/**
 * How to run a command as an unprivileged user when this process is root (file modes do not stop
 * root): `setpriv` or `runuser` as `nobody`; `[]` when not root; `undefined` when neither exists.
 */
export function unprivileged(): string[] | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return [];
  const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  if (has('setpriv')) return ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'];
  if (has('runuser')) return ['runuser', '-u', 'nobody', '--'];
  return undefined;
}

export interface CliRun {
  code: number | string;
  output: string;
}

/**
 * Runs `tablecast start` (or another command) to completion, optionally behind a wrapper such as
 * {@link unprivileged}; killed after `timeoutMs` if it does not exit (a start that succeeds). `cwd`:
 * a checkout to run it from (see `asUnprivileged` in `unprivileged.ts`).
 */
export function runCli(args: string[], wrapper: string[] = [], timeoutMs = 20_000, cwd = ROOT): Promise<CliRun> {
  const command = [...wrapper, process.execPath, '--import', 'tsx', 'src/cli.ts', ...args];
  const proc = spawn(command[0]!, command.slice(1), { cwd, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d) => (output += d));
  proc.stderr.on('data', (d) => (output += d));
  return new Promise((done) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      done({ code: code ?? signal ?? -1, output });
    });
  });
}

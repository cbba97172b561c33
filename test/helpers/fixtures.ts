/**
 * Shared fixtures for the REST tests: the shipped schemas, a server per test closed in `t.after`,
 * and a snapshot of everything a request could have changed (records and change-log head).
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import type { ServerOptions } from '../../src/server.ts';
import { MESSAGE_SDL, schemaDir, startServer, type Res, type TestServer } from './server.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
/** `schemas/shop.graphql` as shipped: indexes, timestamps, an enum, a nested type, a list, an Int key. */
export const SHOP_SDL = readFileSync(resolve(ROOT, 'schemas/shop.graphql'), 'utf8');

/**
 * Starts a server over temp schema and data directories, closed and removed after the test.
 * @example const s = await serve(t, { 'shop.graphql': SHOP_SDL })
 */
export async function serve(t: TestContext, files: Record<string, string> = { 'message.graphql': MESSAGE_SDL, 'shop.graphql': SHOP_SDL }, options: ServerOptions = {}): Promise<TestServer> {
  const schemas = schemaDir(files);
  const s = await startServer({ schemas, ...options });
  t.after(async () => {
    await s.close();
    rmSync(schemas, { recursive: true, force: true });
  });
  return s;
}

/** Asserts the one error shape, its status and code; returns the body. */
export function assertError(res: Res, status: number, code: string, what = ''): { statusCode: number; code: string; error: string; message: string; details?: unknown } {
  const label = `${what} → ${res.status} ${res.text.slice(0, 300)}`;
  assert.equal(res.status, status, label);
  assert.match(String(res.headers['content-type']), /^application\/json/, label);
  assert.equal(typeof res.body, 'object', label);
  const keys = Object.keys(res.body).filter((k) => k !== 'details');
  assert.deepEqual(keys.sort(), ['code', 'error', 'message', 'statusCode'], label);
  assert.equal(res.body.statusCode, status, label);
  assert.equal(res.body.code, code, label);
  assert.equal(typeof res.body.error, 'string', label);
  assert.ok(typeof res.body.message === 'string' && res.body.message.length > 0, label);
  return res.body;
}

/** Everything stored plus the change-log head, to prove a request changed nothing. */
export function snapshot(s: TestServer): { head: number; tables: Record<string, unknown[]> } {
  const tables: Record<string, unknown[]> = {};
  // Read straight from LMDB: synchronous, so callers need not await (searches are asynchronous).
  for (const [id, service] of s.server.app.services) tables[id] = [...service.handle.records.getRange({})].map((e) => e.value);
  return { head: s.server.app.store.changeLog.head(), tables };
}

/**
 * A tsconfig.json in `dir` that type-checks `consumer.ts` as an app would (NodeNext, strict), with
 * this checkout's @types: for the tests that compile a consumer of the package.
 */
export function writeConsumerTsconfig(dir: string): void {
  const compilerOptions = {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
    typeRoots: [join(ROOT, 'node_modules/@types')],
  };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
}

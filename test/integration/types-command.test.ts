/**
 * `tablecast types`: the real command line (dist/cli.js) writes declarations for the example
 * schemas and for a schema of every kind of attribute, and TypeScript 7 (node_modules/.bin/tsc)
 * checks consumers of `createClient<Schema>` from the built `tablecast/client` against them: a
 * correct one passes (its `@ts-expect-error` lines must each meet an error), one with an attribute
 * the table does not have fails with that error. Clashing or reserved names are refused.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppError } from '../../src/errors.ts';
import { buildDeclarations } from '../../src/schema/declarations.ts';
import { loadSchemaDir } from '../../src/schema/parse.ts';
import { cliEnv } from '../helpers/cli-env.ts';
import { ROOT, writeConsumerTsconfig } from '../helpers/fixtures.ts';
import { schemaDir, tmpDir } from '../helpers/server.ts';

const run = promisify(execFile);
const CLI = join(ROOT, 'dist/cli.js');
const TSC = join(ROOT, 'node_modules/.bin/tsc');

const VARIED = `enum Kind { SMALL LARGE }
type Size @sealed { w: Float! h: Float tags: [String] }
type Thing @table(database: "test") @export(name: "thing") @sealed {
  id: Int @primaryKey
  name: String!
  kind: Kind!
  size: Size
  sizes: [Size!]!
  big: BigInt
  when: Date
  flag: Boolean!
  blob: Bytes
  any: Any
  count: Long
  created: Long @createdTime
  updated: Date @updatedTime
}
type Hidden @table(database: "test") { id: ID! }
`;

const work = tmpDir('tablecast-types-');
const schemas = schemaDir({ 'thing.graphql': VARIED });

before(() => {
  assert.ok(existsSync(CLI), 'dist/ is missing: run `npm run build` (npm test does)');
  // The consumer imports `tablecast/client` as an app does: through the package's exports.
  mkdirSync(join(work, 'node_modules'));
  symlinkSync(ROOT, join(work, 'node_modules/tablecast'), 'dir');
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  writeConsumerTsconfig(work);
});
after(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(schemas, { recursive: true, force: true });
});

async function tsc(consumer: string): Promise<string> {
  writeFileSync(join(work, 'consumer.ts'), consumer);
  return run(TSC, ['-p', work], { cwd: work, timeout: 60_000 }).then(
    () => '',
    (err: { stdout: string }) => err.stdout || String(err),
  );
}

test('stdout by default, --out writes the file; the example schemas and a schema of every attribute kind', async () => {
  const { stdout } = await run(process.execPath, [CLI, 'types', '--schemas', join(ROOT, 'schemas')], { cwd: work, env: cliEnv(), timeout: 30_000 });
  assert.match(stdout, /^export interface Message \{\n {2}id: string;\n {2}title: string;\n {2}content: string;\n\}$/m);
  assert.match(stdout, /^export interface MessageCreate \{\n {2}id\?: string \| number;/m);
  assert.match(stdout, /"realtime-demo": \{\n {4}"message": \{ record: Message; create: MessageCreate; patch: MessagePatch; key: Message\['id'\]; keyField: 'id' \};/);
  writeFileSync(join(work, 'shop.ts'), stdout);

  const { stderr } = await run(process.execPath, [CLI, 'types', '--schemas', schemas, '--out', join(work, 'things.ts')], { cwd: work, env: cliEnv(), timeout: 30_000 });
  assert.match(stderr, /wrote .*things\.ts/);
  const text = readFileSync(join(work, 'things.ts'), 'utf8');
  assert.match(text, /export type Kind = "SMALL" \| "LARGE";/);
  assert.match(text, /export interface Size \{\n {2}w: number;\n {2}h\?: number \| null;\n {2}tags\?: \(string \| null\)\[\] \| null;\n\}/);
  assert.match(
    text,
    /export interface Thing \{\n {2}id: number;\n {2}name: string;\n {2}kind: Kind;\n {2}size\?: Size \| null;\n {2}sizes: \(Size\)\[\];\n {2}big\?: string \| null;\n {2}when\?: string \| null;/,
  );
  assert.match(text, /created\?: number \| null;\n {2}updated\?: string \| null;\n\}/, 'server-set times are in the record');
  assert.doesNotMatch(text.slice(text.indexOf('export interface ThingCreate')), /^ {2}created/m, 'and not in the inputs');
  assert.doesNotMatch(text, /Hidden/, 'a table without @export is not served, so not typed');
  assert.doesNotMatch(text, /Array</, 'lists are (T)[]: no global a schema type could shadow');
});

test('clashing or reserved names are refused with TYPES_INVALID, every problem listed, and nothing written', async () => {
  const bad = schemaDir({
    'a.graphql': `type Message @table(database: "a") @export(name: "message") { id: ID! @primaryKey  m: MessageCreate  list: [Array] }
type MessageCreate { x: Int }
type Array { n: Int }
`,
    'b.graphql': `type Schema @table(database: "b") @export(name: "schema") { id: ID! @primaryKey  s: string }
type string { x: Int }
`,
  });
  try {
    const out = join(work, 'bad.ts');
    const failed = await run(process.execPath, [CLI, 'types', '--schemas', bad, '--out', out], { cwd: work, env: cliEnv(), timeout: 30_000 }).then(
      () => assert.fail('tablecast types accepted clashing names'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(failed.code, 1);
    const lines = failed.stderr.trim().split('\n');
    assert.match(lines[0]!, /^tablecast: cannot write TypeScript declarations \(4 problems; rename the SDL types\):$/);
    assert.deepEqual(lines.slice(1).sort(), [
      'Array (type Array) is a name TypeScript reserves or gives its own meaning',
      'MessageCreate would be declared twice: as type MessageCreate and as the create input of table a/Message',
      'Schema would be declared twice: as the map of databases and tables and as the record of table b/Schema',
      'string (type string) is a name TypeScript reserves or gives its own meaning',
    ]);
    assert.equal(existsSync(out), false);
    await assert.rejects(
      async () => buildDeclarations(await loadSchemaDir(bad)),
      (err: unknown) => err instanceof AppError && err.code === 'TYPES_INVALID' && (err.details as string[]).length === 4,
    );
  } finally {
    rmSync(bad, { recursive: true, force: true });
  }
});

test('a correct consumer type-checks, and every @ts-expect-error in it meets its error', async () => {
  const failed = await tsc(`import { createClient, type TableEvent } from 'tablecast/client';
import type { Message, MessageEvent, Schema as Shop } from './shop.js';
import type { Schema, Thing, ThingCreate, ThingEvent } from './things.js';

const shop = createClient<Shop>({ url: 'https://localhost:9996' });
const messages = shop.table('realtime-demo', 'message');
const made: Message = await messages.create({ title: 'Hello', content: 'World' });
const title: string = (await messages.get(made.id)).title;
await messages.patch('msg-1', { content: 'edited' });
await messages.put('msg-1', { id: 'msg-1', title, content: 'whole' });
const found: Message[] = await messages.search({ title: 'Hello' });
for await (const event of messages.subscribe({ filter: 'title=sw=He' })) {
  const same: MessageEvent = event;
  if (event.type === 'update') console.log(event.record.content.toUpperCase());
  if (event.type === 'delete') console.log(event.key.id.toUpperCase());
  console.log(same);
}
await shop.table('shop', 'product').create({ name: 'p', price: 1, status: 'ACTIVE', dimensions: { width: 1, height: 2 } });
// @ts-expect-error: no such database
shop.table('realtime', 'message');
// @ts-expect-error: no such table in the database
shop.table('realtime-demo', 'product');
// @ts-expect-error: title is required
await messages.create({ content: 'no title' });
// @ts-expect-error: status is an enum
await shop.table('shop', 'product').create({ name: 'p', price: 1, status: 'SOLD' });

const things = createClient<Schema>({ url: 'http://localhost:9996' }).table('test', 'thing');
const input: ThingCreate = { name: 'n', kind: 'SMALL', sizes: [{ w: 1, tags: ['a', null] }], big: 12, when: Date.now(), flag: true, blob: 'AAEC', any: { x: [1] }, count: null };
const thing: Thing = await things.create(input);
const id: number = thing.id;
const big: string | null | undefined = thing.big;
await things.get(id);
// @ts-expect-error: the key of an Int table is a number
await things.get('5');
// @ts-expect-error: a server-set time is not an input
await things.create({ ...input, created: 1 });
// @ts-expect-error: a required list
await things.create({ name: 'n', kind: 'LARGE', flag: false });
const next = await things.subscribe().next();
if (!next.done) {
  const event: ThingEvent = next.value;
  const back: TableEvent<Schema['test']['thing']> = event;
  console.log(back);
}

// Without a schema the client is loose: any table, any attributes.
const loose = createClient({ url: 'http://localhost:9996' }).table('any', 'table');
const record: { [attribute: string]: unknown } = await loose.create({ whatever: 1 });
export { found, big, record };
`);
  assert.equal(failed, '', failed);
});

test('a consumer that writes an attribute the table does not have fails with that error', async () => {
  const failed = await tsc(`import { createClient } from 'tablecast/client';
import type { Schema } from './shop.js';
const messages = createClient<Schema>({ url: 'https://localhost:9996' }).table('realtime-demo', 'message');
await messages.create({ title: 'Hello', content: 'World', colour: 'red' });
`);
  assert.match(failed, /consumer\.ts\(4,\d+\): error TS2353: Object literal may only specify known properties, and 'colour' does not exist in type 'MessageCreate'/);
  assert.equal(failed.trim().split('\n').length, 1, failed);
});

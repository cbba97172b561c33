import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppError } from '../../../src/errors.ts';
import { DIRECTIVES_SDL } from '../../../src/schema/directives.ts';
import { loadSchemaDir, parseSchema, type SchemaProblem } from '../../../src/schema/parse.ts';
import { hasNumericKey, type TableDef } from '../../../src/schema/model.ts';

const FILE = 'schemas/app.graphql';

/** SDL from lines, so positions in the assertions are easy to count. */
const sdl = (...lines: string[]) => lines.join('\n');

const p = (line: number, column: number, message: string, file = FILE): SchemaProblem => ({ file, line, column, message });

function schemaError(run: () => unknown): AppError {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof AppError, `expected AppError, got ${String(err)}`);
    assert.equal(err.code, 'SCHEMA_INVALID');
    assert.equal(err.statusCode, 500);
    return err;
  }
  assert.fail('expected SCHEMA_INVALID');
}

/** The problems reported for one file (or several: `schemas/app.graphql`, then `schemas/b.graphql`, …). */
function problems(...files: string[]): SchemaProblem[] {
  const names = [FILE, 'schemas/b.graphql', 'schemas/c.graphql'];
  return schemaError(() => parseSchema(files.map((s, i) => ({ file: names[i]!, sdl: s })))).details as SchemaProblem[];
}

function table(source: string, name: string): TableDef {
  const model = parseSchema([{ file: FILE, sdl: source }]);
  const def = model.tables.find((t) => t.typeName === name);
  assert.ok(def, `table ${name}`);
  return def;
}

test('the shipped schemas compile: Message exactly as seed 000 declares it', async () => {
  const model = await loadSchemaDir('schemas');
  assert.deepEqual(model.files, ['schemas/message.graphql', 'schemas/shop.graphql']);
  assert.deepEqual(
    model.tables.map((t) => `${t.database}/${t.export?.name}`),
    ['realtime-demo/message', 'shop/product', 'shop/order'],
  );
  const message = model.tables[0]!;
  const field = (name: string, line: number, primaryKey = false) => ({
    name,
    type: { kind: 'scalar', name: name === 'id' ? 'ID' : 'String' },
    required: true,
    primaryKey,
    indexed: false,
    createdTime: false,
    updatedTime: false,
    loc: { file: 'schemas/message.graphql', line, column: 5 },
  });
  assert.deepEqual(message, {
    typeName: 'Message',
    database: 'realtime-demo',
    table: 'Message',
    sealed: false,
    fields: [field('id', 6, true), field('title', 7), field('content', 8)],
    primaryKey: 'id',
    loc: { file: 'schemas/message.graphql', line: 1, column: 6 },
    export: { name: 'message', rest: true, sse: true, graphql: true },
  });
  assert.equal('expiration' in message, false);
});

test('the shop example uses every feature', async () => {
  const model = await loadSchemaDir('schemas');
  const product = model.tables.find((t) => t.typeName === 'Product')!;
  const f = (n: string) => product.fields.find((x) => x.name === n)!;
  assert.deepEqual(
    product.fields.filter((x) => x.indexed).map((x) => x.name),
    ['category', 'price', 'status', 'tags'],
  );
  assert.deepEqual(f('status').type, { kind: 'enum', name: 'Status', values: ['DRAFT', 'ACTIVE', 'DISCONTINUED'] });
  assert.deepEqual(f('tags').type, { kind: 'list', of: { kind: 'scalar', name: 'String' }, itemRequired: true });
  assert.equal(f('tags').required, false);
  const dims = f('dimensions').type;
  assert.ok(dims.kind === 'object' && dims.sealed && dims.name === 'Dimensions');
  assert.deepEqual(
    dims.fields.map((x) => [x.name, x.required]),
    [
      ['width', true],
      ['height', true],
      ['depth', false],
    ],
  );
  assert.equal(f('createdAt').createdTime, true);
  assert.equal(f('updatedAt').updatedTime, true);
  assert.equal(hasNumericKey(product), false);
  const order = model.tables.find((t) => t.typeName === 'Order')!;
  assert.equal(order.primaryKey, 'id');
  assert.equal(order.sealed, true);
  assert.equal(hasNumericKey(order), true);
  assert.equal(order.fields[0]!.required, false, 'required is kept as written, even for the key');
});

test('the model is deeply frozen', () => {
  const def = table(sdl('type N { n: N, x: Int }', 'type T @table { id: ID, n: N, l: [N] }'), 'T');
  assert.ok(Object.isFrozen(def) && Object.isFrozen(def.fields) && Object.isFrozen(def.fields[1]!.type) && Object.isFrozen(def.loc));
  const n = def.fields[1]!.type;
  assert.ok(n.kind === 'object');
  assert.equal(n.fields[0]!.type, n, 'a recursive nested type refers to itself');
  assert.throws(() => {
    (def as { database: string }).database = 'x';
  }, TypeError);
});

test('defaults: database "data", table = type name, key = field id, export name = type name, protocols on', () => {
  const def = table('type Thing @table @export { id: ID! name: String }', 'Thing');
  assert.equal(def.database, 'data');
  assert.equal(def.table, 'Thing');
  assert.equal(def.primaryKey, 'id');
  assert.equal(def.fields[0]!.primaryKey, true);
  assert.equal(def.sealed, false);
  assert.deepEqual(def.export, { name: 'Thing', rest: true, sse: true, graphql: true });
  const other = table('type Log @table(database: "realtime-demo", table: "logs_v2", expiration: 3600) @export(name: "log-entries", sse: false) @sealed { seq: Long @primaryKey }', 'Log');
  assert.deepEqual(
    { db: other.database, table: other.table, exp: other.expiration, key: other.primaryKey, sealed: other.sealed, ex: other.export },
    { db: 'realtime-demo', table: 'logs_v2', exp: 3600, key: 'seq', sealed: true, ex: { name: 'log-entries', rest: true, sse: false, graphql: true } },
  );
  assert.equal(table('type Hidden @table { id: ID }', 'Hidden').export, undefined);
});

test('pasted DIRECTIVES_SDL and built-in scalar re-declarations are ignored, in several files', () => {
  const model = parseSchema([
    { file: 'a.graphql', sdl: DIRECTIVES_SDL },
    { file: 'b.graphql', sdl: `${DIRECTIVES_SDL}\nscalar ID\ntype T @table { id: ID, at: Date, n: BigInt }` },
  ]);
  assert.deepEqual(
    model.tables.map((t) => t.typeName),
    ['T'],
  );
});

test('all problems are reported at once, sorted, in one message', () => {
  const err = schemaError(() =>
    parseSchema([
      { file: 'schemas/a.graphql', sdl: sdl('type Foo @table {', '  id: ID! @primaryKey', '  name: String', '  code: String @primaryKey', '}') },
      { file: 'schemas/b.graphql', sdl: sdl('type Bar @table { name: Strin }', 'type Foo @table { id: ID }') },
    ]),
  );
  assert.deepEqual(err.details, [
    p(4, 3, 'type Foo has two primary keys (id, code)', 'schemas/a.graphql'),
    p(1, 25, 'field Bar.name has unknown type Strin', 'schemas/b.graphql'),
    p(2, 6, 'type Foo is declared twice (first at schemas/a.graphql:1:6)', 'schemas/b.graphql'),
  ]);
  assert.equal(
    err.message,
    [
      'invalid schema (3 problems):',
      'schemas/a.graphql:4:3: type Foo has two primary keys (id, code)',
      'schemas/b.graphql:1:25: field Bar.name has unknown type Strin',
      'schemas/b.graphql:2:6: type Foo is declared twice (first at schemas/a.graphql:1:6)',
    ].join('\n'),
  );
});

test('syntax errors carry their position; other files are still checked', () => {
  assert.deepEqual(problems(sdl('type Foo @table {', '  id: ID!', ''), sdl('type Bar @table {', '  id: ID', '  id2: ID @primaryKey @primaryKey', '}')), [
    p(3, 1, 'Syntax Error: Expected Name, found <EOF>.'),
    p(3, 23, '@primaryKey is repeated on field Bar.id2', 'schemas/b.graphql'),
  ]);
  // The unknown type might be declared in the broken file, so it is not reported.
  assert.deepEqual(problems('type {', 'type A @table { id: ID, x: Elsewhere }'), [p(1, 6, 'Syntax Error: Expected Name, found "{".')]);
});

test('duplicate tables and exports in one database', () => {
  assert.deepEqual(
    problems(
      sdl(
        'type Foo @table(database: "a", table: "T") @export(name: "x") { id: ID }',
        'type Bar @table(database: "a", table: "T") { id: ID }',
        'type Baz @table(database: "a") @export(name: "x") { id: ID }',
        'type Qux @table(database: "b", table: "T") @export(name: "x") { id: ID }',
        'type T @table(database: "a") { id: ID }',
      ),
    ),
    [
      p(2, 6, 'duplicate table a.T: also declared by type Foo at schemas/app.graphql:1:6'),
      p(3, 6, 'duplicate export /a/x: also used by type Foo at schemas/app.graphql:1:6'),
      p(5, 6, 'duplicate table a.T: also declared by type Foo at schemas/app.graphql:1:6'),
    ],
  );
});

test('duplicate type names, across files and kinds', () => {
  assert.deepEqual(problems('type A @table { id: ID }\nenum E { X }', 'enum A { X }\ntype E { x: Int }\ntype String { x: Int }'), [
    p(1, 6, 'type A is declared twice (first at schemas/app.graphql:1:6)', 'schemas/b.graphql'),
    p(2, 6, 'type E is declared twice (first at schemas/app.graphql:2:6)', 'schemas/b.graphql'),
    p(3, 6, 'type String clashes with the built-in scalar String', 'schemas/b.graphql'),
  ]);
});

test('unknown types, also inside lists and non-null', () => {
  assert.deepEqual(problems('type T @table { id: ID, x: Strin, y: [Nope!]! }'), [p(1, 28, 'field T.x has unknown type Strin'), p(1, 39, 'field T.y has unknown type Nope')]);
  // The key field itself failed: no second "no primary key" problem.
  assert.deepEqual(problems('type T @table { id: Strin }'), [p(1, 21, 'field T.id has unknown type Strin')]);
});

test('primary keys: none, two, three, wrong types', () => {
  assert.deepEqual(problems(sdl('type Foo @table {', '  name: String', '}')), [p(1, 6, 'type Foo has no primary key: mark a field @primaryKey or declare a field named id')]);
  assert.deepEqual(problems('type T @table { a: ID @primaryKey, b: ID @primaryKey, c: Int @primaryKey }'), [p(1, 36, 'type T has three primary keys (a, b, c)')]);
  assert.deepEqual(
    problems(
      sdl(
        'type A { a: Int }',
        'enum E { X }',
        'type T @table { id: [ID] }',
        'type U @table { k: Float @primaryKey }',
        'type V @table { id: A }',
        'type W @table { id: E }',
        'type X @table { id: Long @createdTime }',
      ),
    ),
    [
      p(3, 17, 'primary key T.id must be ID, String, Int or Long, not [ID]'),
      p(4, 17, 'primary key U.k must be ID, String, Int or Long, not Float'),
      p(5, 17, 'primary key V.id must be ID, String, Int or Long, not A (a nested type)'),
      p(6, 17, 'primary key W.id must be ID, String, Int or Long, not E (an enum)'),
      p(7, 17, 'primary key X.id cannot be set by the server (@createdTime)'),
    ],
  );
  // An explicit key wins over a field named id.
  assert.equal(table('type T @table { id: String, code: Int! @primaryKey }', 'T').primaryKey, 'code');
});

test('directive arguments: types, unknown names, ranges, URL safety', () => {
  assert.deepEqual(
    problems(
      sdl(
        'type Foo @table(database: 5, foo: "x", expiration: 0) @export(name: "my table", rest: "yes") { id: ID }',
        'type Q @table(database: "no good") { id: ID }',
        'type R @table(expiration: -5, table: "a.b") { id: ID }',
        'type S @table(expiration: 99999999999, database: "x", database: "y") { id: ID }',
        'type U @table(database: null) @export(graphql: 1) { id: ID }',
      ),
    ),
    [
      p(1, 27, '@table(database:) must be a String, got 5'),
      p(1, 30, 'unknown argument "foo" on @table (it takes database, table, expiration)'),
      p(1, 52, '@table(expiration:) must be a positive number of seconds, got 0'),
      p(1, 69, '@export(name:) "my table" is not URL-safe (use letters, digits, _ and -)'),
      p(1, 87, '@export(rest:) must be a Boolean, got "yes"'),
      p(2, 25, '@table(database:) "no good" is not URL-safe (use letters, digits, _ and -)'),
      p(3, 27, '@table(expiration:) must be a positive number of seconds, got -5'),
      p(3, 38, '@table(table:) "a.b" is not URL-safe (use letters, digits, _ and -)'),
      p(4, 27, '@table(expiration:) 99999999999 is out of the Int range'),
      p(4, 55, 'argument "database" is given twice on @table'),
      p(5, 25, '@table(database:) must be a String, got null'),
      p(5, 48, '@export(graphql:) must be a Boolean, got 1'),
    ],
  );
  assert.equal(table('type M @table(database: "realtime-demo") @export(name: "a_b-9") { id: ID }', 'M').database, 'realtime-demo');
});

test('unknown, misplaced and repeated directives', () => {
  assert.deepEqual(problems(sdl('type Foo @table @bar @sealed @sealed {', '  id: ID @foo @table', '  name: String @sealed @primaryKey(x: 1)', '}', 'enum E @sealed { A @indexed }')), [
    p(1, 17, 'unknown directive @bar on type Foo'),
    p(1, 30, '@sealed is repeated on type Foo'),
    p(2, 10, 'unknown directive @foo on field Foo.id'),
    p(2, 15, '@table belongs on types, not on field Foo.id'),
    p(3, 16, '@sealed belongs on types, not on field Foo.name'),
    p(3, 36, 'unknown argument "x" on @primaryKey (it takes no arguments)'),
    p(5, 8, '@sealed is not allowed on enum E'),
    p(5, 20, '@indexed is not allowed on enum value E.A'),
  ]);
});

test('@indexed needs an indexable type; time fields need Long, Float, Date or String', () => {
  assert.deepEqual(
    problems(
      sdl(
        'type D { a: Int }',
        'enum E { A B }',
        'type Foo @table {',
        '  id: ID',
        '  d: D @indexed',
        '  a: Any @indexed',
        '  b: Bytes @indexed',
        '  l: [D] @indexed',
        '  ok: [String!] @indexed',
        '  e: E @indexed',
        '  c: Boolean @createdTime',
        '  u: Int @updatedTime',
        '  x: [Long] @createdTime',
        '}',
      ),
    ),
    [
      p(5, 8, '@indexed field Foo.d is not indexable: D is a nested object type'),
      p(6, 10, '@indexed field Foo.a is not indexable: Any values are not indexable'),
      p(7, 12, '@indexed field Foo.b is not indexable: Bytes values are not indexable'),
      p(8, 10, '@indexed field Foo.l is not indexable: D is a nested object type'),
      p(11, 14, '@createdTime field Foo.c must be Long, Float, Date or String, not Boolean'),
      p(12, 10, '@updatedTime field Foo.u must be Long, Float, Date or String, not Int (epoch milliseconds do not fit in a 32-bit Int; use Long)'),
      p(13, 3, 'type Foo has two @createdTime fields (c, x); one is enough'),
      p(13, 13, '@createdTime field Foo.x must be Long, Float, Date or String, not [Long]'),
    ],
  );
  assert.deepEqual(problems('type T @table { id: ID, t: Long @createdTime @updatedTime }'), [p(1, 46, 'field T.t cannot be both @createdTime and @updatedTime')]);
  const def = table('type T @table { id: ID, a: Long @createdTime, b: Float @updatedTime, c: Date, s: String @indexed, n: [Int] @indexed }', 'T');
  assert.deepEqual(
    def.fields.map((f) => [f.name, f.createdTime, f.updatedTime, f.indexed]),
    [
      ['id', false, false, false],
      ['a', true, false, false],
      ['b', false, true, false],
      ['c', false, false, false],
      ['s', false, false, true],
      ['n', false, false, true],
    ],
  );
});

test('table-only directives on nested types and their fields', () => {
  assert.deepEqual(problems('type N @export @sealed { a: Int @primaryKey @indexed, b: Long @createdTime }\ntype T @table { id: ID, n: N }'), [
    p(1, 8, '@export on type N needs @table: only tables can be exported'),
    p(1, 33, '@primaryKey is only allowed on fields of @table types (N is a nested type)'),
    p(1, 45, '@indexed is only allowed on fields of @table types (N is a nested type)'),
    p(1, 63, '@createdTime is only allowed on fields of @table types (N is a nested type)'),
  ]);
});

test('a field cannot hold another table: relationships are refused with a hint', () => {
  assert.deepEqual(problems(sdl('type Customer @table { id: ID }', 'type Order @table {', '  id: ID', '  customer: Customer!', '  items: [Customer]', '}')), [
    p(4, 13, 'field Order.customer references table type Customer: relationships between tables are not supported; store its key instead (e.g. customerId: ID)'),
    p(5, 11, 'field Order.items references table type Customer: relationships between tables are not supported; store its key instead (e.g. customerId: ID)'),
  ]);
});

test('nested types that could never be written down are refused; optional and list recursion is fine', () => {
  assert.deepEqual(problems(sdl('type A { b: B!, self: A }', 'type B { a: A! }', 'type S { s: S! }', 'type T @table { id: ID, a: A }')), [
    p(1, 10, 'nested type A can never be written down: its required fields A.b → B.a lead back to A; make one of them optional or a list'),
    p(3, 10, 'nested type S can never be written down: its required fields S.s lead back to S; make one of them optional or a list'),
  ]);
  const def = table(sdl('type Tree { label: String!, children: [Tree!]!, parent: Tree }', 'type T @table { id: ID, root: Tree! }'), 'T');
  assert.equal(def.fields[1]!.type.kind, 'object');
});

test('reserved and duplicate field names, field arguments', () => {
  assert.deepEqual(problems('type T @table { id: ID, __x: Int, y: Int, y: String, f(x: Int): Int }'), [
    p(1, 25, 'field name T.__x is reserved: names starting with __ belong to GraphQL'),
    p(1, 43, 'type T declares field y twice'),
    p(1, 56, 'field T.f has arguments; field arguments are not supported'),
  ]);
});

test('unsupported definitions are refused with a reason', () => {
  assert.deepEqual(
    problems(
      sdl(
        'extend type T { x: Int }',
        'interface I { x: Int }',
        'union U = T',
        'input In { x: Int }',
        'schema { query: T }',
        'scalar Money',
        'type T implements I @table { id: ID }',
        'query { a }',
        'fragment F on T { id }',
        'enum E { A A }',
        'enum Empty',
        'extend enum E { C }',
      ),
    ),
    [
      p(1, 1, 'extend type T: type extensions are not supported; declare all fields in the type itself'),
      p(2, 1, 'interface I: interfaces are not supported; declare the fields on each type'),
      p(3, 1, 'union U: unions are not supported'),
      p(4, 1, 'input In: input types are not supported; tablecast derives inputs from @table types'),
      p(5, 1, 'schema: schema definitions are not supported; tablecast builds the GraphQL schema from @table types'),
      p(6, 8, 'custom scalar Money is not supported (use ID, String, Int, Float, Long, BigInt, Boolean, Date, Any or Bytes)'),
      p(7, 19, 'type T implements I: interfaces are not supported'),
      p(8, 1, 'operation: queries, mutations and subscriptions do not belong in schema files'),
      p(9, 1, 'fragment F: fragments do not belong in schema files'),
      p(10, 12, 'enum E lists A twice'),
      p(11, 6, 'enum Empty has no values'),
      p(12, 1, 'extend enum E: enum extensions are not supported; list all values in the enum itself'),
    ],
  );
});

test('no tables, no files', () => {
  assert.deepEqual(problems('type A { a: Int }'), [p(0, 0, 'no @table types found in 1 schema file', 'schema')]);
  const err = schemaError(() => parseSchema([]));
  assert.equal(err.message, 'invalid schema (1 problem):\nschema: no schema files (*.graphql) to read');
});

test('loadSchemaDir reads *.graphql recursively in path order, and says when there is nothing', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tablecast-schema-'));
  try {
    await assert.rejects(loadSchemaDir(dir), (err: AppError) => {
      assert.equal(err.code, 'SCHEMA_INVALID');
      assert.deepEqual(err.details, [{ file: dir, line: 0, column: 0, message: `no *.graphql files found under ${dir}` }]);
      return true;
    });
    await mkdir(path.join(dir, 'b', 'deep'), { recursive: true });
    await writeFile(path.join(dir, 'b', 'deep', 'z.graphql'), 'type Z @table { id: ID }');
    await writeFile(path.join(dir, 'c.graphql'), 'type C @table { id: ID }');
    await writeFile(path.join(dir, 'a.graphql'), 'enum Kind { X }');
    await writeFile(path.join(dir, 'notes.txt'), 'type Ignored @table { id: ID }');
    const model = await loadSchemaDir(dir);
    assert.deepEqual(model.files, [path.join(dir, 'a.graphql'), path.join(dir, 'b/deep/z.graphql'), path.join(dir, 'c.graphql')]);
    assert.deepEqual(
      model.tables.map((t) => t.typeName),
      ['Z', 'C'],
    );
    await writeFile(path.join(dir, 'c.graphql'), 'type C @table {\n  id: Kind @primaryKey\n}');
    await assert.rejects(loadSchemaDir(dir), (err: AppError) => {
      assert.match(err.message, new RegExp(`^invalid schema \\(1 problem\\):\\n${path.join(dir, 'c.graphql')}:2:3: primary key C.id must be ID, String, Int or Long, not Kind \\(an enum\\)$`));
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await assert.rejects(loadSchemaDir(path.join(dir, 'gone')), (err: AppError) => {
    assert.equal(err.code, 'SCHEMA_INVALID');
    assert.equal(err.message, `invalid schema (1 problem):\n${path.join(dir, 'gone')}: schema directory ${path.join(dir, 'gone')} does not exist`);
    return true;
  });
});

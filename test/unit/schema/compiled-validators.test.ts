/**
 * The validators' compiled fast path (validators.ts, compileFast) must accept, store and refuse
 * exactly what zod alone does: thousands of generated bodies, each validated in every mode by
 * validators built with and without it, must give the same record (key order included) or the
 * same error (message and details).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../../../src/errors.ts';
import { parseSchema } from '../../../src/schema/parse.ts';
import type { TableDef } from '../../../src/schema/model.ts';
import { buildValidators, type TableValidators } from '../../../src/schema/validators.ts';

const SCHEMAS = {
  bench: 'type T @table { id: ID! @primaryKey, title: String!, content: String!, sentAt: Float, n: Int }',
  sealed: 'enum Color { RED GREEN }\ntype T @table @sealed { id: ID! @primaryKey, name: String!, color: Color, ok: Boolean!, big: Long }',
  times: 'type T @table { id: String! @primaryKey, title: String!, at: Long @createdTime, up: Date @updatedTime, when: Date, raw: Bytes, b: BigInt }',
  sealedTimes: 'type T @table @sealed { id: ID! @primaryKey, createdAt: Long! @createdTime, updatedAt: Float! @updatedTime, n: Int }',
  intKey: 'type T @table { id: Int! @primaryKey, n: Int, f: Float! }',
  nested: 'type Dim { w: Int! }\ntype T @table { id: ID! @primaryKey, tags: [String!], dim: Dim, any: Any, s: String }',
};

function tableOf(sdl: string): TableDef {
  const def = parseSchema([{ file: 'test.graphql', sdl }]).tables.find((t) => t.typeName === 'T');
  assert.ok(def);
  return def;
}

/** A small deterministic generator (mulberry32), so a failure replays. */
function rng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALUES: unknown[] = [
  undefined,
  null,
  '',
  'x',
  'Hello',
  'RED',
  'GREEN',
  'red',
  'x'.repeat(255),
  'x'.repeat(256),
  '2024-02-29',
  '2024-02-30',
  'aGk=',
  'a',
  '12345678901234567890',
  0,
  -0,
  1,
  -1,
  1.5,
  2 ** 31,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 53,
  8.4e15,
  Infinity,
  NaN,
  true,
  false,
  [],
  ['a'],
  [1],
  { w: 1 },
  { w: 'x' },
  {},
  { a: { b: [1, null] } },
];
const NAMES = ['id', 'title', 'content', 'sentAt', 'n', 'name', 'color', 'ok', 'big', 'at', 'up', 'when', 'raw', 'b', 'createdAt', 'updatedAt', 'f', 'tags', 'dim', 'any', 's', 'extra', 'other'];

type Outcome = { ok: true; entries: string } | { ok: false; message: string; details: string };

function outcome(run: () => unknown): Outcome {
  try {
    const record = run() as { [k: string]: unknown };
    // Entries, in order: the same values under the same keys in the same order.
    return { ok: true, entries: JSON.stringify(Object.entries(record).map(([k, v]) => [k, Object.is(v, -0) ? '-0' : v === undefined ? 'undefined' : v])) };
  } catch (err) {
    assert.ok(err instanceof AppError, `unexpected ${String(err)}`);
    return { ok: false, message: err.message, details: JSON.stringify(err.details) };
  }
}

const MODES = ['validateCreate', 'validateReplace', 'validatePatch', 'validateRecord'] as const;

function compare(name: string, compiled: TableValidators, zod: TableValidators, body: unknown): number {
  let accepted = 0;
  for (const mode of MODES) {
    const a = outcome(() => compiled[mode](body));
    const b = outcome(() => zod[mode](body));
    assert.deepEqual(a, b, `${name} ${mode} ${JSON.stringify(body)}`);
    if (a.ok) accepted++;
  }
  return accepted;
}

for (const [name, sdl] of Object.entries(SCHEMAS)) {
  test(`compiled validators agree with zod: ${name}`, () => {
    const def = tableOf(sdl);
    const compiled = buildValidators(def);
    const zod = buildValidators(def, undefined, { compiled: false });
    const declared = def.fields.map((f) => f.name);
    const next = rng(name.length * 7919);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
    let accepted = 0;
    // A valid body of the table first, then each attribute varied over every value alone.
    const good = (): { [k: string]: unknown } => {
      const body: { [k: string]: unknown } = {};
      for (const f of def.fields) {
        if (f.type.kind === 'scalar') {
          body[f.name] = { ID: 'a1', String: 'Hello', Int: 3, Long: 4, Float: 1.25, Boolean: true, Date: '2024-01-02', Bytes: 'aGk=', BigInt: '12', Any: { a: 1 } }[f.type.name];
        } else if (f.type.kind === 'enum') body[f.name] = f.type.values[0];
      }
      return body;
    };
    accepted += compare(name, compiled, zod, good());
    for (const field of [...declared, 'extra']) {
      for (const value of VALUES) {
        const body = good();
        if (value === undefined && next() < 0.5) delete body[field];
        else body[field] = value;
        accepted += compare(name, compiled, zod, body);
      }
    }
    // Random bodies: random attributes, random values, random order.
    for (let i = 0; i < 3000; i++) {
      const body: { [k: string]: unknown } = next() < 0.5 ? good() : {};
      const n = Math.floor(next() * 6);
      for (let j = 0; j < n; j++) {
        const k = pick(next() < 0.8 ? declared : NAMES);
        const v = pick(VALUES);
        if (v === undefined && next() < 0.7) delete body[k];
        else body[k] = v;
      }
      accepted += compare(name, compiled, zod, body);
    }
    // Not a body at all.
    for (const body of [null, 'x', 1, [], [{ id: 'a' }], new Date(0)]) compare(name, compiled, zod, body);
    assert.ok(accepted > 100, `${name}: too few accepted bodies (${accepted}) to compare stored records`);
  });
}

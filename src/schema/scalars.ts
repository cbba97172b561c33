/**
 * The zod schemas of the built-in scalars and of plain JSON values: each one checks an input value
 * and returns its stored representation (see {@link FieldType} in model.ts).
 */
import { z } from 'zod';
import type { FieldType, ScalarName } from './model.ts';

/** Why a value was refused, returned (not thrown) by the normalisers below. */
class Bad {
  constructor(readonly message: string) {}
}

/** A short, safe rendering of an input value for messages. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string':
      return v.length > 40 ? `${JSON.stringify(v.slice(0, 40))}…` : JSON.stringify(v);
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(v);
    case 'object':
      return 'an object';
    default:
      return `a ${typeof v}`;
  }
}

type ZodIssueLike = { input?: unknown };

/** The error map shared by every schema: missing and null read the same everywhere. */
export function expecting(what: string): (iss: ZodIssueLike) => string {
  return (iss) => (iss.input === undefined ? 'is required' : iss.input === null ? 'must not be null' : `expected ${what}, got ${describe(iss.input)}`);
}

/**
 * A schema from a normaliser. `undefined`/`null` fail the first step, so `z.object` treats the key
 * as required unless the caller wraps the schema in `.optional()` / `.nullable()`.
 */
function leaf(what: string, normalise: (v: unknown) => unknown): z.ZodType {
  const mismatch = expecting(what);
  return z
    .custom<unknown>((v) => v !== undefined && v !== null, { error: mismatch })
    .transform((v, ctx) => {
      const r = normalise(v);
      if (r instanceof Bad) {
        ctx.issues.push({ code: 'custom', message: r.message, input: v });
        return z.NEVER;
      }
      return r;
    });
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const BIGINT = /^[+-]?\d{1,1000}$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?)?$/;
/**
 * Dates are stored as `toISOString()` text so that they sort as they compare; that holds only for
 * years 0000–9999. Outside them `toISOString()` switches to six-digit years (`+269017-05-08T…Z`,
 * `-000001-…`), which sort before every other date and which this module's own ISO pattern refuses:
 * an epoch-ms value such as 8.4e15 was stored, and the stored record then failed its own validation
 * (every later PATCH of it was refused). Found by the fuzz suite.
 */
const MIN_DATE_MS = Date.parse('0000-01-01T00:00:00.000Z');
const MAX_DATE_MS = Date.parse('9999-12-31T23:59:59.999Z');

/** `toISOString()` of an epoch-ms time, or `undefined` outside years 0000–9999 (see {@link MAX_DATE_MS}). */
export function isoOf(ms: number): string | undefined {
  return Number.isFinite(ms) && ms >= MIN_DATE_MS && ms <= MAX_DATE_MS ? new Date(ms).toISOString() : undefined;
}

function mismatch(what: string, v: unknown): Bad {
  return new Bad(`expected ${what}, got ${describe(v)}`);
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * ISO-8601 text to `toISOString()` form. Checked field by field because `Date.parse` rolls
 * 2024-02-30 over into March; a date-time without an offset is taken as UTC, not server-local time.
 */
function isoDate(s: string): string | Bad {
  const what = 'an ISO-8601 date or epoch milliseconds';
  const m = ISO_DATE.exec(s);
  if (!m) return mismatch(what, s);
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = '', zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const offset = zone && /^[+-]/.test(zone) ? zone.replace(/^([+-]\d{2}):?(\d{2})$/, '$1:$2') : 'Z';
  if (month < 1 || month > 12 || Number(d) < 1 || Number(d) > daysIn(year, month) || Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) {
    return new Bad(`${describe(s)} is not a valid date`);
  }
  if (offset !== 'Z' && (Number(offset.slice(1, 3)) > 23 || Number(offset.slice(4, 6)) > 59)) return new Bad(`${describe(s)} has an invalid UTC offset`);
  const ms = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${sec}${frac.slice(0, 4)}${offset}`);
  if (Number.isNaN(ms)) return new Bad(`${describe(s)} is not a valid date`);
  // An offset can move 0000-01-01 or 9999-12-31 out of the storable years.
  return isoOf(ms) ?? new Bad(`${describe(s)} is outside the years 0000–9999`);
}

const NORMALISE: { [S in Exclude<ScalarName, 'Any'>]: [what: string, fn: (v: unknown) => unknown] } = {
  ID: ['a string or an integer', (v) => (typeof v === 'string' ? v : Number.isSafeInteger(v) ? String(v) : mismatch('a string or an integer', v))],
  String: ['a string', (v) => (typeof v === 'string' ? v : mismatch('a string', v))],
  // lib's Number.isInteger is no type guard.
  Int: ['a 32-bit integer', (v) => (Number.isInteger(v) && (v as number) >= INT32_MIN && (v as number) <= INT32_MAX ? v : mismatch('a 32-bit integer', v))],
  Long: ['an integer', (v) => (Number.isSafeInteger(v) ? v : mismatch('an integer within ±(2^53-1)', v))],
  Float: ['a number', (v) => (typeof v === 'number' && Number.isFinite(v) ? v : mismatch('a number', v))],
  BigInt: [
    'an integer or a decimal integer string',
    (v) => {
      if (Number.isSafeInteger(v)) return String(v);
      // Larger numbers were already rounded by JSON.parse: only a string keeps them exact.
      if (typeof v === 'number' && Number.isInteger(v)) return new Bad(`${v} is beyond ±(2^53-1); send big integers as strings`);
      return typeof v === 'string' && BIGINT.test(v) ? BigInt(v).toString() : mismatch('an integer or a decimal integer string', v);
    },
  ],
  Boolean: ['a boolean', (v) => (typeof v === 'boolean' ? v : mismatch('true or false', v))],
  Date: [
    'an ISO-8601 date or epoch milliseconds',
    (v) => {
      if (typeof v === 'string') return isoDate(v);
      if (typeof v === 'number') return isoOf(v) ?? mismatch('an ISO-8601 date or epoch milliseconds', v);
      return mismatch('an ISO-8601 date or epoch milliseconds', v);
    },
  ],
  Bytes: [
    'a base64 string',
    (v) => {
      if (typeof v !== 'string') return mismatch('a base64 string', v);
      const body = v.replace(/=+$/, '');
      if (!BASE64.test(v) || body.length % 4 === 1 || (v.length !== body.length && v.length % 4 !== 0)) return new Bad(`${describe(v)} is not valid base64`);
      return Buffer.from(v, 'base64').toString('base64');
    },
  ],
};

/**
 * The normaliser of a scalar other than `Any`: the stored value, or a refusal that
 * {@link isRefusal} recognises. The same functions the zod schemas below run, so a validator's
 * compiled fast path (fast-path.ts) accepts and stores exactly what they do.
 */
export function scalarNormaliser(name: Exclude<ScalarName, 'Any'>): (v: unknown) => unknown {
  return NORMALISE[name][1];
}

/** True for the refusal a {@link scalarNormaliser} returns. */
export function isRefusal(v: unknown): boolean {
  return v instanceof Bad;
}

/** Deepest nesting accepted in any input, so hostile bodies cannot exhaust the stack. */
export const MAX_DEPTH = 64;

/**
 * A fresh copy of a JSON value, or a {@link Bad} naming the first non-JSON part (relative path).
 * Undefined object members are dropped, as `JSON.stringify` would.
 */
function cloneJson(v: unknown, path: (string | number)[], depth: number): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : { bad: new Bad(`${v} is not a JSON number`), path };
  if (depth > MAX_DEPTH) return { bad: new Bad(`nests deeper than ${MAX_DEPTH} levels`), path };
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (let i = 0; i < v.length; i++) {
      const c = cloneJson(v[i], [...path, i], depth + 1);
      if (isFailure(c)) return c;
      out.push(c);
    }
    return out;
  }
  if (typeof v === 'object' && isPlainObject(v)) {
    const out: { [k: string]: unknown } = {};
    for (const [k, item] of Object.entries(v)) {
      if (item === undefined) continue;
      const c = cloneJson(item, [...path, k], depth + 1);
      if (isFailure(c)) return c;
      out[k] = c;
    }
    return out;
  }
  return { bad: new Bad(`${describe(v)} is not a JSON value`), path };
}

interface Failure {
  bad: Bad;
  path: (string | number)[];
}

function isFailure(v: unknown): v is Failure {
  return typeof v === 'object' && v !== null && 'bad' in v && v.bad instanceof Bad;
}

/** True for `{}`-style objects (and `Object.create(null)`), false for arrays, Dates, Buffers and class instances. */
export function isPlainObject(v: unknown): v is { [k: string]: unknown } {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function jsonSchema(nullable: boolean): z.ZodType {
  return z
    .custom<unknown>((v) => v !== undefined && (nullable || v !== null), { error: expecting('a JSON value') })
    .transform((v, ctx) => {
      const c = cloneJson(v, [], 0);
      if (!isFailure(c)) return c;
      ctx.issues.push({ code: 'custom', message: c.bad.message, input: v, path: c.path });
      return z.NEVER;
    });
}

/** Any JSON value including null: used for attributes the schema does not declare. */
export const JSON_VALUE: z.ZodType = jsonSchema(true);

/** The schema of each scalar for a present, non-null value; built once per process. */
export const SCALAR_SCHEMAS: { readonly [S in ScalarName]: z.ZodType } = {
  ID: leaf(...NORMALISE.ID),
  String: leaf(...NORMALISE.String),
  Int: leaf(...NORMALISE.Int),
  Long: leaf(...NORMALISE.Long),
  Float: leaf(...NORMALISE.Float),
  BigInt: leaf(...NORMALISE.BigInt),
  Boolean: leaf(...NORMALISE.Boolean),
  Date: leaf(...NORMALISE.Date),
  Bytes: leaf(...NORMALISE.Bytes),
  Any: jsonSchema(false),
};

/** Longest string key accepted; the same limit as `MAX_KEY_LENGTH` in store/keys.ts (LMDB's ~2 KB key limit). */
export const MAX_KEY_LENGTH = 255;

/** The schema of a primary key value: its scalar, plus non-empty and bounded for string keys. */
export function keySchema(type: FieldType): z.ZodType {
  if (type.kind !== 'scalar') throw new Error(`primary key of type ${type.kind}`);
  const base = SCALAR_SCHEMAS[type.name];
  if (type.name !== 'ID' && type.name !== 'String') return base;
  // SCALAR_SCHEMAS are typed z.ZodType (output unknown); those of ID and String give strings.
  return base
    .refine((k) => (k as string).length > 0, { error: 'must not be empty' })
    .refine((k) => (k as string).length <= MAX_KEY_LENGTH, {
      error: `is longer than ${MAX_KEY_LENGTH} characters`,
    });
}

/**
 * Value coercion for queries: how the text of a URL value (or a typed GraphQL argument) becomes the
 * stored representation of the attribute it is compared with (schema/model.ts), and the errors
 * every query problem becomes.
 */
import { AppError } from '../errors.ts';
import type { Target } from './attributes.ts';
import { isoOf } from '../schema/scalars.ts';
import type { Condition, Operator, ValueKind } from './types.ts';

/**
 * Throws the QUERY_INVALID error that every query problem becomes.
 * @param position 0-based offset in the raw query string (after `?`) where the problem starts;
 *   absent for queries built from typed arguments (GraphQL), which have no text to point into.
 */
export function queryError(problem: string, position?: number): never {
  if (position === undefined) throw new AppError('QUERY_INVALID', problem, { details: [{ message: problem }] });
  throw new AppError('QUERY_INVALID', `${problem} at position ${position}`, { details: [{ message: problem, position }] });
}

/** Throws the QUERY_TOO_COMPLEX error of a query with more than `max` conditions (maxQueryTerms). */
export function tooManyTerms(max: number, position?: number): never {
  const details = { message: `more than ${max} conditions`, ...(position === undefined ? {} : { position }), limit: max, setting: 'maxQueryTerms' };
  throw new AppError('QUERY_TOO_COMPLEX', `the query has more than ${max} conditions (the maxQueryTerms setting, TABLECAST_MAX_QUERY_TERMS); combine them or raise the setting`, {
    details: [details],
  });
}

/** `decodeURIComponent` that reports malformed escapes as QUERY_INVALID; `+` stays a plus. */
export function decodeText(raw: string, position: number): string {
  // Most tokens carry no escapes; skip the decoder (and its try/catch) for them.
  if (raw.indexOf('%') === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return queryError(`malformed percent-encoding in '${raw}'`, position);
  }
}

/** Splits a raw name on raw dots, decoding each segment on its own. */
export function splitPath(name: string, at: number): string[] {
  const path: string[] = [];
  let from = 0;
  for (let i = 0; i <= name.length; i++) {
    if (i < name.length && name.charCodeAt(i) !== 46 /* . */) continue;
    if (i === from) queryError(`empty segment in attribute path '${decodeText(name, at)}'`, at + i);
    path.push(decodeText(name.slice(from, i), at + from));
    from = i + 1;
  }
  return path;
}

/** A strict decimal number (`12`, `-1.5`, `.5`, `2e3`); no hex, blanks, `Infinity` or empty text. */
function parseNumber(s: string): number | undefined {
  const n = s.length;
  let i = 0;
  let digits = 0;
  let c = s.charCodeAt(0);
  if (c === 43 || c === 45) i++; // + -
  while (i < n && (c = s.charCodeAt(i)) >= 48 && c <= 57) {
    i++;
    digits++;
  }
  if (i < n && s.charCodeAt(i) === 46) {
    i++;
    while (i < n && (c = s.charCodeAt(i)) >= 48 && c <= 57) {
      i++;
      digits++;
    }
  }
  if (digits === 0) return undefined;
  if (i < n && (s.charCodeAt(i) | 32) === 101) {
    i++;
    c = s.charCodeAt(i);
    if (c === 43 || c === 45) i++;
    const from = i;
    while (i < n && (c = s.charCodeAt(i)) >= 48 && c <= 57) i++;
    if (i === from) return undefined;
  }
  if (i !== n) return undefined;
  const value = Number(s);
  return Number.isFinite(value) ? value : undefined;
}

/** The canonical decimal string of an integer (`+007` → `7`, `-0` → `0`), or undefined. */
function canonicalInteger(s: string): string | undefined {
  const n = s.length;
  const first = s.charCodeAt(0);
  const negative = first === 45;
  let i = negative || first === 43 ? 1 : 0;
  if (i === n) return undefined;
  for (let j = i; j < n; j++) {
    const c = s.charCodeAt(j);
    if (c < 48 || c > 57) return undefined;
  }
  while (i < n - 1 && s.charCodeAt(i) === 48) i++;
  const digits = s.slice(i);
  return negative && digits !== '0' ? `-${digits}` : digits;
}

/**
 * ISO-8601 via `toISOString()`; an all-digit value (optionally negative) is epoch ms. Only years
 * 0000–9999, as stored Dates (schema/scalars.ts MAX_DATE_MS): beyond them `toISOString()` gives
 * six-digit years, which compare as text against every stored date the wrong way round.
 */
function toIsoDate(s: string): string | undefined {
  const integer = canonicalInteger(s);
  return isoOf(new Date(integer !== undefined && s.charCodeAt(0) !== 43 ? Number(s) : s).getTime());
}

/** What the raw text of an untyped value also spells, for loose matching. */
function spell(text: string): number | boolean | null | undefined {
  if (text === 'null') return null;
  if (text === 'true') return true;
  if (text === 'false') return false;
  return parseNumber(text);
}

type Prefix = 'number' | 'boolean' | 'date' | 'string' | undefined;

function prefixOf(raw: string): Prefix {
  // Only these four literal prefixes count (Harper's), so any other `x:` text stays a plain value.
  if (raw.startsWith('number:')) return 'number';
  if (raw.startsWith('boolean:')) return 'boolean';
  if (raw.startsWith('date:')) return 'date';
  if (raw.startsWith('string:')) return 'string';
  return undefined;
}

const PREFIX_FITS: { readonly [p in 'number' | 'boolean' | 'date']: readonly ValueKind[] } = {
  number: ['number', 'bigint'],
  boolean: ['boolean'],
  date: ['date'],
};

const TEXT_KINDS: readonly ValueKind[] = ['string', 'enum', 'date'];
const ORDERED_KINDS: readonly ValueKind[] = ['string', 'enum', 'date', 'number', 'bigint'];

/** The coerced value of one condition, plus what an untyped value spells. */
export interface Coerced {
  value: unknown;
  spelled?: number | boolean | null;
}

/**
 * Turns the raw (percent-encoded) value text of `attr <op> value` into the attribute's stored
 * representation, or throws QUERY_INVALID naming the attribute, the value and the expectation.
 * @param strict `===`/`!==`: no `null` keyword and no type prefixes (Harper's strict operators).
 */
export function coerceValue(attr: string, target: Target, op: Operator, raw: string, strict: boolean, position: number): Coerced {
  const prefix = strict ? undefined : prefixOf(raw);
  const text = decodeText(prefix ? raw.slice(prefix.length + 1) : raw, position);
  return coerceText(attr, target, op, text, { strict, prefix, isNull: !strict && !prefix && raw === 'null' }, position);
}

/**
 * A typed value (a GraphQL argument) that `attr` must equal: the same checks and stored form as the
 * URL's `attr===value`, so both front ends find the same records. `null` asks for a missing value.
 */
export function coerceEquals(attr: string, target: Target, value: unknown): Coerced {
  if (value === null) return coerceText(attr, target, 'eq', 'null', { strict: false, isNull: true });
  return coerceText(attr, target, 'eq', String(value), { strict: true, isNull: false });
}

/** The condition `path <op> value` on a resolved target. */
export function conditionOf(path: readonly string[], op: Operator, target: Target, coerced: Coerced): Condition {
  const condition: Condition = { type: 'condition', path, op, value: coerced.value, typed: target.typed };
  if (target.kind !== undefined) condition.kind = target.kind;
  if (coerced.spelled !== undefined) condition.spelled = coerced.spelled;
  return condition;
}

/** How the value was written: `prefix` taken off the text already; `isNull`: the keyword `null`. */
interface Spelling {
  strict: boolean;
  prefix?: Prefix;
  isNull: boolean;
}

/** The decoded value text → the stored representation (coerceValue's second half). */
function coerceText(attr: string, target: Target, op: Operator, text: string, { strict, prefix, isNull }: Spelling, position?: number): Coerced {
  const bad = (expected: string): never => queryError(`invalid value '${text}' for ${attr} (${target.type}): expected ${expected}`, position);
  const textual = op === 'ct' || op === 'sw' || op === 'ew';

  if (!target.typed) {
    // Untyped: keep the text, noting what it spells; a prefix asks for one typed value instead.
    if (prefix === 'number') return { value: parseNumber(text) ?? bad('a number after number:') };
    if (prefix === 'boolean') return { value: text === 'true' ? true : text === 'false' ? false : bad('true or false after boolean:') };
    if (prefix === 'date') return { value: toIsoDate(text) ?? bad('a date after date:') };
    // `spelled` also serves `ct` on an untyped list of numbers (membership); sw/ew ignore it.
    if (strict || prefix === 'string' || op === 'sw' || op === 'ew') return { value: text };
    const spelled = spell(text);
    return spelled === undefined ? { value: text } : { value: text, spelled };
  }

  const kind = target.kind;
  if (prefix && prefix !== 'string' && !PREFIX_FITS[prefix].includes(kind)) {
    queryError(`the ${prefix}: prefix does not fit ${attr} (${target.type})`, position);
  }
  // `ct` on a list of non-text values asks whether the list holds the value: coerce it like `eq`.
  const membership = op === 'ct' && target.list && !TEXT_KINDS.includes(kind) && kind !== 'object';
  if (textual && !membership) {
    if (!TEXT_KINDS.includes(kind)) queryError(`=${op}= applies to text attributes; ${attr} is ${target.type}`, position);
    // Partial text (a prefix of a date, part of an enum name) is compared as written, never coerced.
    return { value: text };
  }
  if (isNull) {
    if (op === 'eq' || op === 'ne') return { value: null };
    queryError(`null can only be compared with = or =ne= (${attr})`, position);
  }
  if (kind === 'object') {
    queryError(`${attr} is ${target.type}, an object: compare one of its attributes (${attr}.name) or null`, position);
  }
  if ((op === 'gt' || op === 'ge' || op === 'lt' || op === 'le') && !ORDERED_KINDS.includes(kind)) {
    queryError(`=${op}= does not apply to ${attr} (${target.type}), which has no order`, position);
  }
  switch (kind) {
    case 'number':
      return { value: parseNumber(text) ?? bad('a number') };
    case 'bigint':
      return { value: canonicalInteger(text) ?? bad('an integer') };
    case 'boolean':
      return { value: text === 'true' ? true : text === 'false' ? false : bad('true or false') };
    case 'date':
      return { value: toIsoDate(text) ?? bad('an ISO-8601 date or epoch milliseconds') };
    case 'enum': {
      const values = target.enumValues ?? [];
      return { value: values.includes(text) ? text : bad(`one of ${values.join(', ')}`) };
    }
    default:
      return { value: text };
  }
}

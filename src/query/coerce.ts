/**
 * Attribute resolution and value coercion for queries: what a dotted path names in a TableDef, and
 * how the text of a URL value becomes that attribute's stored representation (schema/model.ts).
 */
import { AppError } from '../errors.ts';
import type { FieldDef, FieldType, ScalarName, TableDef } from '../schema/model.ts';
import { isoOf } from '../schema/scalars.ts';
import type { Operator, ValueKind } from './types.ts';

/**
 * Throws the QUERY_INVALID error that every query problem becomes.
 * @param position 0-based offset in the raw query string (after `?`) where the problem starts.
 */
export function queryError(problem: string, position: number): never {
  throw new AppError('QUERY_INVALID', `${problem} at position ${position}`, { details: [{ message: problem, position }] });
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

/** What an attribute path names. Untyped paths (undeclared, or below `Any`) compare loosely. */
export interface Target {
  typed: boolean;
  /** Set when typed: the leaf kind (the element kind for lists). */
  kind?: ValueKind;
  /** Some segment of the path is a list, so a record can hold several values for it. */
  list: boolean;
  /** The declared type for messages (`Int`, `[String]`, `Color`); `untyped` otherwise. */
  type: string;
  enumValues?: readonly string[];
}

const SCALAR_KIND: { readonly [name in ScalarName]: ValueKind | undefined } = {
  ID: 'string',
  String: 'string',
  Int: 'number',
  Long: 'number',
  Float: 'number',
  BigInt: 'bigint',
  Boolean: 'boolean',
  Date: 'date',
  Bytes: 'bytes',
  Any: undefined,
};

function typeLabel(type: FieldType): string {
  return type.kind === 'list' ? `[${typeLabel(type.of)}]` : type.name;
}

function findField(fields: readonly FieldDef[], name: string): FieldDef | undefined {
  for (const field of fields) if (field.name === name) return field;
  return undefined;
}

/**
 * Resolves a dotted path against the table. Unknown names are an error where the enclosing type is
 * sealed (the table for the first segment, the nested type below), and untyped elsewhere.
 */
export function resolvePath(def: TableDef, path: readonly string[], position: number): Target {
  let fields = def.fields;
  let sealed = def.sealed;
  let list = false;
  let field: FieldDef | undefined;
  for (let i = 0; i < path.length; i++) {
    const name = path[i] as string;
    if (field) {
      let type = field.type;
      while (type.kind === 'list') type = type.of;
      if (type.kind !== 'object') {
        if (type.kind === 'scalar' && type.name === 'Any') return { typed: false, list, type: 'untyped' };
        queryError(`${path.slice(0, i).join('.')} is ${typeLabel(field.type)}, which has no attribute ${name}`, position);
      }
      fields = type.fields;
      sealed = type.sealed;
    }
    field = findField(fields, name);
    if (!field) {
      if (sealed) queryError(`unknown attribute ${path.join('.')}`, position);
      return { typed: false, list, type: 'untyped' };
    }
    if (field.type.kind === 'list') list = true;
  }
  if (!field) return queryError('empty attribute path', position);
  let type = field.type;
  while (type.kind === 'list') {
    list = true;
    type = type.of;
  }
  const label = typeLabel(field.type);
  if (type.kind === 'object') return { typed: true, kind: 'object', list, type: label };
  if (type.kind === 'enum') return { typed: true, kind: 'enum', list, type: label, enumValues: type.values };
  if (type.kind !== 'scalar') return { typed: false, list, type: 'untyped' };
  const kind = SCALAR_KIND[type.name];
  return kind ? { typed: true, kind, list, type: label } : { typed: false, list, type: 'untyped' };
}

/** A strict decimal number (`12`, `-1.5`, `.5`, `2e3`); no hex, blanks, `Infinity` or empty text. */
function parseNumber(s: string): number | undefined {
  const n = s.length;
  let i = 0;
  let digits = 0;
  let c = s.charCodeAt(0);
  if (c === 43 || c === 45) i++; // + -
  while (i < n && (c = s.charCodeAt(i)) >= 48 && c <= 57) i++, digits++;
  if (i < n && s.charCodeAt(i) === 46) {
    i++;
    while (i < n && (c = s.charCodeAt(i)) >= 48 && c <= 57) i++, digits++;
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
  const bad = (expected: string): never =>
    queryError(`invalid value '${text}' for ${attr} (${target.type}): expected ${expected}`, position);
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

  const kind = target.kind as ValueKind;
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
  if (!strict && !prefix && raw === 'null') {
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

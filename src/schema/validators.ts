/**
 * Record validation for one table: zod schemas compiled once from its {@link TableDef}, wrapped in
 * functions that return the normalised stored record or throw `VALIDATION_FAILED` listing every issue.
 */
import { z } from 'zod';
import { AppError } from '../errors.ts';
import type { FieldDef, FieldType, Record, TableDef } from './model.ts';
import { JSON_VALUE, MAX_DEPTH, SCALAR_SCHEMAS, expecting, isPlainObject, keySchema } from './scalars.ts';
import { typeText } from './types.ts';
import { compileFast, isTime, presence, type Mode } from './fast-path.ts';

/** One validation issue; `path` is dotted (`dimensions.width`, `tags.2`), empty for the body itself. */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** The validators of one table. Each returns a fresh plain object: declared fields in schema order, then extra attributes. */
export interface TableValidators {
  /** A new record: the key may be absent (the server generates it); server-set time fields are dropped. */
  validateCreate(input: unknown): Record;
  /** A whole replacement: like create; the caller checks a present key against the URL. */
  validateReplace(input: unknown): Record;
  /** Changes only: every attribute optional; `null` clears an optional attribute and is refused for a required one. */
  validatePatch(input: unknown): Record;
  /** A complete record (e.g. existing merged with a patch): the key is required; time fields are checked, not dropped. */
  validateRecord(record: unknown): Record;
}

/** Attribute names that could reach `Object.prototype` through a naive merge. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** An unpaired UTF-16 surrogate (with the `u` flag, a valid pair is one code point and does not match). */
const LONE_SURROGATE = /\p{Cs}/u;

const BODY_NOT_OBJECT: ValidationIssue = { path: '', message: 'request body must be a JSON object' };

/** The one error thrown for invalid input; its message names the first issue. */
function validationError(issues: ValidationIssue[]): AppError {
  const first = issues[0] ?? BODY_NOT_OBJECT;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  return new AppError('VALIDATION_FAILED', `${first.path ? `${first.path}: ` : ''}${first.message}${more}`, { details: issues });
}

/** Most values (attributes, list elements, nested values) in one record or message, by default. */
export const MAX_RECORD_VALUES = 5_000;
/** Problems reported for one body; past them, the rest are not looked for. */
const MAX_ISSUES = 100;

/**
 * Finds forbidden keys, excessive nesting and excessive size anywhere, before zod copies anything.
 * `budget.left` counts down the values still allowed: a 1 MiB body of 71,000 attributes held the
 * event loop ~0.5 s in validation and encoding, so the walk stops at the cap instead.
 */
function scan(v: unknown, path: string, depth: number, issues: ValidationIssue[], budget: { left: number; max: number }): void {
  if (issues.length >= MAX_ISSUES) return;
  if (--budget.left < 0) {
    if (budget.left === -1) issues.push({ path: '', message: `holds more than ${budget.max} values (attributes, list elements and nested values; the maxRecordValues setting)` });
    return;
  }
  // Lone surrogates cannot be stored (LMDB's UTF-8 turns them into U+FFFD), so the stored record
  // would silently differ from the one answered: refuse them in values and attribute names alike.
  if (typeof v === 'string') {
    if (LONE_SURROGATE.test(v)) issues.push({ path, message: 'is not valid Unicode (it holds a lone surrogate)' });
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  if (depth > MAX_DEPTH) {
    issues.push({ path, message: `nests deeper than ${MAX_DEPTH} levels` });
    return;
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length && budget.left >= 0; i++) scan(v[i], path ? `${path}.${i}` : String(i), depth + 1, issues, budget);
    return;
  }
  for (const k of Object.keys(v)) {
    if (budget.left < 0 || issues.length >= MAX_ISSUES) return;
    const p = path ? `${path}.${k}` : k;
    if (FORBIDDEN_KEYS.has(k)) issues.push({ path: p, message: `"${k}" is not allowed as an attribute name` });
    else if (LONE_SURROGATE.test(k)) issues.push({ path: p, message: 'is not valid Unicode as an attribute name (it holds a lone surrogate)' });
    // `v` is known only as a non-null object, which TypeScript does not index by a string.
    else scan((v as { [k: string]: unknown })[k], p, depth + 1, issues, budget);
  }
}

function toIssues(error: z.ZodError): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const iss of error.issues) {
    const path = iss.path.map(String).join('.');
    if (iss.code === 'unrecognized_keys') {
      for (const k of iss.keys) out.push({ path: path ? `${path}.${k}` : k, message: iss.message });
    } else out.push({ path, message: iss.message });
  }
  return out;
}

/** Schema for a present, non-null value of `type`; nested object types are built once per table and may recurse. */
function typeSchema(type: FieldType, objects: Map<string, z.ZodType>): z.ZodType {
  switch (type.kind) {
    case 'scalar':
      return SCALAR_SCHEMAS[type.name];
    case 'enum': {
      const what = `one of ${type.values.join(', ')}`;
      return z.enum(type.values, { error: expecting(what) });
    }
    case 'list': {
      const item = typeSchema(type.of, objects);
      return z.array(type.itemRequired ? item : item.nullable(), { error: expecting(`a list (${typeText(type)})`) });
    }
    case 'object': {
      const known = objects.get(type.name);
      if (known) return known;
      let built: z.ZodType | undefined;
      // Recursive types meet this placeholder while being built; it resolves once `built` is set.
      objects.set(
        type.name,
        z.lazy(() => built!),
      );
      built = objectSchema(type.fields, type.sealed, type.name, (f) => fieldSchema(f, objects));
      objects.set(type.name, built);
      return built;
    }
  }
}

function fieldSchema(f: FieldDef, objects: Map<string, z.ZodType>): z.ZodType {
  const s = typeSchema(f.type, objects);
  return f.required ? s : s.nullable().optional();
}

function objectSchema(fields: readonly FieldDef[], sealed: boolean, typeName: string, shapeOf: (f: FieldDef) => z.ZodType | undefined): z.ZodType {
  const shape: { [k: string]: z.ZodType } = {};
  for (const f of fields) {
    const s = shapeOf(f);
    if (s) shape[f.name] = s;
  }
  const objectError = expecting('an object');
  const error = (iss: { code?: string; input?: unknown }) => (iss.code === 'unrecognized_keys' ? `is not declared by ${typeName}, which is @sealed` : objectError(iss));
  return sealed ? z.strictObject(shape, { error }) : z.object(shape, { error }).catchall(JSON_VALUE);
}

/**
 * Compiles the validators of a table. Call once per table: the zod schemas are built here and
 * reused for every request.
 * @example const v = buildValidators(def); const record = v.validateCreate(JSON.parse(body));
 */
export function buildValidators(def: TableDef, maxValues: number = MAX_RECORD_VALUES, options: { compiled?: boolean } = {}): TableValidators {
  const objects = new Map<string, z.ZodType>();
  const key = keySchema(def.fields.find((f) => f.name === def.primaryKey)!.type);
  const timeFields = def.fields.filter(isTime).map((f) => f.name);

  const shapeFor =
    (mode: Mode) =>
    (f: FieldDef): z.ZodType | undefined => {
      const allowed = presence(def, f, mode);
      if (!allowed) return undefined;
      let s = f.name === def.primaryKey ? key : typeSchema(f.type, objects);
      if (allowed.nullable) s = s.nullable();
      return allowed.optional ? s.optional() : s;
    };
  const schemas: { [M in Mode]: z.ZodType } = {
    create: objectSchema(def.fields, def.sealed, def.typeName, shapeFor('create')),
    replace: objectSchema(def.fields, def.sealed, def.typeName, shapeFor('replace')),
    patch: objectSchema(def.fields, def.sealed, def.typeName, shapeFor('patch')),
    record: objectSchema(def.fields, def.sealed, def.typeName, shapeFor('record')),
  };

  // `compiled: false` (tests) leaves every body to zod, to compare the two.
  const compiled = options.compiled !== false;
  const fast: { [M in Mode]: ReturnType<typeof compileFast> } = {
    create: compiled ? compileFast(def, 'create') : undefined,
    replace: compiled ? compileFast(def, 'replace') : undefined,
    patch: compiled ? compileFast(def, 'patch') : undefined,
    record: compiled ? compileFast(def, 'record') : undefined,
  };

  const run = (mode: Mode, input: unknown): Record => {
    if (!isPlainObject(input)) throw validationError([BODY_NOT_OBJECT]);
    const issues: ValidationIssue[] = [];
    scan(input, '', 0, issues, { left: maxValues + 1, max: maxValues });
    if (issues.length) throw validationError(issues);
    const quick = fast[mode]?.(input);
    if (quick) return quick;
    // Server-set times are dropped before zod sees them, so a sealed table does not call them undeclared.
    let body: { [k: string]: unknown } = input;
    if (mode !== 'record' && timeFields.some((n) => Object.hasOwn(input, n))) {
      body = { ...input };
      for (const n of timeFields) delete body[n];
    }
    const result = schemas[mode].safeParse(body);
    if (!result.success) throw validationError(toIssues(result.error));
    // The schemas are typed z.ZodType (output unknown): they are built at run time, all as objects.
    return result.data as Record;
  };

  return {
    validateCreate: (input) => run('create', input),
    validateReplace: (input) => run('replace', input),
    validatePatch: (input) => run('patch', input),
    validateRecord: (record) => run('record', record),
  };
}

/**
 * A custom message (`publish`): any JSON value, under the rules every record value follows (at most
 * {@link MAX_DEPTH} levels, valid Unicode, no `__proto__`/`constructor`/`prototype` names). Returns a
 * fresh copy. Unchecked, a message nested a few thousand levels deep overflowed the stack of the
 * change log's encoder inside the write (a 500), and a lone surrogate was stored as U+FFFD, so a
 * resumed stream replayed another message than the one delivered live.
 * @example tx.publish(handle, key, validateMessage(body))
 */
export function validateMessage(input: unknown, maxValues: number = MAX_RECORD_VALUES): unknown {
  const issues: ValidationIssue[] = [];
  scan(input, '', 0, issues, { left: maxValues + 1, max: maxValues });
  if (issues.length) throw validationError(issues);
  const result = JSON_VALUE.safeParse(input);
  if (!result.success) throw validationError(toIssues(result.error));
  return result.data;
}

/** A server-set time in the field's representation: epoch ms for numbers, ISO-8601 for Date and String. */
function timeValue(f: FieldDef, now: number): number | string {
  return f.type.kind === 'scalar' && (f.type.name === 'Date' || f.type.name === 'String') ? new Date(now).toISOString() : now;
}

/** Whether a table has server-set time fields; asked on every write (a scan of its fields cost ~0.15 µs). */
const HAS_TIME_FIELDS = new WeakMap<TableDef, boolean>();

/**
 * Sets the `@createdTime` (kept from `existing` when it has one) and `@updatedTime` fields of a
 * validated record. Returns a fresh object in schema order; a table without time fields gets `record` back.
 * @param now epoch milliseconds of the write (one clock reading per transaction).
 */
export function stampTimes(def: TableDef, record: Record, existing: Record | undefined, now: number): Record {
  let timed = HAS_TIME_FIELDS.get(def);
  if (timed === undefined) HAS_TIME_FIELDS.set(def, (timed = def.fields.some(isTime)));
  if (!timed) return record;
  const out: Record = {};
  for (const f of def.fields) {
    if (f.createdTime) {
      const kept = existing?.[f.name];
      out[f.name] = kept === undefined || kept === null ? timeValue(f, now) : kept;
    } else if (f.updatedTime) out[f.name] = timeValue(f, now);
    else if (Object.hasOwn(record, f.name)) out[f.name] = record[f.name];
  }
  for (const k of Object.keys(record)) if (!Object.hasOwn(out, k)) out[k] = record[k];
  return out;
}

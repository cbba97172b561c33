/**
 * The fast path of record validation: a plain-JavaScript check per table and write mode for the
 * common body, compiled once, that returns exactly the record zod would return or gives up, and
 * zod (validators.ts) decides and words every error. test/unit/schema/compiled-validators.test.ts
 * compares the two on generated bodies.
 */
import type { FieldDef, FieldType, Record, TableDef } from './model.ts';
import { MAX_KEY_LENGTH, isRefusal, scalarNormaliser } from './scalars.ts';

export type Mode = 'create' | 'replace' | 'patch' | 'record';

export function isTime(f: FieldDef): boolean {
  return f.createdTime || f.updatedTime;
}

/**
 * Whether an attribute may be absent or null in a body of `mode`, or `undefined` when it is not
 * part of the body at all (server-set times outside `record`, dropped before validation). The one
 * rule both paths follow: zod's schemas (validators.ts) and the compiled check below.
 */
export function presence(def: TableDef, f: FieldDef, mode: Mode): { optional: boolean; nullable: boolean } | undefined {
  // A key can be absent (the server generates it, or it comes from the URL) but never null.
  if (f.name === def.primaryKey) return { optional: mode !== 'record', nullable: false };
  if (isTime(f)) return mode === 'record' ? { optional: true, nullable: true } : undefined;
  if (!f.required) return { optional: true, nullable: true };
  return { optional: mode === 'patch', nullable: false };
}

/** What a compiled check gives up on: zod then decides (and words any error). */
const UNSURE = Symbol('unsure');

/** One declared attribute as a compiled check sees it. */
interface FastField {
  name: string;
  /** Absent is accepted (nothing is stored). */
  optional: boolean;
  /** `null` is accepted (and stored). */
  nullable: boolean;
  /** The stored value of a present, non-null value, or {@link UNSURE}. */
  value(v: unknown): unknown;
}

/**
 * A plain-JavaScript check of the common body, without zod: every declared attribute a scalar or
 * an enum, every undeclared one (unsealed tables) a string, number, boolean or null. It returns the
 * record zod would return (declared attributes in schema order with the same normalisers, then the
 * undeclared ones in body order), or `undefined` whenever a value is anything else or anything is
 * wrong, and zod runs instead: so what is accepted, what is stored and every error message are
 * zod's. zod's object machinery took 3–4% of a PUT's server CPU in profiles (bench message table).
 * `undefined` for a table it cannot handle (lists, nested objects, `Any`, names that `in` finds on
 * `Object.prototype`, which zod's presence test sees).
 */
export function compileFast(def: TableDef, mode: Mode): ((input: { [k: string]: unknown }) => Record | undefined) | undefined {
  const fields: FastField[] = [];
  for (const f of def.fields) {
    if (f.name in Object.prototype) return undefined;
    const allowed = presence(def, f, mode);
    if (!allowed) continue; // not in the schema; dropped from the body
    const value = fastValue(f.type, f.name === def.primaryKey);
    if (!value) return undefined;
    fields.push({ name: f.name, ...allowed, value });
  }
  // Time fields too: outside 'record' they are dropped from the body before zod sees it.
  const declared = new Set(def.fields.map((f) => f.name));
  const sealed = def.sealed;
  return (input) => {
    const out: Record = {};
    for (const f of fields) {
      if (!(f.name in input)) {
        if (!f.optional) return undefined;
        continue;
      }
      const v = input[f.name];
      if (v === null) {
        if (!f.nullable) return undefined;
        out[f.name] = null;
        continue;
      }
      const stored = f.value(v);
      if (stored === UNSURE) return undefined;
      out[f.name] = stored;
    }
    // `for…in`, as zod's catch-all walks the body.
    for (const k in input) {
      if (declared.has(k)) continue;
      if (sealed) return undefined;
      const v = input[k];
      if (v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) out[k] = v;
      else return undefined;
    }
    return out;
  };
}

/** The compiled normaliser of one declared type (a key adds the key schema's length bounds), or `undefined`. */
function fastValue(type: FieldType, isKey: boolean): ((v: unknown) => unknown) | undefined {
  if (type.kind === 'enum') {
    const values = new Set<unknown>(type.values);
    return (v) => (values.has(v) ? v : UNSURE);
  }
  if (type.kind !== 'scalar' || type.name === 'Any') return undefined;
  const normalise = scalarNormaliser(type.name);
  const bounded = isKey && (type.name === 'ID' || type.name === 'String');
  return (v) => {
    if (v === undefined) return UNSURE;
    const r = normalise(v);
    if (isRefusal(r)) return UNSURE;
    // Normalisers return unknown; those of ID and String (`bounded`) return strings.
    if (bounded && ((r as string).length === 0 || (r as string).length > MAX_KEY_LENGTH)) return UNSURE;
    return r;
  };
}

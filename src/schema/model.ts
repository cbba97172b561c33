/**
 * The table model that every other layer reads: plain data compiled once from SDL, no behaviour.
 * Nothing here is mutated after `parseSchema` returns (the objects are frozen).
 */

/** Built-in scalar names (README › Schema). */
export type ScalarName = 'ID' | 'String' | 'Int' | 'Float' | 'Long' | 'BigInt' | 'Boolean' | 'Date' | 'Any' | 'Bytes';

export const SCALAR_NAMES: readonly ScalarName[] = ['ID', 'String', 'Int', 'Float', 'Long', 'BigInt', 'Boolean', 'Date', 'Any', 'Bytes'];

/** Where something was written: `file:line:column` in messages. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

/**
 * The type of an attribute. Stored (and JSON) representation per scalar:
 * ID/String → string; Int/Long/Float → number; BigInt → decimal string (exact, JSON-safe);
 * Boolean → boolean; Date → ISO-8601 string (`toISOString`, so it sorts as it compares);
 * Bytes → base64 string; Any → any JSON value.
 */
export type FieldType =
  | { kind: 'scalar'; name: ScalarName }
  | { kind: 'enum'; name: string; values: readonly string[] }
  | { kind: 'object'; name: string; fields: readonly FieldDef[]; sealed: boolean }
  | { kind: 'list'; of: FieldType; itemRequired: boolean };

export interface FieldDef {
  name: string;
  type: FieldType;
  /** `!` on the field's type: present and not null. */
  required: boolean;
  primaryKey: boolean;
  indexed: boolean;
  createdTime: boolean;
  updatedTime: boolean;
  loc: SourceLocation;
}

export interface ExportDef {
  /** URL segment: `/{database}/{name}`. */
  name: string;
  rest: boolean;
  sse: boolean;
  graphql: boolean;
}

export interface TableDef {
  /** The SDL type name (`Message`). */
  typeName: string;
  database: string;
  /** Storage name inside the database; defaults to the type name. */
  table: string;
  /** Seconds after its last write that a record expires (deleted with a `delete` event). */
  expiration?: number;
  /** `@sealed`: attributes the schema does not declare are rejected. */
  sealed: boolean;
  fields: readonly FieldDef[];
  /** Name of the primary key field (exactly one per table). */
  primaryKey: string;
  /** Present when the type has `@export`. */
  export?: ExportDef;
  loc: SourceLocation;
}

/** Everything compiled from a schema directory. */
export interface SchemaModel {
  tables: readonly TableDef[];
  /** The SDL files read, for messages and `tablecast check`. */
  files: readonly string[];
}

/** A stored record: a plain JSON object. */
export type Record = { [attribute: string]: unknown };

/** A primary key value: string for ID/String keys, number for Int/Long keys. */
export type Key = string | number;

/** The primary key field of a table. */
export function primaryKeyField(def: TableDef): FieldDef {
  const field = def.fields.find((f) => f.name === def.primaryKey);
  if (!field) throw new Error(`table ${def.typeName} has no primary key field ${def.primaryKey}`);
  return field;
}

/** True when the table's keys are numbers (Int or Long primary key). Cached: it is asked per request. */
export function hasNumericKey(def: TableDef): boolean {
  let numeric = numericKeys.get(def);
  if (numeric === undefined) {
    const t = primaryKeyField(def).type;
    numericKeys.set(def, (numeric = t.kind === 'scalar' && (t.name === 'Int' || t.name === 'Long')));
  }
  return numeric;
}
const numericKeys = new WeakMap<TableDef, boolean>();

/** The field declared with this name, if any. */
export function fieldOf(def: TableDef, name: string): FieldDef | undefined {
  return def.fields.find((f) => f.name === name);
}

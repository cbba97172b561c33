/**
 * What a dotted attribute path names in a TableDef: its type, whether a record can hold several
 * values for it, and whether it is declared at all (undeclared attributes compare loosely).
 */
import type { FieldDef, FieldType, ScalarName, TableDef } from '../schema/model.ts';
import { queryError } from './coerce.ts';
import type { ValueKind } from './types.ts';

/** What an attribute path names. Untyped paths (undeclared, or below `Any`) compare loosely. */
export type Target = TargetBase &
  (
    | {
        typed: true;
        /** The leaf kind (the element kind for lists). */
        kind: ValueKind;
      }
    | { typed: false; kind?: undefined }
  );

interface TargetBase {
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
export function resolvePath(def: TableDef, path: readonly string[], position?: number): Target {
  let fields = def.fields;
  let sealed = def.sealed;
  let list = false;
  let field: FieldDef | undefined;
  for (let i = 0; i < path.length; i++) {
    const name = path[i]!;
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

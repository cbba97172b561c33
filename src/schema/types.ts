/**
 * Type resolution for the schema compiler: SDL type references to {@link FieldType}s, the
 * infinite-nesting check, and deep freezing of the (possibly cyclic) model.
 */
import { Kind, type TypeNode } from 'graphql';
import { SCALAR_NAMES, type FieldDef, type FieldType, type ScalarName } from './model.ts';
import type { Report } from './directives.ts';

/** What a type name refers to while compiling. */
export type NamedTarget = { kind: 'enum'; type: FieldType & { kind: 'enum' } } | { kind: 'object'; type: FieldType & { kind: 'object' } } | { kind: 'table' };

/** A resolved type reference; `required` is its outer `!`. */
export interface Resolved {
  type: FieldType;
  required: boolean;
}

const SCALARS: ReadonlySet<string> = new Set(SCALAR_NAMES);

/** True for the scalar names tablecast defines itself (GraphQL's five plus ours). */
export function isBuiltinScalar(name: string): name is ScalarName {
  return SCALARS.has(name);
}

/**
 * Resolves `typeNode` for the field named `owner` (`Foo.bar`). Unknown names and references to
 * `@table` types are reported; `undefined` then. `quietUnknown` suppresses unknown-type reports when
 * a file failed to parse, since the missing type may be in it.
 */
export function resolveType(typeNode: TypeNode, owner: string, lookup: (name: string) => NamedTarget | undefined, report: Report, quietUnknown: boolean): Resolved | undefined {
  if (typeNode.kind === Kind.NON_NULL_TYPE) {
    const inner = resolveType(typeNode.type, owner, lookup, report, quietUnknown);
    return inner && { type: inner.type, required: true };
  }
  if (typeNode.kind === Kind.LIST_TYPE) {
    const item = resolveType(typeNode.type, owner, lookup, report, quietUnknown);
    return item && { type: { kind: 'list', of: item.type, itemRequired: item.required }, required: false };
  }
  const name = typeNode.name.value;
  if (isBuiltinScalar(name)) return { type: { kind: 'scalar', name }, required: false };
  const target = lookup(name);
  if (!target) {
    if (!quietUnknown) report(typeNode, `field ${owner} has unknown type ${name}`);
    return undefined;
  }
  if (target.kind === 'table') {
    const hint = `${name.charAt(0).toLowerCase()}${name.slice(1)}Id: ID`;
    report(typeNode, `field ${owner} references table type ${name}: relationships between tables are not supported; store its key instead (e.g. ${hint})`);
    return undefined;
  }
  return { type: target.type, required: false };
}

/** The innermost type of a (possibly nested) list. */
function baseType(t: FieldType): Exclude<FieldType, { kind: 'list' }> {
  return t.kind === 'list' ? baseType(t.of) : t;
}

/** SDL spelling of a type, for messages: `[String!]`. */
export function typeText(t: FieldType, required = false): string {
  const inner = t.kind === 'list' ? `[${typeText(t.of, t.itemRequired)}]` : t.name;
  return required ? `${inner}!` : inner;
}

/** Why a field of this type cannot carry `@indexed`, or `undefined` when it can. */
export function notIndexable(t: FieldType): string | undefined {
  const b = baseType(t);
  if (b.kind === 'object') return `${b.name} is a nested object type`;
  if (b.kind === 'scalar' && (b.name === 'Any' || b.name === 'Bytes')) return `${b.name} values are not indexable`;
  return undefined;
}

/** One step along a chain of nested-object fields. */
export interface Link {
  owner: string;
  field: FieldDef;
}

/**
 * Finds cycles of required, non-list nested-object fields: such a type can never be written down
 * (every value would have to contain another one forever). A list breaks the chain because `[]` is a
 * finite value. Each cycle is returned once, as the links along it, starting in the type that comes
 * first in `nested`.
 */
export function infiniteCycles(nested: readonly (FieldType & { kind: 'object' })[]): Link[][] {
  const cycles: Link[][] = [];
  const seen = new Set<string>();
  for (const start of nested) {
    const stack: { type: FieldType & { kind: 'object' }; path: Link[] }[] = [{ type: start, path: [] }];
    // Expanding each type once is enough: we only need one cycle through `start`, not all of them.
    const expanded = new Set<string>([start.name]);
    while (stack.length) {
      const { type, path } = stack.pop()!;
      for (const field of type.fields) {
        if (!field.required || field.type.kind !== 'object') continue;
        const next = field.type;
        const route = [...path, { owner: type.name, field }];
        if (next === start) {
          const key = route
            .map((r) => `${r.owner}.${r.field.name}`)
            .sort()
            .join('|');
          if (!seen.has(key)) {
            seen.add(key);
            cycles.push(route);
          }
        } else if (!expanded.has(next.name)) {
          expanded.add(next.name);
          stack.push({ type: next, path: route });
        }
      }
    }
  }
  return cycles;
}

/** Freezes every object reachable from `value`; cycles (recursive nested types) are fine. */
export function deepFreeze<T>(value: T, seen = new Set<unknown>()): T {
  if (value === null || typeof value !== 'object' || seen.has(value)) return value;
  seen.add(value);
  for (const v of Object.values(value)) deepFreeze(v, seen);
  return Object.freeze(value);
}

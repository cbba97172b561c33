/**
 * The schema compiler's entry points: reads SDL files, rejects what tablecast does not support, and
 * returns the frozen {@link SchemaModel} or one `SCHEMA_INVALID` error listing every problem.
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { GraphQLError, Kind, Source, parse, type DefinitionNode, type EnumTypeDefinitionNode, type NameNode, type ObjectTypeDefinitionNode } from 'graphql';
import { AppError } from '../errors.ts';
import type { FieldDef, FieldType, SchemaModel, TableDef } from './model.ts';
import { compileFields, compileTable, nestedTypeSealed, type Claims, type CompileContext } from './compile.ts';
import { Problems, formatLocation, locationOf, schemaError } from './problems.ts';
import { deepFreeze, infiniteCycles, isBuiltinScalar, type NamedTarget } from './types.ts';
import { codeOf, messageOf } from '../util/guards.ts';

export type { SchemaProblem } from './problems.ts';

/** One SDL file: `file` is the name used in messages. */
export interface SchemaSource {
  file: string;
  sdl: string;
}

/** A nested object type while its fields are being filled in. */
type ObjectType = { kind: 'object'; name: string; fields: FieldDef[]; sealed: boolean };
type EnumType = FieldType & { kind: 'enum' };

/** How a refused kind of definition is named, and why it is refused. */
const UNSUPPORTED: Partial<{ [K in Kind]: [label: string, reason: string] }> = {
  [Kind.INTERFACE_TYPE_DEFINITION]: ['interface', 'interfaces are not supported; declare the fields on each type'],
  [Kind.UNION_TYPE_DEFINITION]: ['union', 'unions are not supported'],
  [Kind.INPUT_OBJECT_TYPE_DEFINITION]: ['input', 'input types are not supported; tablecast derives inputs from @table types'],
  [Kind.SCHEMA_DEFINITION]: ['schema', 'schema definitions are not supported; tablecast builds the GraphQL schema from @table types'],
  [Kind.SCHEMA_EXTENSION]: ['extend schema', 'schema extensions are not supported'],
  [Kind.OBJECT_TYPE_EXTENSION]: ['extend type', 'type extensions are not supported; declare all fields in the type itself'],
  [Kind.INTERFACE_TYPE_EXTENSION]: ['extend interface', 'interfaces are not supported'],
  [Kind.UNION_TYPE_EXTENSION]: ['extend union', 'unions are not supported'],
  [Kind.ENUM_TYPE_EXTENSION]: ['extend enum', 'enum extensions are not supported; list all values in the enum itself'],
  [Kind.INPUT_OBJECT_TYPE_EXTENSION]: ['extend input', 'input types are not supported'],
  [Kind.SCALAR_TYPE_EXTENSION]: ['extend scalar', 'scalar extensions are not supported'],
  [Kind.OPERATION_DEFINITION]: ['operation', 'queries, mutations and subscriptions do not belong in schema files'],
  [Kind.FRAGMENT_DEFINITION]: ['fragment', 'fragments do not belong in schema files'],
};

/**
 * Compiles SDL sources (in the given order) into the table model.
 * @param root named in problems that concern no single file (e.g. "no tables"); defaults to `schema`.
 * @throws AppError `SCHEMA_INVALID` whose `details` is every {@link SchemaProblem}.
 * @example parseSchema([{ file: 'schemas/app.graphql', sdl: 'type A @table { id: ID! }' }])
 */
export function parseSchema(sources: readonly SchemaSource[], root = 'schema'): SchemaModel {
  const files = sources.map((s) => s.file);
  const problems = new Problems(files);
  if (sources.length === 0) {
    problems.atLocation({ file: root, line: 0, column: 0 }, 'no schema files (*.graphql) to read');
    problems.throwIfAny();
  }

  const objects: ObjectTypeDefinitionNode[] = [];
  const enums: EnumTypeDefinitionNode[] = [];
  const declared = new Map<string, NameNode>();
  let broken = false;

  const claimName = (name: NameNode, what: string): boolean => {
    if (isBuiltinScalar(name.value)) {
      problems.at(name, `${what} ${name.value} clashes with the built-in scalar ${name.value}`);
      return false;
    }
    const first = declared.get(name.value);
    if (first) {
      problems.at(name, `type ${name.value} is declared twice (first at ${formatLocation(locationOf(first))})`);
      return false;
    }
    declared.set(name.value, name);
    return true;
  };

  const collect = (def: DefinitionNode) => {
    switch (def.kind) {
      case Kind.DIRECTIVE_DEFINITION:
        return; // Users paste DIRECTIVES_SDL for editor support; the directives are ours regardless.
      case Kind.SCALAR_TYPE_DEFINITION:
        if (!isBuiltinScalar(def.name.value)) {
          problems.at(def.name, `custom scalar ${def.name.value} is not supported (use ID, String, Int, Float, Long, BigInt, Boolean, Date, Any or Bytes)`);
        }
        return;
      case Kind.OBJECT_TYPE_DEFINITION: {
        const first = def.interfaces?.[0];
        if (first) problems.at(first, `type ${def.name.value} implements ${first.name.value}: interfaces are not supported`);
        if (claimName(def.name, 'type')) objects.push(def);
        return;
      }
      case Kind.ENUM_TYPE_DEFINITION:
        if (claimName(def.name, 'enum')) enums.push(def);
        return;
      default: {
        const [label, reason] = UNSUPPORTED[def.kind] ?? [def.kind, 'not supported'];
        const name = 'name' in def && def.name ? ` ${def.name.value}` : '';
        problems.at(def, `${label}${name}: ${reason}`);
      }
    }
  };

  for (const src of sources) {
    try {
      parse(new Source(src.sdl, src.file)).definitions.forEach(collect);
    } catch (err) {
      if (!(err instanceof GraphQLError)) throw err;
      const at = err.locations?.[0];
      problems.atLocation({ file: src.file, line: at?.line ?? 1, column: at?.column ?? 1 }, err.message);
      broken = true;
    }
  }

  const enumTypes = new Map<string, EnumType>(enums.map((e) => [e.name.value, compileEnum(e, problems)]));
  const isTable = (o: ObjectTypeDefinitionNode) => o.directives?.some((d) => d.name.value === 'table') ?? false;
  const tableNames = new Set(objects.filter(isTable).map((o) => o.name.value));
  const nestedNodes = objects.filter((o) => !isTable(o));
  // Shells first, fields second: nested types may refer to each other (and to themselves).
  const nested = new Map<string, ObjectType>(nestedNodes.map((o) => [o.name.value, { kind: 'object', name: o.name.value, fields: [], sealed: nestedTypeSealed(o, problems) }]));
  const lookup = (name: string): NamedTarget | undefined => {
    const e = enumTypes.get(name);
    if (e) return { kind: 'enum', type: e };
    const o = nested.get(name);
    if (o) return { kind: 'object', type: o };
    return tableNames.has(name) ? { kind: 'table' } : undefined;
  };
  const ctx: CompileContext = { problems, lookup, quietUnknown: broken };
  for (const o of nestedNodes) nested.get(o.name.value)!.fields.push(...compileFields(o, false, ctx).fields);

  const claims: Claims = { tables: new Map(), exports: new Map() };
  const tables: TableDef[] = [];
  for (const o of objects) {
    if (!isTable(o)) continue;
    const def = compileTable(o, ctx, claims);
    if (def) tables.push(def);
  }

  for (const cycle of infiniteCycles([...nested.values()])) {
    const start = cycle[0]!;
    const chain = cycle.map((l) => `${l.owner}.${l.field.name}`).join(' → ');
    problems.atLocation(start.field.loc, `nested type ${start.owner} can never be written down: its required fields ${chain} lead back to ${start.owner}; make one of them optional or a list`);
  }

  if (tableNames.size === 0 && !broken) {
    problems.atLocation({ file: root, line: 0, column: 0 }, `no @table types found in ${files.length} schema file${files.length === 1 ? '' : 's'}`);
  }
  problems.throwIfAny();
  return deepFreeze({ tables, files });
}

function compileEnum(e: EnumTypeDefinitionNode, problems: Problems): EnumType {
  const name = e.name.value;
  for (const d of e.directives ?? []) problems.at(d, `@${d.name.value} is not allowed on enum ${name}`);
  const values: string[] = [];
  for (const v of e.values ?? []) {
    for (const d of v.directives ?? []) problems.at(d, `@${d.name.value} is not allowed on enum value ${name}.${v.name.value}`);
    if (values.includes(v.name.value)) problems.at(v.name, `enum ${name} lists ${v.name.value} twice`);
    else values.push(v.name.value);
  }
  if (values.length === 0) problems.at(e.name, `enum ${name} has no values`);
  return { kind: 'enum', name, values };
}

/**
 * Reads every `*.graphql` file under `dir` (recursively, sorted by path) and compiles them.
 * File names in messages are `dir` joined with the path inside it (`schemas/app.graphql`).
 * @throws AppError `SCHEMA_INVALID` when the directory is missing or empty, has no tables, or any file has a problem.
 */
export async function loadSchemaDir(dir: string): Promise<SchemaModel> {
  const nowhere = (message: string) => schemaError([{ file: dir, line: 0, column: 0, message }]);
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(dir);
  } catch (err) {
    if (codeOf(err) === 'ENOENT') throw nowhere(`schema directory ${dir} does not exist`);
    throw new AppError('SCHEMA_INVALID', `cannot read schema directory ${dir}: ${messageOf(err)}`, { cause: err });
  }
  if (!info.isDirectory()) throw nowhere(`${dir} is not a directory`);
  const rel = (await listGraphql(dir, '', new Set())).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (rel.length === 0) throw nowhere(`no *.graphql files found under ${dir}`);
  const sources = await Promise.all(rel.map(async (r) => ({ file: path.join(dir, r), sdl: await readFile(path.join(dir, r), 'utf8') })));
  return parseSchema(sources, dir);
}

/** Relative paths (with `/`) of `*.graphql` files; symlinks are followed, each real directory read once. */
async function listGraphql(dir: string, prefix: string, seen: Set<string>): Promise<string[]> {
  const here = path.join(dir, prefix);
  const real = await realpath(here);
  if (seen.has(real)) return [];
  seen.add(real);
  const out: string[] = [];
  for (const entry of await readdir(here, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    const kind = entry.isSymbolicLink() ? await stat(path.join(dir, rel)).catch(() => undefined) : entry;
    if (kind?.isDirectory()) out.push(...(await listGraphql(dir, rel, seen)));
    else if (kind?.isFile() && entry.name.endsWith('.graphql')) out.push(rel);
  }
  return out;
}
